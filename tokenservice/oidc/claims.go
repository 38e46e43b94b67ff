package oidc

import (
	"context"
	"time"
)

// Claims are what a verified token says of its subject.
type Claims struct {
	// Issuer (iss) and Subject (sub) name the caller: the subject is
	// unique within the issuer (Entra ID's is also per application).
	Issuer, Subject string
	// Audience (aud) holds the accepted audience.
	Audience []string
	// ObjectID (oid) is Entra ID's object ID of the user; empty for
	// issuers that do not send it.
	ObjectID string
	// Scopes are the delegated scopes (scp, Entra ID; scope, RFC 9068),
	// Roles the application roles (roles).
	Scopes, Roles []string
	// ExpiresAt (exp) and IssuedAt (iat, zero if absent).
	ExpiresAt, IssuedAt time.Time
}

// Verify checks a raw bearer token (the JWT itself, without "Bearer "):
// its signature against the issuer's keys, its alg, iss, aud, exp, nbf, iat
// and sub, and Config.RequiredScope. It knows nothing of HTTP, so any
// router's authentication middleware can call it. Every error is an *Error
// (errors.Is tells its kind: ErrInvalidToken, ErrInsufficientScope,
// ErrKeysUnavailable).
//
// A token that verified is remembered (by a SHA-256 of it, up to
// Config.CacheSize tokens) until its exp, or for five minutes at most, so
// that a client that sends the same token on every request costs one
// signature check per token, not one per request. The Claims returned are
// shared between the calls for one token: do not change them.
func (v *Verifier) Verify(ctx context.Context, rawToken string) (*Claims, error) {
	if c, ok := v.cache.get(rawToken); ok {
		return c, nil
	}
	c, err := v.v.validate(ctx, rawToken)
	if err != nil {
		return nil, err
	}
	v.cache.put(rawToken, c)
	return c, nil
}
