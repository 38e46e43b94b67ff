package tokenservice

import (
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"

	"github.com/acsgo/acsidentity"
)

// requestLog is what the one log line of a request says, gathered as the
// request goes.
type requestLog struct {
	start  time.Time
	status int        // the answer's status; 0 until one is written
	code   string     // the error code of an error answer
	level  slog.Level // Info, or Warn and Error when something is wrong on our side
	reason string     // why the request failed, for operators
	caller *caller

	operation string                // the ACS call that failed
	acs       *azcore.ResponseError // its answer
	user      string                // the ACS identity
	scopes    []acsidentity.TokenScope
	expiresOn time.Time
}

// Bounds of what the log takes from a request: a caller chooses the path,
// the method and much of what a reason quotes (a token's key ID, say), and
// must not be able to write kilobytes into the log.
const (
	maxLogPath   = 256
	maxLogMethod = 16
	maxLogReason = 256
)

// finish turns a panic into a 500 and logs the request's one line.
func (s *Service) finish(w http.ResponseWriter, r *http.Request, l *requestLog) {
	if p := recover(); p != nil {
		if p == http.ErrAbortHandler {
			panic(p)
		}
		l.level, l.reason = slog.LevelError, fmt.Sprint("panic: ", p)
		if l.status == 0 {
			s.writeError(w, l, http.StatusInternalServerError, "InternalError", "The request could not be processed.")
		}
	}
	if l.status == 0 {
		l.status = http.StatusOK
	}
	level := l.level
	ctx := r.Context()
	if !s.log.Enabled(ctx, level) {
		return
	}
	var buf [24]slog.Attr
	a := append(buf[:0],
		slog.String("method", bounded(r.Method, maxLogMethod)),
		slog.String("path", bounded(r.URL.Path, maxLogPath)),
		slog.Int("status", l.status),
		slog.Int64("duration_ms", time.Since(l.start).Milliseconds()))
	if l.code != "" {
		a = append(a, slog.String("code", l.code))
	}
	if c := l.caller; c != nil {
		a = append(a, slog.String("caller", c.logID), slog.String("caller_kind", c.kind))
	}
	if l.user != "" {
		a = append(a, slog.String("acs_user", l.user))
	}
	switch len(l.scopes) {
	case 0:
	case 1:
		a = append(a, slog.String("scopes", string(l.scopes[0])))
	default:
		names := make([]string, len(l.scopes))
		for i, sc := range l.scopes {
			names[i] = string(sc)
		}
		a = append(a, slog.String("scopes", strings.Join(names, ",")))
	}
	if !l.expiresOn.IsZero() {
		a = append(a, slog.Time("expires_on", l.expiresOn.UTC()))
	}
	if l.operation != "" {
		a = append(a, slog.String("operation", l.operation))
	}
	if re := l.acs; re != nil {
		a = append(a, slog.Int("acs_status", re.StatusCode), slog.String("acs_error_code", re.ErrorCode))
		if resp := re.RawResponse; resp != nil {
			a = append(a, slog.String("ms_cv", resp.Header.Get("MS-CV")))
			if req := resp.Request; req != nil {
				a = append(a, slog.String("client_request_id", req.Header.Get("x-ms-client-request-id")))
			}
		}
	}
	if l.reason != "" {
		a = append(a, slog.String("reason", bounded(l.reason, maxLogReason)))
	}
	if s.logAttrs != nil {
		a = append(a, s.logAttrs(r)...)
	}
	s.log.LogAttrs(ctx, level, "request", a...)
}

// bounded shortens s to at most n bytes (and a "…"), on a rune boundary.
func bounded(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
