package oidc

import (
	"errors"
	"net/http"
	"time"

	"github.com/acsgo/acsidentity/tokenservice"
)

// Authenticate is a tokenservice Options.Authenticate: it verifies the
// request's bearer token and returns the caller. Caller.ID is "oidc", the
// issuer and the subject joined by NUL bytes (as in the first version of
// package tokenservice, so callers keep their identities); EntraObjectID
// is the token's oid, so that the Teams exchange needs no second check.
//
// A request without an Authorization header gets an error that wraps
// tokenservice.ErrNoCredentials (anonymous when the Service allows it);
// other failures are a *tokenservice.Error: 401 InvalidToken, 403
// InsufficientScope, 503 AuthenticationUnavailable.
func (v *Verifier) Authenticate(r *http.Request) (tokenservice.Caller, error) {
	raw, err := BearerToken(r)
	if err != nil {
		return tokenservice.Caller{}, serviceError(err)
	}
	c, err := v.Verify(r.Context(), raw)
	if err != nil {
		return tokenservice.Caller{}, serviceError(err)
	}
	return tokenservice.Caller{ID: "oidc\x00" + c.Issuer + "\x00" + c.Subject, EntraObjectID: c.ObjectID}, nil
}

// serviceError is the tokenservice answer to a failed check.
func serviceError(err error) error {
	e, ok := errors.AsType[*Error](err)
	if !ok {
		return err
	}
	out := &tokenservice.Error{Message: e.Message, Reason: e.Reason, Err: err}
	switch e.Kind {
	case ErrNoToken:
		out.Challenge, out.Err = "Bearer", errors.Join(tokenservice.ErrNoCredentials, err)
	case ErrInsufficientScope:
		out.Status, out.Code, out.Challenge = http.StatusForbidden, tokenservice.CodeInsufficientScope, `Bearer error="insufficient_scope"`
	case ErrKeysUnavailable:
		out.Status, out.Code, out.RetryAfter = http.StatusServiceUnavailable, tokenservice.CodeAuthenticationUnavailable, 10*time.Second
	default:
		out.Status, out.Code, out.Challenge = http.StatusUnauthorized, tokenservice.CodeInvalidToken, `Bearer error="invalid_token"`
	}
	return out
}
