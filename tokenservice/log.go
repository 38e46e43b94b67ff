package tokenservice

import (
	"log/slog"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"

	"github.com/acsgo/acsidentity"
)

// outcome is what the one log line of a request says: how it was
// answered, and why.
type outcome struct {
	start  time.Time
	status int
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

// requestLogger writes the request log lines.
type requestLogger struct {
	log   *slog.Logger
	attrs func(*http.Request) []slog.Attr
}

// line logs the request's one line.
func (l requestLogger) line(r *http.Request, o *outcome) {
	ctx := r.Context()
	if !l.log.Enabled(ctx, o.level) {
		return
	}
	var buf [24]slog.Attr
	a := append(buf[:0],
		slog.String("method", bounded(r.Method, maxLogMethod)),
		slog.String("path", bounded(requestPath(r), maxLogPath)),
		slog.Int("status", o.status),
		slog.Int64("duration_ms", time.Since(o.start).Milliseconds()))
	if o.code != "" {
		a = append(a, slog.String("code", o.code))
	}
	if c := o.caller; c != nil {
		a = append(a, slog.String("caller", c.logID), slog.String("caller_kind", c.kind))
	}
	if o.user != "" {
		a = append(a, slog.String("acs_user", o.user))
	}
	switch len(o.scopes) {
	case 0:
	case 1:
		a = append(a, slog.String("scopes", string(o.scopes[0])))
	default:
		names := make([]string, len(o.scopes))
		for i, sc := range o.scopes {
			names[i] = string(sc)
		}
		a = append(a, slog.String("scopes", strings.Join(names, ",")))
	}
	if !o.expiresOn.IsZero() {
		a = append(a, slog.Time("expires_on", o.expiresOn.UTC()))
	}
	if o.operation != "" {
		a = append(a, slog.String("operation", o.operation))
	}
	if re := o.acs; re != nil {
		a = append(a, slog.Int("acs_status", re.StatusCode), slog.String("acs_error_code", re.ErrorCode))
		if resp := re.RawResponse; resp != nil {
			a = append(a, slog.String("ms_cv", resp.Header.Get("MS-CV")))
			if req := resp.Request; req != nil {
				a = append(a, slog.String("client_request_id", req.Header.Get("x-ms-client-request-id")))
			}
		}
	}
	if o.reason != "" {
		a = append(a, slog.String("reason", bounded(o.reason, maxLogReason)))
	}
	if l.attrs != nil {
		a = append(a, l.attrs(r)...)
	}
	l.log.LogAttrs(ctx, o.level, "request", a...)
}

// requestPath is the path the client asked for, as sent (escaped), without
// the query string (the Functions key may be there): not r.URL.Path, which
// http.StripPrefix may have cut.
func requestPath(r *http.Request) string {
	if r.RequestURI == "" {
		return r.URL.Path
	}
	p, _, _ := strings.Cut(r.RequestURI, "?")
	if i := strings.Index(p, "://"); i >= 0 { // absolute-form
		if j := strings.IndexByte(p[i+3:], '/'); j >= 0 {
			return p[i+3+j:]
		}
		return "/"
	}
	return p
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
