package main

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
const corsMaxAge = 600

// corsPolicy says which browser origins may call the service (CORS). A
// browser app on another origin sends its token requests with an Origin
// header, and before a request with Authorization or a JSON body, an
// OPTIONS preflight. The handler answers both itself, so that a plain
// `go run` (which has no Functions platform in front of it) can be
// called from a page; in Azure the platform's CORS setting must then be
// left empty (README.md, CORS).
type corsPolicy struct {
	// origins are the allowed origins, exactly, as browsers send them
	// (scheme://host[:port], default port left out).
	origins []string
	// anyLoopback allows any http://localhost:<port>, http://127.0.0.1:<port>
	// or http://[::1]:<port> origin: the embedded emulator's default, so a
	// local front end works with nothing set.
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

// apply adds the CORS headers of a request to an allowed origin (every
// answer, errors included), and answers a preflight. It reports whether it
// has answered the request. Preflights need no bearer token and do not
// count against the rate limit: the browser sends them without
// credentials, before the request it is about to make.
func (p *corsPolicy) apply(w http.ResponseWriter, r *http.Request, rt *route) (answered bool) {
	h := w.Header()
	origin := r.Header.Get("Origin")
	if p != nil {
		// The answer depends on Origin: caches must keep one per origin.
		h.Add("Vary", "Origin")
	}
	allowed := p.allows(origin)
	if allowed {
		h.Set("Access-Control-Allow-Origin", origin)
		// Let the app read why it must wait or sign in again.
		h.Set("Access-Control-Expose-Headers", "Retry-After, WWW-Authenticate")
	}
	if r.Method != http.MethodOptions || rt == nil {
		return false
	}
	methods := append(slices.Clone(rt.methods), http.MethodOptions)
	if origin == "" || r.Header.Get("Access-Control-Request-Method") == "" {
		// Not a preflight: say what the route takes.
		h.Set("Allow", strings.Join(methods, ", "))
		w.WriteHeader(http.StatusNoContent)
		return true
	}
	h.Add("Vary", "Access-Control-Request-Method")
	h.Add("Vary", "Access-Control-Request-Headers")
	if !allowed {
		// No CORS headers: the browser refuses the request it was about
		// to make. The body is for whoever looks at the network tab.
		writeError(w, http.StatusForbidden, "OriginNotAllowed", "This origin may not call the service from a browser (TRUSTED_SERVICE_CORS_ORIGINS).")
		return true
	}
	allowHeaders := "Authorization, Content-Type"
	if p.devCallers {
		allowHeaders += ", " + devCallerHeader
	}
	h.Set("Access-Control-Allow-Methods", strings.Join(methods, ", "))
	h.Set("Access-Control-Allow-Headers", allowHeaders)
	h.Set("Access-Control-Max-Age", strconv.Itoa(corsMaxAge))
	w.WriteHeader(http.StatusNoContent)
	return true
}

// parseOrigin checks one TRUSTED_SERVICE_CORS_ORIGINS entry and returns it
// as a browser sends it in Origin: lower-case scheme and host, default port
// left out.
func parseOrigin(s string) (string, error) {
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
