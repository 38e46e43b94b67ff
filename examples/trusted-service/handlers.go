package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"

	"github.com/acsgo/acsidentity"
)

const (
	// maxBodyBytes caps request bodies. The largest legitimate one is the
	// Teams exchange, whose Entra ID token is a few kilobytes.
	maxBodyBytes = 32 << 10
	// acsTimeout bounds the ACS calls of one request, retries included; the
	// Azure front end gives up on a request after 230 s.
	acsTimeout = 30 * time.Second
	// minLifetime and maxLifetime are the service's token lifetime range.
	minLifetime = 60
	maxLifetime = 1440
)

// defaultScopes are issued when the caller names none: Calling only, as in
// the quickstart. Issue the least the client needs.
var defaultScopes = []acsidentity.TokenScope{acsidentity.TokenScopeVoIP}

// route is one endpoint. Paths are matched case-insensitively, as the
// Functions host routes them, and forwarded with their original case.
type route struct {
	path    string
	methods []string
	// authenticated routes identify the caller and count against its
	// rate limit before the handler runs.
	authenticated bool
	handle        func(s *service, w http.ResponseWriter, r *http.Request, c *caller)
}

// routes is the service's HTTP surface. The functions' function.json files
// must agree with it (config_test.go checks).
var routes = []route{
	{path: "/", methods: []string{http.MethodGet, http.MethodHead}, handle: (*service).health},
	{path: "/api/token", methods: []string{http.MethodGet, http.MethodPost}, authenticated: true, handle: (*service).token},
	{path: "/api/token/teams", methods: []string{http.MethodPost}, authenticated: true, handle: (*service).teamsToken},
	{path: "/api/user", methods: []string{http.MethodDelete}, authenticated: true, handle: (*service).deleteUser},
}

// service holds what the handlers share.
type service struct {
	acs   *acsidentity.Client
	auth  *authenticator
	limit *limiter
	cors  *corsPolicy // nil: no CORS headers (the platform's CORS, or none)
}

// ServeHTTP routes a request: CORS headers and preflights first, then 404
// and 405, then authentication and the rate limit, then the handler.
func (s *service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	var rt *route
	for i := range routes {
		if strings.EqualFold(routes[i].path, r.URL.Path) {
			rt = &routes[i]
			break
		}
	}
	if s.cors.apply(w, r, rt) {
		return
	}
	if rt == nil {
		writeError(w, http.StatusNotFound, "NotFound", "There is no such endpoint.")
		return
	}
	if !slices.Contains(rt.methods, r.Method) {
		h.Set("Allow", strings.Join(append(slices.Clone(rt.methods), http.MethodOptions), ", "))
		writeError(w, http.StatusMethodNotAllowed, "MethodNotAllowed", "The method "+r.Method+" is not allowed here.")
		return
	}
	var c *caller
	if rt.authenticated {
		var err error
		if c, err = s.auth.authenticate(ctx, r); err != nil {
			s.authFailed(w, r, err)
			return
		}
		setCaller(ctx, c)
		if ok, wait := s.limit.allow(c.rateKey); !ok {
			logger(ctx).Info("rate limited", "retry_after", wait.String())
			h.Set("Retry-After", strconv.Itoa(retryAfterSeconds(wait)))
			writeError(w, http.StatusTooManyRequests, "TooManyRequests", "Too many requests from this caller; retry after the time in the Retry-After header.")
			return
		}
	}
	rt.handle(s, w, r, c)
}

