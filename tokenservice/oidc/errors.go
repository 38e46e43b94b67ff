package oidc

import "errors"

// Kinds of failures, for errors.Is: every error of Verify and BearerToken
// is an *Error of one of these kinds.
var (
	// ErrNoToken: the request has no Authorization header (BearerToken).
	// An app that lets anonymous callers in lets them in on this one only.
	ErrNoToken = errors.New("oidc: the request has no bearer token")
	// ErrInvalidToken: the token is malformed, unsigned, badly signed,
	// expired, or for another issuer or audience (RFC 6750 invalid_token,
	// HTTP 401).
	ErrInvalidToken = errors.New("oidc: the bearer token is not valid")
	// ErrInsufficientScope: the token is valid but lacks
	// Config.RequiredScope (RFC 6750 insufficient_scope, HTTP 403).
	ErrInsufficientScope = errors.New("oidc: the bearer token lacks the required scope")
	// ErrKeysUnavailable: the issuer's keys could not be fetched, so no
	// token can be checked now; the caller is not at fault (HTTP 503).
	ErrKeysUnavailable = errors.New("oidc: the issuer's keys are unavailable")
)

// Error is a token that was not accepted, and why.
type Error struct {
	// Kind is ErrNoToken, ErrInvalidToken, ErrInsufficientScope or
	// ErrKeysUnavailable.
	Kind error
	// Message says what is wrong in words a client developer can act on,
	// without secrets: it may be shown to the caller.
	Message string
	// Reason says more, for the log only: it may quote (shortened) parts
	// of the token, such as its key ID or issuer.
	Reason string
	// Err is the underlying error, if any.
	Err error
}

// Error returns the kind and the reason.
func (e *Error) Error() string {
	if e.Reason == "" {
		return e.Kind.Error()
	}
	return e.Kind.Error() + ": " + e.Reason
}

// Is reports whether target is the error's Kind.
func (e *Error) Is(target error) bool { return target == e.Kind }

// Unwrap returns Err.
func (e *Error) Unwrap() error { return e.Err }
