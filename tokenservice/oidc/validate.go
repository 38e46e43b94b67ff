package oidc

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"

	"github.com/acsgo/acsidentity/tokenservice"
)

// maxTokenBytes bounds the bearer tokens parsed at all. Entra ID access
// tokens are a few kilobytes.
const maxTokenBytes = 16 << 10

// clockSkew is how far the issuer's clock may be from ours.
const clockSkew = 2 * time.Minute

// Authenticate is a tokenservice Options.Authenticate: it checks the
// request's bearer token and returns the caller ID, "oidc", the issuer and
// the subject joined by NUL bytes (the caller ID of the service's first
// version, so callers keep their identities). A request without an
// Authorization header gets an error that wraps tokenservice.ErrNoCredentials;
// every other failure is a *tokenservice.AuthError that says what is wrong
// (401 InvalidToken, 403 InsufficientScope, 503 AuthenticationUnavailable
// when the keys cannot be fetched).
func (a *Authenticator) Authenticate(r *http.Request) (callerID string, err error) {
	c, err := a.check(r)
	if err != nil {
		return "", err
	}
	return "oidc\x00" + c.Issuer + "\x00" + c.Subject, nil
}

// ObjectID checks the request's bearer token as Authenticate does and
// returns its oid claim (Entra ID's object ID of the user; empty if the
// token has none): a tokenservice Options.TeamsUserID, so that a signed-in
// caller exchanges only their own Teams token.
func (a *Authenticator) ObjectID(r *http.Request) (string, error) {
	c, err := a.check(r)
	if err != nil {
		return "", err
	}
	return c.ObjectID, nil
}

// FetchKeys fetches the issuer's keys now, if none are held yet, so that a
// wrong issuer or JWKS URL shows at start. It returns what the first token
// would otherwise meet: nil, or why the keys are unavailable.
func (a *Authenticator) FetchKeys(ctx context.Context) error {
	_, err := a.v.keys.KeyRead(ctx, "")
	if errors.Is(err, errNotInSet) {
		return nil
	}
	return err
}

// check reads and validates the bearer token of r.
func (a *Authenticator) check(r *http.Request) (*claims, error) {
	authz := r.Header.Values("Authorization")
	if len(authz) == 0 {
		return nil, &tokenservice.AuthError{Message: "A bearer token is required.", Challenge: "Bearer", Reason: "no Authorization header", Err: tokenservice.ErrNoCredentials}
	}
	if len(authz) > 1 {
		return nil, invalidToken("The Authorization header is malformed.", "%d Authorization headers", len(authz))
	}
	scheme, token, ok := strings.Cut(authz[0], " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
		return nil, invalidToken(`The Authorization header must be "Bearer <token>".`, "scheme %s", quote(scheme))
	}
	return a.v.validate(r.Context(), strings.TrimSpace(token))
}

// invalidToken is a 401 for a bad token. message is shown to the caller;
// the reason is for the log.
func invalidToken(message, reasonFormat string, args ...any) *tokenservice.AuthError {
	return &tokenservice.AuthError{
		Status: http.StatusUnauthorized, Code: "InvalidToken", Message: message,
		Challenge: `Bearer error="invalid_token"`, Reason: fmt.Sprintf(reasonFormat, args...),
	}
}

// quote quotes a value from the caller's token for a log reason,
// shortened: a token may be 16 KiB, and the log must not take it.
func quote(s string) string {
	const maxLen = 64
	if len(s) > maxLen {
		n := maxLen
		for n > 0 && !utf8.RuneStart(s[n]) {
			n--
		}
		return strconv.Quote(s[:n]) + "…"
	}
	return strconv.Quote(s)
}

// claims are the registered claims golang-jwt checks, plus the few we use.
type claims struct {
	jwt.RegisteredClaims
	// ObjectID is Entra ID's object ID of the user (oid).
	ObjectID string `json:"oid"`
	// Scp and Scope are the space-separated delegated scopes (scp, Entra
	// ID; scope, RFC 9068); Roles the application roles.
	Scp   string   `json:"scp"`
	Scope string   `json:"scope"`
	Roles []string `json:"roles"`
}

// validator checks bearer JWTs against one issuer's keys. The JWS
// verification and the registered claims are github.com/golang-jwt/jwt/v5's;
// the key lookup by kid (and the check that the JWK's alg fits the token's)
// is github.com/MicahParks/keyfunc/v3's over our key cache.
type validator struct {
	issuer        string
	audiences     []string
	requiredScope string
	algorithms    []string
	keys          *jwksCache
	now           func() time.Time
}

