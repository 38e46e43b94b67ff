package tokenservice

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/rs/cors"
)

// corsMaxAge is how long a browser may cache a preflight's answer, in
// seconds (Chromium caps it at 2 hours).
const corsMaxAge = 600

// CORSOptions says which browser origins may call the Service (NewCORS).
type CORSOptions struct {
	// Origins are the origins of the web apps whose pages may call the
	// service: scheme://host[:port], such as https://app.example.com. They
	// are compared as browsers send them (lower case, default port left
	// out). "*" is refused: list your apps.
	Origins []string
	// LoopbackOrigins allows any http://localhost:<port>,
	// http://127.0.0.1:<port> or http://[::1]:<port> page as well: local
	// front ends during development.
	LoopbackOrigins bool
	// DevCallerHeader lets pages send the X-Caller-Id header
	// (Options.DevelopmentCallers).
	DevCallerHeader bool
}

// NewCORS returns a CORS middleware for the Service, built on
// github.com/rs/cors: wrap it around the Service, or the mux the Service
// is mounted in (handler := cors(mux)). Requests from the allowed origins
// get Access-Control-Allow-Origin and may read Retry-After and
// WWW-Authenticate; preflights are answered (204, cached 10 minutes) for
// GET, POST and DELETE with Authorization and Content-Type, before the
// Service sees them, so they need no credentials and do not count against
// the rate limit. Cookies are not allowed across origins
// (Access-Control-Allow-Credentials is never sent): cross-origin callers
// authenticate with bearer tokens.
//
// An app that already has a CORS layer does not need it: the Service
// sends no CORS headers of its own.
func NewCORS(o CORSOptions) (func(http.Handler) http.Handler, error) {
	if len(o.Origins) == 0 && !o.LoopbackOrigins {
		return nil, errors.New("tokenservice: NewCORS: no origins: set Origins or LoopbackOrigins")
	}
	allowed := make(map[string]bool, len(o.Origins))
	for _, origin := range o.Origins {
		norm, err := parseOrigin(origin)
		if err != nil {
			return nil, fmt.Errorf("tokenservice: CORS origin %q: %w", origin, err)
		}
		allowed[norm] = true
	}
	headers := []string{"Authorization", "Content-Type"}
	if o.DevCallerHeader {
		headers = append(headers, DevCallerHeader)
	}
	c := cors.New(cors.Options{
		AllowOriginFunc: func(origin string) bool {
			return allowed[origin] || o.LoopbackOrigins && isLoopbackPageOrigin(origin)
		},
		AllowedMethods: []string{http.MethodGet, http.MethodPost, http.MethodDelete},
		AllowedHeaders: headers,
		ExposedHeaders: []string{"Retry-After", "WWW-Authenticate"},
		MaxAge:         corsMaxAge,
	})
	return c.Handler, nil
}

// isLoopbackPageOrigin reports whether origin is that of an http page on a
// loopback host, any port.
func isLoopbackPageOrigin(origin string) bool {
	u, err := url.Parse(origin)
	if err != nil || u.Scheme != "http" || u.Path != "" || u.User != nil || u.RawQuery != "" || u.Opaque != "" {
		return false
	}
	if !isLoopbackOrigin(u.Hostname()) {
		return false
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		return err == nil && n > 0 && n <= 65535
	}
	return true
}

// parseOrigin checks a CORS origin and returns it as browsers send it in
// the Origin header: lower-case scheme and host, default port left out
// ("https://App.example.com:443/" is "https://app.example.com").
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
