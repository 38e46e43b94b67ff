package oidc

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
)

// maxTokenBytes bounds the bearer tokens parsed at all. Entra ID access
// tokens are a few kilobytes.
const maxTokenBytes = 16 << 10

// clockSkew is how far the issuer's clock may be from ours.
const clockSkew = 2 * time.Minute

// invalidToken is an ErrInvalidToken. message is shown to the caller; the
// reason is for the log.
func invalidToken(message, reasonFormat string, args ...any) *Error {
	return &Error{Kind: ErrInvalidToken, Message: message, Reason: fmt.Sprintf(reasonFormat, args...)}
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

// tokenClaims are the registered claims golang-jwt checks, plus the few we
// use.
type tokenClaims struct {
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
// is an *Error.
func (v *validator) validate(ctx context.Context, token string) (*Claims, error) {
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
	var c tokenClaims
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
		return nil, &Error{Kind: ErrInsufficientScope, Message: "The bearer token lacks the required scope.", Reason: "scp, scope and roles lack " + v.requiredScope}
	}
	return c.public(), nil
}

// explain turns golang-jwt's error into an *Error whose message says what
// is wrong, in words a client developer can act on.
func (v *validator) explain(tok *jwt.Token, c *tokenClaims, err error) error {
	if ae, ok := errors.AsType[*Error](err); ok {
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
func (c *tokenClaims) hasScope(scope string) bool {
	return slices.Contains(strings.Fields(c.Scp), scope) ||
		slices.Contains(strings.Fields(c.Scope), scope) ||
		slices.Contains(c.Roles, scope)
}

// public returns the claims an app may read.
func (c *tokenClaims) public() *Claims {
	p := &Claims{
		Issuer: c.Issuer, Subject: c.Subject, Audience: c.Audience, ObjectID: c.ObjectID,
		Scopes: append(strings.Fields(c.Scp), strings.Fields(c.Scope)...), Roles: c.Roles,
	}
	if c.ExpiresAt != nil {
		p.ExpiresAt = c.ExpiresAt.Time
	}
	if c.IssuedAt != nil {
		p.IssuedAt = c.IssuedAt.Time
	}
	return p
}
