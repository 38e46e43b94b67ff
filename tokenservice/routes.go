package tokenservice

import (
	"net/http"
	"strings"
)

// route is one path, relative to where the Service is mounted, and its
// endpoints by method.
type route struct {
	path     string
	handlers map[string]handler // by method
	allow    string             // the Allow header: methods and OPTIONS
}

// handler is one endpoint.
type handler func(*endpoints, *http.Request, caller) (answer, error)

// routes are the Service's endpoints.
var routes = [...]route{
	{path: "/token", allow: "GET, POST, OPTIONS", handlers: map[string]handler{
		http.MethodGet: (*endpoints).token, http.MethodPost: (*endpoints).token}},
	{path: "/token/teams", allow: "POST, OPTIONS", handlers: map[string]handler{
		http.MethodPost: (*endpoints).teamsToken}},
	{path: "/user", allow: "GET, DELETE, OPTIONS", handlers: map[string]handler{
		http.MethodGet: (*endpoints).user, http.MethodDelete: (*endpoints).deleteUser}},
}

// servedPaths names the endpoints' paths for a 404's message.
const servedPaths = "/token, /token/teams and /user"

// findRoute returns the route of r and the path it is mounted at (for a
// 404's message), or nil. The path below the mount point must be one of
// the routes' exactly, or with fold, up to ASCII case; other bytes never
// fold (U+212A KELVIN SIGN is no K). Paths are compared as sent, escaped:
// /to%6Ben and /token%2Fteams are not endpoints, so that a proxy rule on
// the canonical spelling cannot be passed with another.
//
// Where the Service is mounted comes from r.Pattern, which net/http's
// ServeMux (and chi) set to the pattern that routed the request:
//
//   - no pattern: the Service is the server's handler, or below
//     http.StripPrefix, which has cut the mount point off: r.URL.Path is
//     relative to it;
//   - a pattern that ends in a slash or a trailing wildcard
//     (mux.Handle("/acs/", svc), "/acs/{rest...}", chi's Mount("/acs",
//     svc), which routes "/acs/*"): the mount point is as many path
//     segments as the pattern has before it, whatever its wildcards
//     matched; when r.URL.Path is not the path the client sent (or does
//     not start with the pattern's literal segments), an http.StripPrefix
//     below the mux has cut the mount point off: the path is relative, as
//     without a pattern;
//   - another pattern (mux.Handle("/acs/token", svc)) routes exact paths:
//     the mount point is what precedes the endpoint's path.
func findRoute(r *http.Request, fold bool) (rt *route, mount string) {
	path := r.URL.EscapedPath()
	pm, exact := mountPattern(r.Pattern)
	if exact {
		for i := range routes {
			p := routes[i].path
			if len(path) >= len(p) && samePath(path[len(path)-len(p):], p, fold) {
				return &routes[i], path[:len(path)-len(p)]
			}
		}
		return nil, ""
	}
	if pm != "/" && !pathCut(r) {
		mount = cutSegments(path, strings.Count(pm, "/")-1)
		if !mountMatches(pm, mount) {
			mount = ""
		}
	}
	rest := path[len(mount):]
	for i := range routes {
		if samePath(rest, routes[i].path, fold) {
			return &routes[i], mount
		}
	}
	return nil, mount
}

// pathCut reports whether a handler before the Service changed the path
// the client sent (http.StripPrefix cuts it; ServeMux and chi do not).
func pathCut(r *http.Request) bool {
	return r.RequestURI != "" && requestPath(r) != r.URL.EscapedPath()
}

// patternPath is the path of a ServeMux or chi pattern: "GET
// example.com/acs/" is "/acs/".
func patternPath(pattern string) string {
	if _, after, ok := strings.Cut(pattern, " "); ok {
		pattern = strings.TrimLeft(after, " \t")
	}
	if i := strings.IndexByte(pattern, '/'); i > 0 {
		pattern = pattern[i:]
	}
	return pattern
}

// mountPattern is the part of pattern's path that routes the mount point
// ("/acs/" of "/acs/{rest...}"; "/" without a pattern), or exact for a
// pattern that names exact paths.
func mountPattern(pattern string) (p string, exact bool) {
	p = patternPath(pattern)
	switch {
	case p == "":
		return "/", false
	case strings.HasSuffix(p, "/"):
		return p, false
	case strings.HasSuffix(p, "/*") || strings.HasSuffix(p, "...}"):
		return p[:strings.LastIndexByte(p, '/')+1], false
	}
	return "", true
}

// cutSegments returns the first n segments of path ("/a/b" of "/a/b/c"
// for 2), or "" when it has fewer.
func cutSegments(path string, n int) string {
	i := 0
	for range n {
		j := strings.IndexByte(path[i+1:], '/')
		if j < 0 {
			return ""
		}
		i += j + 1
	}
	return path[:i]
}

// mountMatches reports whether mount ("/acs") is what the pattern's path
// ("/acs/", "/{tenant}/acs/*") routed: its literal segments are the same.
func mountMatches(pattern, mount string) bool {
	if mount == "" {
		return true
	}
	ps := strings.Split(strings.Trim(pattern, "/"), "/")
	ms := strings.Split(strings.Trim(mount, "/"), "/")
	if len(ps) != len(ms) {
		return false
	}
	for i, s := range ps {
		if !strings.HasPrefix(s, "{") && s != ms[i] {
			return false
		}
	}
	return true
}

// samePath reports whether a and b are the same path, up to ASCII case
// with fold.
func samePath(a, b string, fold bool) bool {
	if !fold {
		return a == b
	}
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
