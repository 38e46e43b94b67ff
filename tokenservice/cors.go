package tokenservice

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// corsMaxAge is how long a browser may cache a preflight's answer, in
// seconds (Chromium caps it at 2 hours).
const corsMaxAge = "600"

// corsPolicy says which browser origins may call the service (CORS). A
// browser app on another origin sends its token requests with an Origin
// header, and before a request with Authorization or a JSON body, an
// OPTIONS preflight. The Service answers both itself, so that it works
// without a platform in front of it. A nil policy sends no CORS headers.
type corsPolicy struct {
	// origins are the allowed origins, exactly, as browsers send them
	// (scheme://host[:port], default port left out).
	origins []string
	// anyLoopback allows any http://localhost:<port>, http://127.0.0.1:<port>
	// or http://[::1]:<port> origin.
	anyLoopback bool
	// devCallers adds X-Caller-Id to the headers a preflight allows.
	devCallers bool
}

// allows reports whether a request from origin may read the response.
func (p *corsPolicy) allows(origin string) bool {
	if p == nil || origin == "" {
		return false
	}
	if slices.Contains(p.origins, origin) {
		return true
	}
	if !p.anyLoopback {
		return false
	}
	u, err := url.Parse(origin)
	if err != nil || u.Scheme != "http" || u.Path != "" || u.User != nil || u.RawQuery != "" {
		return false
	}
	switch u.Hostname() {
	case "localhost", "127.0.0.1", "::1":
	default:
		return false
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		return err == nil && n > 0 && n <= 65535
	}
	return true
}

var (
	varyOrigin       = []string{"Origin"}
	varyPreflight    = []string{"Access-Control-Request-Method", "Access-Control-Request-Headers"}
	exposeHeaders    = []string{"Retry-After, WWW-Authenticate"}
	corsMaxAgeHeader = []string{corsMaxAge}
	allowHeaders     = []string{"Authorization, Content-Type"}
	allowHeadersDev  = []string{"Authorization, Content-Type, " + DevCallerHeader}
)

// apply adds the CORS headers of a request from an allowed origin (every
// answer, errors included), and answers preflights and other OPTIONS
// requests. It reports whether it has answered the request. Preflights
// need no credentials and do not count against the rate limit: the browser
// sends them without credentials, before the request it is about to make.
func (p *corsPolicy) apply(w http.ResponseWriter, r *http.Request, rt *route, s *Service, l *requestLog) (answered bool) {
	h := w.Header()
	origin := r.Header.Get("Origin")
	allowed := p.allows(origin)
	if p != nil {
		// The answer depends on Origin: caches must keep one per origin.
		h["Vary"] = append(h["Vary"], varyOrigin...)
	}
	if allowed {
		h.Set("Access-Control-Allow-Origin", origin)
		// Let the app read why it must wait or sign in again.
		h["Access-Control-Expose-Headers"] = exposeHeaders
	}
	if r.Method != http.MethodOptions || rt == nil {
		return false
	}
	if origin == "" || r.Header.Get("Access-Control-Request-Method") == "" {
		// Not a preflight: say what the route takes.
		h.Set("Allow", rt.allow)
		l.status = http.StatusNoContent
		w.WriteHeader(http.StatusNoContent)
		return true
	}
	if p != nil {
		h["Vary"] = append(h["Vary"], varyPreflight...)
	}
	if !allowed {
		// No CORS headers: the browser refuses the request it was about
		// to make. The body is for whoever looks at the network tab.
		l.reason = "CORS preflight from an origin that is not allowed"
		s.writeError(w, l, http.StatusForbidden, "OriginNotAllowed", "This origin may not call the service from a browser.")
		return true
	}
	h.Set("Access-Control-Allow-Methods", rt.allow)
	if p.devCallers {
		h["Access-Control-Allow-Headers"] = allowHeadersDev
	} else {
		h["Access-Control-Allow-Headers"] = allowHeaders
	}
	h["Access-Control-Max-Age"] = corsMaxAgeHeader
	l.status = http.StatusNoContent
	w.WriteHeader(http.StatusNoContent)
	return true
}

// ParseOrigin checks a CORS origin as Options.CORSOrigins takes it and
// returns it as browsers send it in the Origin header: lower-case scheme
// and host, default port left out ("https://App.example.com:443/" is
// "https://app.example.com").
func ParseOrigin(s string) (string, error) {
	if s == "*" {
		return "", errors.New(`"*" is not accepted: list the origins of your web apps`)
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", errors.New("not an origin such as https://app.example.com or http://localhost:3000")
	}
	if u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return "", errors.New("an origin is scheme://host[:port], without a path, query or user")
	}
	scheme, host, port := strings.ToLower(u.Scheme), strings.ToLower(u.Hostname()), u.Port()
	if port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return "", errors.New("the port is not a TCP port")
		}
	}
	if (scheme == "https" && port == "443") || (scheme == "http" && port == "80") {
		port = ""
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if port != "" {
		host += ":" + port
	}
	return scheme + "://" + host, nil
}
