package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
)

// maxTokenBytes bounds the bearer tokens we parse at all. Entra ID access
// tokens are a few kilobytes.
const maxTokenBytes = 16 << 10

// clockSkew is how far the issuer's clock may be from ours.
const clockSkew = 2 * time.Minute

// defaultAlgorithms returns the JWS algorithms the service can verify; an
// operator may narrow the list with TRUSTED_SERVICE_OIDC_ALGORITHMS. "none"
// and the HMAC algorithms are never accepted: a public-key issuer has no
// business using them, and accepting HS256 with a public key is the classic
// algorithm-confusion attack.
func defaultAlgorithms() []string {
	return []string{"RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA"}
}

func isSupportedAlgorithm(alg string) bool { return slices.Contains(defaultAlgorithms(), alg) }

// authError is a failed authentication. message is safe to show the caller;
// detail is for the log only.
type authError struct {
	code    string // OAuth 2.0 bearer error: invalid_token, insufficient_scope
	message string
	detail  string
	// unavailable means the keys could not be fetched: the caller is not at
	// fault and gets 503, not 401.
	unavailable bool
	// badRequest means the request is malformed (400), not unauthenticated.
	badRequest bool
}

func (e *authError) Error() string { return e.message + ": " + e.detail }

func invalidToken(message, detailFormat string, args ...any) *authError {
	return &authError{code: "invalid_token", message: message, detail: fmt.Sprintf(detailFormat, args...)}
}

// claims are the registered claims golang-jwt checks, plus the few we use.
type claims struct {
	jwt.RegisteredClaims
	// ObjectID is Entra ID's object ID of the user (oid).
	ObjectID string `json:"oid"`
	// Scope is the space-separated delegated scopes (scp, Entra ID; scope, RFC 9068).
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
// is an *authError.
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
			return nil, invalidToken("The bearer token is malformed.", "unsupported crit header %v", crit)
		}
		if typ, ok := t.Header["typ"]; ok {
			s, _ := typ.(string)
			if !strings.EqualFold(s, "JWT") && !strings.EqualFold(s, "at+jwt") && !strings.EqualFold(s, "application/at+jwt") {
				return nil, invalidToken("The bearer token is malformed.", "typ %v", typ)
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
		return nil, &authError{code: "insufficient_scope", message: "The bearer token lacks the required scope.", detail: "scp/scope/roles lack " + v.requiredScope}
	}
	return &c, nil
}

// explain turns golang-jwt's error into an *authError whose message says
// what is wrong, in words a client developer can act on.
func (v *validator) explain(tok *jwt.Token, c *claims, err error) error {
	var ae *authError
	if errors.As(err, &ae) {
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
		return invalidToken("The bearer token is not signed.", "alg %q", alg)
	case !slices.Contains(v.algorithms, alg):
		return invalidToken("The bearer token's signing algorithm is not accepted.", "alg %q not in %v", alg, v.algorithms)
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
		return invalidToken("The bearer token's issuer is not accepted.", "iss %q", c.Issuer)
	case errors.Is(err, jwt.ErrTokenInvalidAudience) || len(c.Audience) == 0:
		return invalidToken("The bearer token's audience is not accepted.", "aud %q", c.Audience)
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
