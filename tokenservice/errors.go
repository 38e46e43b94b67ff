package tokenservice

import (
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"
)

// Error codes of the service's error answers, the code of
// {"error":{"code":"...","message":"..."}}. Clients may branch on them;
// the messages are for people and may change.
const (
	// CodeHostNotAllowed: 403, the Host header is not one the service
	// answers (Options.AllowedHosts, or a development service's loopback
	// rule).
	CodeHostNotAllowed = "HostNotAllowed"
	// CodeNotFound: 404, no endpoint has this path.
	CodeNotFound = "NotFound"
	// CodeMethodNotAllowed: 405, with an Allow header.
	CodeMethodNotAllowed = "MethodNotAllowed"
	// CodeAuthenticationRequired: 401, the caller is not authenticated.
	CodeAuthenticationRequired = "AuthenticationRequired"
	// CodeInvalidToken: 401, the caller's bearer token was refused.
	CodeInvalidToken = "InvalidToken"
	// CodeInsufficientScope: 403, the bearer token lacks the required scope.
	CodeInsufficientScope = "InsufficientScope"
	// CodeAuthenticationUnavailable: 503 with Retry-After, callers cannot be
	// authenticated right now (the issuer's keys cannot be fetched, say).
	CodeAuthenticationUnavailable = "AuthenticationUnavailable"
	// CodeTooManyRequests: 429 with Retry-After, the caller's rate limit.
	CodeTooManyRequests = "TooManyRequests"
	// CodeRateLimitUnavailable: 503 with Retry-After, the rate limiter
	// failed (its shared store cannot be reached).
	CodeRateLimitUnavailable = "RateLimitUnavailable"
	// CodeIdentityStoreUnavailable: 503 with Retry-After, the identity
	// store (Options.Identities) failed or did not answer in time.
	CodeIdentityStoreUnavailable = "IdentityStoreUnavailable"
	// CodeInvalidRequest: 400, the request is malformed.
	CodeInvalidRequest = "InvalidRequest"
	// CodeInvalidScope: 400, a scope that is not allowed.
	CodeInvalidScope = "InvalidScope"
	// CodeInvalidLifetime: 400, an expiresInMinutes out of range.
	CodeInvalidLifetime = "InvalidLifetime"
	// CodeRequestTooLarge: 413, the body is over Options.MaxBodyBytes.
	CodeRequestTooLarge = "RequestTooLarge"
	// CodeUnsupportedMediaType: 415, a body that is not JSON.
	CodeUnsupportedMediaType = "UnsupportedMediaType"
	// CodeForbidden: 403, the Teams exchange of another user's token.
	CodeForbidden = "Forbidden"
	// CodeNoLastingIdentity: 403, DELETE of the user by an anonymous
	// caller, who has no lasting identity.
	CodeNoLastingIdentity = "NoLastingIdentity"
	// CodeIdentityNotFound: 404, GET of the user by a caller who has no
	// ACS identity: an anonymous caller, or with Options.Identities a
	// caller who has not asked for a token yet.
	CodeIdentityNotFound = "IdentityNotFound"
	// CodeInvalidTeamsToken: 400, ACS refused the Teams user's token.
	CodeInvalidTeamsToken = "InvalidTeamsToken"
	// CodeServiceBusy: 503 with Retry-After, ACS throttled the resource.
	CodeServiceBusy = "ServiceBusy"
	// CodeUpstreamUnavailable: 503 with Retry-After, ACS is unavailable and
	// said when to retry.
	CodeUpstreamUnavailable = "UpstreamUnavailable"
	// CodeUpstreamError: 502, the ACS call failed.
	CodeUpstreamError = "UpstreamError"
	// CodeCanceled: 503, the caller went away during the ACS call.
	CodeCanceled = "Canceled"
	// CodeInternalError: 500, a bug (a panic) in the service or the app's
	// Authenticate, or an identity store's record that is not an ACS user
	// ID.
	CodeInternalError = "InternalError"
)

// Error is an error answer of the service, and why, for its log line. The
// Service's own steps and endpoints return one; an Options.Authenticate
// function may return one to choose how a refused caller is answered (any
// other error is a 401 AuthenticationRequired).
//
// The zero Error is a 401 AuthenticationRequired: Status, Code and Message
// have defaults for a refused authentication.
type Error struct {
	// Status is the HTTP status. Default 401.
	Status int
	// Code is the error code of the answer's body: one of the Code
	// constants, or the app's own. Default CodeAuthenticationRequired.
	Code string
	// Message is the answer's message. It is shown to the caller: say what
	// is wrong without secrets. Default "The caller is not authenticated.".
	Message string
	// Challenge is the WWW-Authenticate header of a 401 or 403, such as
	// `Bearer error="invalid_token"` (RFC 6750).
	Challenge string
	// RetryAfter, with 429 and 503, says when to try again (Retry-After,
	// in whole seconds rounded up). Default 10 seconds with 503.
	RetryAfter time.Duration
	// Reason says why, for the log only. It is shortened when logged.
	Reason string
	// Err is the underlying error, if any (ErrNoCredentials, an
	// *azcore.ResponseError, say). It is not shown to the caller.
	Err error

	level   slog.Level // the log line's level, when leveled
	leveled bool
	op      string // the ACS call that failed, for the log
	allow   string // the Allow header of a 405
}

