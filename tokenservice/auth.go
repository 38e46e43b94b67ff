package tokenservice

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// DevCallerHeader is the header in which, with Options.DevelopmentCallers,
// an anonymous caller names a lasting development identity.
const DevCallerHeader = "X-Caller-Id"

// maxDevCallerID bounds the X-Caller-Id value.
const maxDevCallerID = 128

// CustomIDPrefix starts every custom ID the service makes, so its
// identities are recognisable in a resource that other apps share, and a
// future change of scheme can use another prefix.
const CustomIDPrefix = "trusted-service.v1."

// ErrNoCredentials is what an Authenticate function returns (or wraps)
// when the request carries no credentials at all: no Authorization header,
// no session cookie. With Options.AllowAnonymous the request is then served
// anonymously; otherwise it gets 401 AuthenticationRequired. Credentials
// that are present but wrong are another error: they are always refused,
// never treated as anonymous.
var ErrNoCredentials = errors.New("tokenservice: the request carries no credentials")

// AuthError is a refused authentication and how to answer it. An
// Authenticate function may return one to choose the answer; any other
// error is a 401 AuthenticationRequired.
type AuthError struct {
	// Status is 400 (a malformed request), 401 (the default), 403 (signed
	// in, but not allowed) or 503 (authentication cannot be checked now).
	Status int
	// Code is the error code of the answer's body, such as InvalidToken.
	// Default AuthenticationRequired.
	Code string
	// Message is the answer's message. It is shown to the caller: say what
	// is wrong without secrets. Default "The caller is not authenticated.".
	Message string
	// Challenge is the WWW-Authenticate header of a 401 or 403, such as
	// `Bearer error="invalid_token"` (RFC 6750).
	Challenge string
	// RetryAfter, with 503, says when to try again (Retry-After). Default
	// 10 seconds.
	RetryAfter time.Duration
	// Reason says why, for the log only. It is shortened when logged.
	Reason string
	// Err is the underlying error, if any (ErrNoCredentials, say).
	Err error
}

func (e *AuthError) Error() string {
	msg := e.Message
	if msg == "" {
		msg = "the caller is not authenticated"
	}
	if e.Reason != "" {
		msg += ": " + e.Reason
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *AuthError) Unwrap() error { return e.Err }

// caller is who is asking, as far as the service can tell.
type caller struct {
	// kind is "authenticated", "development" or "anonymous".
	kind string
	// customID is the ACS custom ID of the caller's identity. Empty means
	// the caller has no lasting identity: every token is for a new one.
	customID string
	// rateKey names the caller's allowance in the rate limiter.
	rateKey string
	// logID is a short, non-reversible name of the caller for logs.
	logID string
}

// identify authenticates r. It has answered the request when ok is false.
func (s *Service) identify(w http.ResponseWriter, r *http.Request, l *requestLog) (c *caller, ok bool) {
	var err error
	if s.authenticate != nil {
		var id string
		if id, err = s.authenticate(r); err == nil {
			if id == "" {
				l.level, l.reason = slog.LevelError, "Authenticate returned an empty caller ID"
				s.authFailed(w, l, &AuthError{})
				return nil, false
			}
			customID := s.customID(id)
			c = &caller{kind: "authenticated", customID: customID, rateKey: "caller:" + customID, logID: logID(customID)}
			l.caller = c
			return c, true
		}
		if !s.anonymous || !errors.Is(err, ErrNoCredentials) {
			s.authFailed(w, l, err)
			return nil, false
		}
	}
	if v := r.Header.Get(DevCallerHeader); v != "" && s.devCallers {
		if len(v) > maxDevCallerID || strings.ContainsFunc(v, func(c rune) bool { return c < 0x21 || c > 0x7e }) {
			s.authFailed(w, l, &AuthError{Status: http.StatusBadRequest, Code: "InvalidRequest",
				Message: DevCallerHeader + " must be 1 to 128 printable ASCII characters.", Reason: "bad " + DevCallerHeader})
			return nil, false
		}
		// The same caller ID as the first version of the service made.
		customID := s.customID("dev\x00\x00" + v)
		// The allowance is the client address's, as for any anonymous
		// caller: a header the caller chooses must not buy a fresh one.
		c = &caller{kind: "development", customID: customID, rateKey: anonymousRateKey(r), logID: logID(customID)}
	} else {
		c = &caller{kind: "anonymous", rateKey: anonymousRateKey(r), logID: "anonymous"}
	}
	l.caller = c
	return c, true
}

// authFailed answers a refused authentication.
func (s *Service) authFailed(w http.ResponseWriter, l *requestLog, err error) {
	var ae *AuthError
	if !errors.As(err, &ae) {
		ae = &AuthError{Reason: err.Error()}
	}
	status, code, message := ae.Status, ae.Code, ae.Message
	if status == 0 {
		status = http.StatusUnauthorized
	}
	if code == "" {
		code = "AuthenticationRequired"
	}
	if message == "" {
		message = "The caller is not authenticated."
	}
	if l.reason == "" {
		l.reason = ae.Reason
		if l.reason == "" && ae.Err != nil {
			l.reason = ae.Err.Error()
		}
	}
	h := w.Header()
	if ae.Challenge != "" && (status == http.StatusUnauthorized || status == http.StatusForbidden) {
		h.Set("WWW-Authenticate", ae.Challenge)
	}
	if status == http.StatusServiceUnavailable {
		l.level = slog.LevelWarn
		wait := ae.RetryAfter
		if wait <= 0 {
			wait = 10 * time.Second
		}
		h.Set("Retry-After", retryAfterValue(wait))
	}
	s.writeError(w, l, status, code, message)
}

// anonymousRateKey is the allowance of an anonymous caller: its client
// address. Behind the Functions host every request comes from the host's
// loopback address, so all anonymous callers share one: that is the safe
// direction. X-Forwarded-For is not used; a client can forge it.
func anonymousRateKey(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	return "anonymous:" + host
}

// customID turns a caller ID into an ACS custom ID: CustomIDPrefix and a
// base64url SHA-256 (or HMAC-SHA256 with Options.CustomIDKey) of it. It is
// 62 characters, well under ACS's 256, and shows nothing about the caller
// to anyone who can list the resource's identities; with the key, not even
// to someone who can guess the caller ID.
func (s *Service) customID(callerID string) string {
	var sum [sha256.Size]byte
	if len(s.customIDKey) > 0 {
		m := hmac.New(sha256.New, s.customIDKey)
		m.Write([]byte(callerID))
		m.Sum(sum[:0])
	} else {
		sum = sha256.Sum256([]byte(callerID))
	}
	b := make([]byte, len(CustomIDPrefix), len(CustomIDPrefix)+base64.RawURLEncoding.EncodedLen(len(sum)))
	copy(b, CustomIDPrefix)
	return string(base64.RawURLEncoding.AppendEncode(b, sum[:]))
}

// logID shortens a custom ID to a name for logs that correlates a caller's
// requests without identifying them.
func logID(customID string) string {
	s := sha256.Sum256([]byte(customID))
	return base64.RawURLEncoding.EncodeToString(s[:6])
}

// retryAfterValue is a wait in whole seconds, rounded up, at least 1, for
// Retry-After.
func retryAfterValue(d time.Duration) string {
	secs := (d + time.Second - 1) / time.Second
	return strconv.FormatInt(int64(max(secs, 1)), 10)
}