// authFailed answers a failed authentication: 401 with a WWW-Authenticate
// challenge (RFC 6750), 400 for a malformed request, 503 when the keys are
// unavailable.
func (s *service) authFailed(w http.ResponseWriter, r *http.Request, err error) {
	var ae *authError
	if !errors.As(err, &ae) {
		logger(r.Context()).Error("authentication failed unexpectedly", "error", err.Error())
		writeError(w, http.StatusInternalServerError, "InternalError", "The request could not be processed.")
		return
	}
	logger(r.Context()).Info("authentication failed", "reason", ae.detail)
	switch {
	case ae.unavailable:
		w.Header().Set("Retry-After", "10")
		writeError(w, http.StatusServiceUnavailable, "AuthenticationUnavailable", ae.message)
	case ae.badRequest:
		writeError(w, http.StatusBadRequest, "InvalidRequest", ae.message)
	case ae.code == "insufficient_scope":
		w.Header().Set("WWW-Authenticate", `Bearer error="insufficient_scope"`)
		writeError(w, http.StatusForbidden, "InsufficientScope", ae.message)
	case ae.code == "":
		w.Header().Set("WWW-Authenticate", `Bearer`)
		writeError(w, http.StatusUnauthorized, "AuthenticationRequired", ae.message)
	default:
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		writeError(w, http.StatusUnauthorized, "InvalidToken", ae.message)
	}
}

// health answers GET /: the Functions host polls it until the handler
// answers, and load balancers can too.
func (s *service) health(w http.ResponseWriter, r *http.Request, _ *caller) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// tokenRequest is the optional JSON body of POST /api/token.
type tokenRequest struct {
	Scopes           []string        `json:"scopes"`
	ExpiresInMinutes json.RawMessage `json:"expiresInMinutes"`
}

// userJSON is a CommunicationUserIdentifier as the JS SDK serializes it.
type userJSON struct {
	CommunicationUserID string `json:"communicationUserId"`
}

// tokenResponse is the body of a successful token request: the JS SDK's
// CommunicationUserToken, which the Calling and Chat samples' token
// refreshers read (token), plus expiresOn for clients that cannot decode
// the token.
type tokenResponse struct {
	User      *userJSON `json:"user,omitempty"`
	Token     string    `json:"token"`
	ExpiresOn string    `json:"expiresOn"`
}

// token is GET|POST /api/token: a fresh token for the caller's identity
// (a new identity for an anonymous caller).
func (s *service) token(w http.ResponseWriter, r *http.Request, c *caller) {
	scopes, lifetime, ok := s.tokenParams(w, r)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), acsTimeout)
	defer cancel()
	resp, err := s.acs.CreateUserAndToken(ctx, scopes, &acsidentity.CreateUserAndTokenOptions{
		TokenExpiresIn: lifetime,
		CustomID:       c.customID,
	})
	if err != nil {
		s.acsFailed(w, r, "CreateUserAndToken", err)
		return
	}
	logger(r.Context()).Info("issued a token", "acs_user", resp.User.ID, "scopes", scopes,
		"expires_on", resp.ExpiresOn.UTC().Format(time.RFC3339), "lasting_identity", c.customID != "")
	writeJSON(w, http.StatusOK, tokenResponse{
		User:      &userJSON{CommunicationUserID: resp.User.ID},
		Token:     resp.Token,
		ExpiresOn: resp.ExpiresOn.UTC().Format(time.RFC3339Nano),
	})
}

// tokenParams reads the scopes and lifetime from the query string and, for
// POST, the JSON body; each may be given in one place only. It has answered
// the request when ok is false.
func (s *service) tokenParams(w http.ResponseWriter, r *http.Request) (scopes []acsidentity.TokenScope, lifetime time.Duration, ok bool) {
	q := r.URL.Query() // "code" (the Functions key) and anything else is ignored
	var names []string
	scopesGiven := q.Has("scopes")
	for _, v := range q["scopes"] {
		names = append(names, strings.Split(v, ",")...)
	}
	var minutesText string
	lifetimeGiven := q.Has("expiresInMinutes")
	if lifetimeGiven {
		minutesText = q.Get("expiresInMinutes")
	}
	if r.Method == http.MethodPost {
		var body tokenRequest
		present, ok := readJSON(w, r, &body, false)
		if !ok {
			return nil, 0, false
		}
		if present {
			if body.Scopes != nil {
				if scopesGiven {
					writeError(w, http.StatusBadRequest, "InvalidRequest", "Give scopes in the query string or in the body, not both.")
					return nil, 0, false
				}
				scopesGiven, names = true, body.Scopes
			}
			if body.ExpiresInMinutes != nil {
				if lifetimeGiven {
					writeError(w, http.StatusBadRequest, "InvalidRequest", "Give expiresInMinutes in the query string or in the body, not both.")
					return nil, 0, false
				}
				lifetimeGiven, minutesText = true, string(body.ExpiresInMinutes)
			}
		}
	}
	if !scopesGiven {
		scopes = defaultScopes
	} else {
		for _, n := range names {
			n = strings.TrimSpace(n)
			sc := acsidentity.TokenScope(n)
			if !slices.Contains(acsidentity.PossibleTokenScopeValues(), sc) {
				writeError(w, http.StatusBadRequest, "InvalidScope", "Scopes must be chat, voip, chat.join, chat.join.limited or voip.join.")
				return nil, 0, false
			}
			if !slices.Contains(scopes, sc) {
				scopes = append(scopes, sc)
			}
		}
		if len(scopes) == 0 {
			writeError(w, http.StatusBadRequest, "InvalidScope", "Name at least one scope, or leave scopes out for the default (voip).")
			return nil, 0, false
		}
	}
	if lifetimeGiven {
		m, err := strconv.Atoi(strings.TrimSpace(minutesText))
		if err != nil || m < minLifetime || m > maxLifetime {
			writeError(w, http.StatusBadRequest, "InvalidLifetime", "expiresInMinutes must be a whole number from 60 to 1440.")
			return nil, 0, false
		}
		lifetime = time.Duration(m) * time.Minute
	}
	return scopes, lifetime, true
}