// validate parses and verifies token and returns its claims. Every failure
// is a *tokenservice.AuthError.
func (v *validator) validate(ctx context.Context, token string) (*claims, error) {
	if len(token) > maxTokenBytes {
		return nil, invalidToken("The bearer token is malformed.", "token of %d bytes", len(token))
	}
	p := jwt.NewParser(
		jwt.WithValidMethods(v.algorithms),
		jwt.WithIssuer(v.issuer),
		jwt.WithAudience(v.audiences...),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(clockSkew),
		jwt.WithTimeFunc(v.now),
	)
	var c claims
	kf, err := keyfunc.New(keyfunc.Options{Ctx: ctx, Storage: v.keys})
	if err != nil {
		return nil, err
	}
	tok, err := p.ParseWithClaims(token, &c, func(t *jwt.Token) (any, error) {
		// Header checks the library leaves to us, before any key is
		// looked up (and so before any fetch).
		if crit, ok := t.Header["crit"]; ok {
			return nil, invalidToken("The bearer token is malformed.", "unsupported crit header %s", quote(fmt.Sprint(crit)))
		}
		if typ, ok := t.Header["typ"]; ok {
			s, _ := typ.(string)
			if !strings.EqualFold(s, "JWT") && !strings.EqualFold(s, "at+jwt") && !strings.EqualFold(s, "application/at+jwt") {
				return nil, invalidToken("The bearer token is malformed.", "typ %s", quote(fmt.Sprint(typ)))
			}
		}
		if kid, _ := t.Header["kid"].(string); kid == "" {
			return nil, invalidToken("The bearer token has no key ID.", "no kid in the header")
		}
		return kf.KeyfuncCtx(ctx)(t)
	})
	if err != nil {
		return nil, v.explain(tok, &c, err)
	}
	if c.Subject == "" {
		return nil, invalidToken("The bearer token has no subject.", "no sub")
	}
	if v.requiredScope != "" && !c.hasScope(v.requiredScope) {
		return nil, &tokenservice.AuthError{
			Status: http.StatusForbidden, Code: "InsufficientScope", Message: "The bearer token lacks the required scope.",
			Challenge: `Bearer error="insufficient_scope"`, Reason: "scp, scope and roles lack " + v.requiredScope,
		}
	}
	return &c, nil
}

// explain turns golang-jwt's error into an *tokenservice.AuthError whose
// message says what is wrong, in words a client developer can act on.
func (v *validator) explain(tok *jwt.Token, c *claims, err error) error {
	if ae, ok := errors.AsType[*tokenservice.AuthError](err); ok {
		return ae // from our header checks or the key cache
	}
	if errors.Is(err, jwt.ErrTokenMalformed) {
		// Five parts would be JWE: encrypted tokens are not supported.
		return invalidToken("The bearer token is malformed.", "%v", err)
	}
	var alg string
	if tok != nil {
		alg, _ = tok.Header["alg"].(string)
	}
	switch {
	case alg == "" || strings.EqualFold(alg, "none"):
		return invalidToken("The bearer token is not signed.", "alg %s", quote(alg))
	case !slices.Contains(v.algorithms, alg):
		return invalidToken("The bearer token's signing algorithm is not accepted.", "alg %s not in %v", quote(alg), v.algorithms)
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		return invalidToken("The bearer token's signing key is not usable.", "%v", err)
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return invalidToken("The bearer token's signature is not valid.", "alg %s: %v", alg, err)
	case errors.Is(err, jwt.ErrTokenExpired):
		return invalidToken("The bearer token has expired.", "%v", err)
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return invalidToken("The bearer token is not valid yet.", "%v", err)
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return invalidToken("The bearer token was issued in the future.", "%v", err)
	case c.ExpiresAt == nil:
		return invalidToken("The bearer token has no valid expiry.", "%v", err)
	case errors.Is(err, jwt.ErrTokenInvalidIssuer) || c.Issuer == "":
		return invalidToken("The bearer token's issuer is not accepted.", "iss %s", quote(c.Issuer))
	case errors.Is(err, jwt.ErrTokenInvalidAudience) || len(c.Audience) == 0:
		return invalidToken("The bearer token's audience is not accepted.", "aud %s", quote(strings.Join(c.Audience, " ")))
	}
	return invalidToken("The bearer token is not valid.", "%v", err)
}

// hasScope reports whether the token grants scope as a delegated scope
// (scp or scope) or an application role (roles).
func (c *claims) hasScope(scope string) bool {
	return slices.Contains(strings.Fields(c.Scp), scope) ||
		slices.Contains(strings.Fields(c.Scope), scope) ||
		slices.Contains(c.Roles, scope)
}