// Error returns the message and the reason (and the wrapped error's text),
// for logs and tests; it may quote what the caller sent.
func (e *Error) Error() string {
	msg := e.message()
	if e.Reason != "" {
		msg += ": " + e.Reason
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Unwrap returns Err, so that errors.Is(err, ErrNoCredentials) sees
// through an Error.
func (e *Error) Unwrap() error { return e.Err }

func (e *Error) status() int {
	if e.Status == 0 {
		return http.StatusUnauthorized
	}
	return e.Status
}

func (e *Error) code() string {
	if e.Code == "" {
		return CodeAuthenticationRequired
	}
	return e.Code
}

func (e *Error) message() string {
	if e.Message == "" {
		return "The caller is not authenticated."
	}
	return e.Message
}

// logLevel is the level of the request's log line: what the service set,
// else Warn for 503 (something is wrong on our side, or ACS's) and Error
// for other 5xx, Info for the caller's mistakes.
func (e *Error) logLevel() slog.Level {
	switch {
	case e.leveled:
		return e.level
	case e.status() == http.StatusServiceUnavailable:
		return slog.LevelWarn
	case e.status() >= 500:
		return slog.LevelError
	}
	return slog.LevelInfo
}

// logReason is the reason of the log line.
func (e *Error) logReason() string {
	if e.Reason == "" && e.Err != nil {
		return e.Err.Error()
	}
	return e.Reason
}

// write writes the answer: its headers and body.
func (e *Error) write(w http.ResponseWriter) {
	status := e.status()
	h := w.Header()
	if e.allow != "" {
		h.Set("Allow", e.allow)
	}
	if e.Challenge != "" && (status == http.StatusUnauthorized || status == http.StatusForbidden) {
		h.Set("WWW-Authenticate", e.Challenge)
	}
	if wait := e.RetryAfter; wait > 0 || status == http.StatusServiceUnavailable {
		if wait <= 0 {
			wait = 10 * time.Second
		}
		h.Set("Retry-After", retryAfterValue(wait))
	}
	WriteError(w, status, e.code(), e.message())
}

// fail is an Error of the service's own.
func fail(status int, code, message string) *Error {
	return &Error{Status: status, Code: code, Message: message}
}

// because sets the log-only reason.
func (e *Error) because(reason string) *Error {
	e.Reason = reason
	return e
}

// at sets the log line's level.
func (e *Error) at(level slog.Level) *Error {
	e.level, e.leveled = level, true
	return e
}

// asError turns any error an endpoint or Authenticate returned into an
// *Error: itself, or a 401 AuthenticationRequired (for Authenticate) whose
// reason is the error's text.
func asError(err error) *Error {
	if e, ok := errors.AsType[*Error](err); ok {
		return e
	}
	return &Error{Reason: err.Error(), Err: err}
}

// ErrNoCredentials is what an Authenticate function returns (or wraps)
// when the request carries no credentials at all: no Authorization header,
// no session cookie. With Options.AllowAnonymous the request is then served
// anonymously; otherwise it gets 401 AuthenticationRequired. Credentials
// that are present but wrong are another error: they are always refused,
// never treated as anonymous.
var ErrNoCredentials = errors.New("tokenservice: the request carries no credentials")

// ErrAuthenticateRequired is New's error for a Service that would hand
// tokens of a real ACS resource to anyone: no Options.Authenticate and no
// Options.AllowAnonymous. It is a configuration error, not a request's.
var ErrAuthenticateRequired = errors.New("tokenservice: Options.Authenticate is required with a client of a real ACS resource: " +
	"set it (see package tokenservice/oidc for bearer tokens), or set Options.AllowAnonymous to hand tokens to anyone who can reach the service")

// retryAfterValue is a wait in whole seconds, rounded up, at least 1, for
// Retry-After.
func retryAfterValue(d time.Duration) string {
	secs := (d + time.Second - 1) / time.Second
	return strconv.FormatInt(int64(max(secs, 1)), 10)
}