// teamsRequest is the body of POST /api/token/teams.
type teamsRequest struct {
	// Token is the Teams user's Entra ID access token for ACS (scopes
	// Teams.ManageCalls and Teams.ManageChats).
	Token string `json:"token"`
	// AppID is the Entra application (client) ID the token was issued to.
	AppID string `json:"appId"`
	// UserID is the Teams user's Entra object ID. It may be left out when
	// the caller's own bearer token has an oid claim.
	UserID string `json:"userId"`
}

// teamsToken is POST /api/token/teams: it exchanges a Teams user's Entra ID
// token for an ACS token. The service returns no user ID for this
// exchange, so neither do we.
func (s *service) teamsToken(w http.ResponseWriter, r *http.Request, c *caller) {
	var req teamsRequest
	if _, ok := readJSON(w, r, &req, true); !ok {
		return
	}
	if c.objectID != "" {
		// A signed-in Entra ID caller may only exchange their own token.
		if req.UserID == "" {
			req.UserID = c.objectID
		} else if req.UserID != c.objectID {
			logger(r.Context()).Info("Teams exchange refused: userId is not the caller's oid")
			writeError(w, http.StatusForbidden, "Forbidden", "userId must be the signed-in caller's object ID.")
			return
		}
	}
	if strings.TrimSpace(req.Token) == "" || strings.TrimSpace(req.AppID) == "" || strings.TrimSpace(req.UserID) == "" {
		writeError(w, http.StatusBadRequest, "InvalidRequest", "The body must be {\"token\":\"...\",\"appId\":\"...\",\"userId\":\"...\"}.")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), acsTimeout)
	defer cancel()
	resp, err := s.acs.GetTokenForTeamsUser(ctx, req.Token, req.AppID, req.UserID, nil)
	if err != nil {
		s.acsFailed(w, r, "GetTokenForTeamsUser", err)
		return
	}
	logger(r.Context()).Info("exchanged a Teams user token", "expires_on", resp.ExpiresOn.UTC().Format(time.RFC3339))
	writeJSON(w, http.StatusOK, tokenResponse{Token: resp.Token, ExpiresOn: resp.ExpiresOn.UTC().Format(time.RFC3339Nano)})
}

