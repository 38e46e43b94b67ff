package tokenservice

import (
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"

	"github.com/acsgo/acsidentity/internal/hmacauth"
)

// The Host and loopback rules of the Service, together, so that they can
// move to one package the emulator shares.

// isLoopbackEndpoint reports whether endpoint (the ACS client's) is on a
// loopback address: an emulator, with nothing real at stake.
func isLoopbackEndpoint(endpoint string) (bool, error) {
	u, err := url.Parse(endpoint)
	if err != nil {
		return false, fmt.Errorf("tokenservice: the client's endpoint: %w", err)
	}
	return hmacauth.IsLoopbackHost(u.Host), nil
}

// hostGuard says which Host headers the Service answers.
type hostGuard struct {
	// loopback answers loopback names (development mode: a web page must
	// not reach a local service by DNS rebinding).
	loopback bool
	// names are the allowed host names, lower case, without port or
	// brackets. With neither, any host is answered.
	names []string
}

// newHostGuard checks Options.AllowedHosts and returns the guard.
func newHostGuard(loopbackOnly bool, allowed []string) (hostGuard, error) {
	g := hostGuard{loopback: loopbackOnly}
	for _, h := range allowed {
		name := strings.ToLower(strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(h), "["), "]"))
		if name == "" || strings.ContainsAny(name, "/ @?#") || strings.Contains(name, ":") && net.ParseIP(name) == nil {
			return hostGuard{}, fmt.Errorf("tokenservice: AllowedHosts: %q is not a host name (without a port)", h)
		}
		g.names = append(g.names, name)
	}
	return g, nil
}

// allows reports whether the service answers requests for host (the Host
// header, perhaps with a port).
func (g hostGuard) allows(host string) bool {
	if !g.loopback && len(g.names) == 0 {
		return true
	}
	if g.loopback && hmacauth.IsLoopbackHost(host) {
		return true
	}
	name := strings.ToLower(host)
	if i := strings.LastIndexByte(name, ':'); i >= 0 && !strings.HasSuffix(name, "]") {
		name = name[:i]
	}
	name = strings.TrimSuffix(strings.TrimPrefix(name, "["), "]")
	return slices.Contains(g.names, name)
}

// isLoopbackOrigin reports whether a browser origin's host name
// (url.URL.Hostname) is a loopback one, for the CORS loopback rule.
func isLoopbackOrigin(hostname string) bool {
	return hmacauth.IsLoopbackHost(hostname)
}
