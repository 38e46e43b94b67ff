package tokenservice

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
)

// Header values the service sets on every answer. Their slices are never
// appended to in place (len == cap), so they can be shared.
var (
	nosniff = []string{"nosniff"}
	noStore = []string{"no-store"}
)

// ServeHTTP answers a request and logs its one line. It is the one place
// that writes: the steps (the Host check, routing, authentication, the rate
// limit) and the endpoints return an answer or an *Error, and a panic
// becomes a 500.
func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	o := outcome{start: time.Now()}
	h := w.Header()
	h["X-Content-Type-Options"] = nosniff
	h["Cache-Control"] = noStore
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			e := fail(http.StatusInternalServerError, CodeInternalError, "The request could not be processed.").
				because(fmt.Sprint("panic: ", p)).at(slog.LevelError)
			if o.status == 0 {
				s.writeError(w, e, &o)
			} else {
				o.level, o.reason = slog.LevelError, e.Reason
			}
		}
		s.log.line(r, &o)
	}()
	a, c, err := s.handle(r)
	o.caller = c
	if err != nil {
		s.writeError(w, asError(err), &o)
		return
	}
	o.status, o.user, o.scopes, o.expiresOn, o.reason = a.status, a.user, a.scopes, a.expiresOn, a.note
	a.write(w)
}

// writeError writes e and notes it for the log.
func (s *Service) writeError(w http.ResponseWriter, e *Error, o *outcome) {
	o.status, o.code, o.level, o.reason, o.operation = e.status(), e.code(), e.logLevel(), e.logReason(), e.op
	if re, ok := errors.AsType[*azcore.ResponseError](e.Err); ok {
		o.acs = re
	}
	e.write(w)
}

// handle takes a request through the Service's steps: the Host check,
// routing (404, 405 and OPTIONS), authentication, the rate limit, then the
// endpoint.
func (s *Service) handle(r *http.Request) (answer, *caller, error) {
	if !s.hosts.allows(r.Host) {
		return answer{}, nil, fail(http.StatusForbidden, CodeHostNotAllowed, "This service does not answer requests for this host name.").
			because("Host " + strconv.Quote(bounded(r.Host, 64)) + " not allowed")
	}
	rt, mount := findRoute(r, s.fold)
	if rt == nil {
		return answer{}, nil, fail(http.StatusNotFound, CodeNotFound, notFoundMessage(mount))
	}
	if r.Method == http.MethodOptions {
		// CORS preflights are answered by a CORS layer in front (NewCORS);
		// any OPTIONS that reaches the Service learns what the path takes.
		return answer{status: http.StatusNoContent, allow: rt.allow}, nil, nil
	}
	handle := rt.handlers[r.Method]
	if handle == nil {
		e := fail(http.StatusMethodNotAllowed, CodeMethodNotAllowed, "The method "+bounded(r.Method, maxLogMethod)+" is not allowed here.")
		e.allow = rt.allow
		return answer{}, nil, e
	}
	c, err := s.identify(r)
	if err != nil {
		return answer{}, nil, err
	}
	ok, wait, err := s.limit.Allow(r.Context(), c.rateKey)
	switch {
	case err != nil:
		e := fail(http.StatusServiceUnavailable, CodeRateLimitUnavailable, "The service cannot take requests right now; retry after the time in the Retry-After header.").
			because("rate limiter: " + err.Error()).at(slog.LevelError)
		return answer{}, &c, e
	case !ok:
		e := fail(http.StatusTooManyRequests, CodeTooManyRequests, "Too many requests from this caller; retry after the time in the Retry-After header.").
			because("rate limited")
		e.RetryAfter = wait
		return answer{}, &c, e
	}
	a, err := handle(&s.endpoints, r, c)
	return a, &c, err
}

// notFoundMessage is a 404's message: the paths the Service serves, for
// the developer who mounted it under another prefix than the client uses.
func notFoundMessage(mount string) string {
	if mount == "" {
		return "There is no such endpoint. This service serves " + servedPaths + "."
	}
	return "There is no such endpoint. This service serves " + bounded(mount, 64) + " followed by " + servedPaths + "."
}

// identify finds out who is calling: Options.Authenticate's caller, or an
// anonymous one (perhaps naming a development identity) when that is
// allowed.
func (s *Service) identify(r *http.Request) (caller, error) {
	if s.authenticate != nil {
		who, err := s.authenticate(r)
		switch {
		case err == nil && who.ID == "":
			return caller{}, (&Error{}).because("Authenticate returned an empty Caller.ID").at(slog.LevelError)
		case err == nil:
			return authenticatedCaller(who, s.customIDKey), nil
		case !s.anonymous || !errors.Is(err, ErrNoCredentials):
			return caller{}, err
		}
	}
	if v := r.Header.Get(DevCallerHeader); v != "" && s.devCallers {
		if !validDevCallerID(v) {
			return caller{}, fail(http.StatusBadRequest, CodeInvalidRequest, DevCallerHeader+" must be 1 to 128 printable ASCII characters.").
				because("bad " + DevCallerHeader)
		}
		return developmentCaller(r, v, s.customIDKey), nil
	}
	return anonymousCaller(r), nil
}