// deleteUser is DELETE /api/user: it revokes the caller's tokens and
// deletes the caller's identity. The identity is found the way it was made:
// a create with the caller's custom ID returns the existing one (or makes
// one, which is then deleted at once: the call is idempotent).
//
// It answers 204 only once the identity is deleted; any step that fails
// is an error, and the caller's retry starts again from the lookup. (When
// ACS deletes and then fails, the library's DeleteUser retries and reports
// success itself.) A 404 from the revoke or the delete means the identity
// we just found is gone all the same, say deleted by a concurrent request
// of the same caller. That is the outcome the caller asked for, so it is a
// 204, not an error whose retry would make a new identity only to delete it.
func (s *service) deleteUser(w http.ResponseWriter, r *http.Request, c *caller) {
	if c.customID == "" {
		writeError(w, http.StatusForbidden, "NoLastingIdentity", "Anonymous callers get a new identity on every call; there is no identity to delete. Sign in to keep (and delete) one.")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), acsTimeout)
	defer cancel()
	u, err := s.acs.CreateUser(ctx, &acsidentity.CreateUserOptions{CustomID: c.customID})
	if err != nil {
		s.acsFailed(w, r, "CreateUser", err)
		return
	}
	if _, err := s.acs.RevokeTokens(ctx, u.User, nil); err != nil {
		if isNotFound(err) {
			logger(r.Context()).Info("the caller's identity was already deleted", "acs_user", u.User.ID, "operation", "RevokeTokens")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		s.acsFailed(w, r, "RevokeTokens", err)
		return
	}
	if _, err := s.acs.DeleteUser(ctx, u.User, nil); err != nil {
		if !isNotFound(err) {
			s.acsFailed(w, r, "DeleteUser", err)
			return
		}
		logger(r.Context()).Info("the caller's identity was already deleted", "acs_user", u.User.ID, "operation", "DeleteUser")
	}
	logger(r.Context()).Info("deleted the caller's identity", "acs_user", u.User.ID)
	w.WriteHeader(http.StatusNoContent)
}

// isNotFound reports whether ACS answered 404.
func isNotFound(err error) bool {
	var re *azcore.ResponseError
	return errors.As(err, &re) && re.StatusCode == http.StatusNotFound
}

// readJSON reads a JSON body of at most maxBodyBytes into v, refusing
// unknown fields. present reports whether there was a body; without one
// and with required it answers 400. It has answered the request when ok is
// false.
func readJSON(w http.ResponseWriter, r *http.Request, v any, required bool) (present, ok bool) {
	if r.ContentLength > maxBodyBytes {
		writeError(w, http.StatusRequestEntityTooLarge, "RequestTooLarge", "The request body is too large.")
		return false, false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeError(w, http.StatusRequestEntityTooLarge, "RequestTooLarge", "The request body is too large.")
			return false, false
		}
		writeError(w, http.StatusBadRequest, "InvalidRequest", "The request body could not be read.")
		return false, false
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		if required {
			writeError(w, http.StatusBadRequest, "InvalidRequest", "A JSON body is required.")
			return false, false
		}
		return false, true
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		writeError(w, http.StatusUnsupportedMediaType, "UnsupportedMediaType", "The body must be JSON (Content-Type: application/json).")
		return false, false
	}
	d := json.NewDecoder(strings.NewReader(string(body)))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil || d.More() {
		if name, ok := strings.CutPrefix(fmt.Sprint(err), "json: unknown field "); ok {
			if name, uerr := strconv.Unquote(name); uerr == nil {
				writeError(w, http.StatusBadRequest, "InvalidRequest", fmt.Sprintf("The body has an unknown field %s; the accepted fields are %s.", quoteField(name), strings.Join(jsonFields(v), ", ")))
				return false, false
			}
		}
		writeError(w, http.StatusBadRequest, "InvalidRequest", "The body is not a JSON object of the accepted fields ("+strings.Join(jsonFields(v), ", ")+").")
		return false, false
	}
	return true, true
}

// quoteField quotes a field name from the caller for an error message,
// shortened: the body may be up to 32 KiB.
func quoteField(name string) string {
	const maxLen = 40
	if r := []rune(name); len(r) > maxLen {
		name = string(r[:maxLen]) + "…"
	}
	return strconv.Quote(name)
}

// jsonFields lists the JSON names of the fields of the struct v points to,
// quoted, for error messages.
func jsonFields(v any) []string {
	t := reflect.TypeOf(v).Elem()
	var names []string
	for f := range t.Fields() {
		if name, _, _ := strings.Cut(f.Tag.Get("json"), ","); name != "" && name != "-" {
			names = append(names, strconv.Quote(name))
		}
	}
	return names
}
