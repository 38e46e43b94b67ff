package emulator

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/acsgo/acsidentity/internal/wire"
)

// Extension endpoints. They are not part of ACS, need no authentication
// and live under prefixes that no ACS route can use.
const (
	// IntrospectPath answers POST {"token":"..."} with the token's status.
	IntrospectPath = "/.emulator/introspect"
	// HealthPath answers GET with 200 once the emulator is serving.
	HealthPath = "/.emulator/health"
	// JWKSPath answers GET with the token signing key as a JWK set.
	JWKSPath = "/.well-known/jwks.json"
)

// introspection is the JSON form of TokenStatus.
type introspection struct {
	Status    string     `json:"status"`
	User      string     `json:"user,omitempty"`
	Scopes    []string   `json:"scopes,omitempty"`
	ExpiresOn *wire.Time `json:"expiresOn,omitempty"`
}

// serveExtension answers the emulator's own endpoints and reports whether
// path was one of them.
func (e *Emulator) serveExtension(w http.ResponseWriter, r *http.Request, path string, deadline readDeadliner) bool {
	if path != "/" && !strings.HasPrefix(path, "/.emulator/") && !strings.HasPrefix(path, "/.well-known/") {
		return false
	}
	c := &call{e: e, w: w, r: r, deadline: deadline}
	defer func() { e.extBodies.give(c.bodyHeld) }()
	only := func(methods ...string) bool {
		for _, m := range methods {
			if r.Method == m {
				return true
			}
		}
		w.Header()["Allow"] = []string{strings.Join(methods, ", ")}
		c.fail(http.StatusMethodNotAllowed, "MethodNotAllowed", "The HTTP method "+r.Method+" is not allowed on this resource.", "")
		return false
	}
	switch path {
	case "/", HealthPath:
		if only(http.MethodGet, http.MethodHead) {
			c.writeRaw(http.StatusOK, []byte(`{"status":"ok","service":"acsidentity-emulator"}`))
		}
	case JWKSPath:
		if only(http.MethodGet, http.MethodHead) {
			c.writeJSON(http.StatusOK, map[string]any{"keys": []any{e.signer.jwk()}})
		}
	case IntrospectPath:
		if !only(http.MethodPost) {
			return true
		}
		b, ok := c.extensionBody()
		if !ok {
			return true
		}
		var req struct {
			Token string `json:"token"`
		}
		if err := json.Unmarshal(b, &req); err != nil || req.Token == "" {
			c.validation("Token", `The body must be {"token":"<access token>"}.`)
			return true
		}
		st := e.Introspect(req.Token)
		out := introspection{Status: st.Status, User: st.User, Scopes: st.Scopes}
		if !st.ExpiresOn.IsZero() {
			out.ExpiresOn = &wire.Time{Time: st.ExpiresOn}
		}
		c.writeJSON(http.StatusOK, out)
	default:
		switch {
		case strings.HasPrefix(path, OIDCIssuerPath+"/"):
			e.serveOIDC(c, strings.TrimPrefix(path, OIDCIssuerPath), only)
		case path == IdentitiesPath || strings.HasPrefix(path, IdentitiesPath+"/") || path == ResetPath || path == SeedPath:
			e.serveInspection(c, path, only)
		default:
			c.fail(http.StatusNotFound, "NotFound", "The requested resource was not found.", "")
		}
	}
	return true
}

// extensionBody reads the body of an extension request within the
// extension routes' limits; on failure it has answered.
func (c *call) extensionBody() ([]byte, bool) {
	r, e := c.r, c.e
	if r.Body == nil {
		return nil, true
	}
	body, held, err := e.extBodies.readAll(r.Body, r.ContentLength)
	c.bodyHeld += held // given back by serveExtension
	if err != nil {
		c.bodyFailed(err, &e.extBodies)
		return nil, false
	}
	return body, true
}
