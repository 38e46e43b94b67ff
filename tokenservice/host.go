package tokenservice

import (
	"fmt"
	"net/url"

	"github.com/acsgo/acsidentity/internal/hostguard"
)

// The Service's Host and loopback rules are internal/hostguard's, the ones
// the emulator and the client follow too.

// isLoopbackEndpoint reports whether endpoint (the ACS client's) is on a
// loopback address: an emulator, with nothing real at stake.
func isLoopbackEndpoint(endpoint string) (bool, error) {
	u, err := url.Parse(endpoint)
	if err != nil {
		return false, fmt.Errorf("tokenservice: the client's endpoint: %w", err)
	}
	return hostguard.IsLoopback(u.Host), nil
}

// hostGuard says which Host headers the Service answers. Its zero value
// (no guard) answers any host.
type hostGuard struct{ g *hostguard.Guard }

// newHostGuard checks Options.AllowedHosts and returns the guard: loopback
// names (development mode, so that a web page cannot reach a local service
// by DNS rebinding) and the allowed names; with neither, any host.
func newHostGuard(loopbackOnly bool, allowed []string) (hostGuard, error) {
	if !loopbackOnly && len(allowed) == 0 {
		return hostGuard{}, nil
	}
	g, err := hostguard.New(hostguard.Rules{Loopback: loopbackOnly, Hosts: allowed})
	if err != nil {
		return hostGuard{}, fmt.Errorf("tokenservice: AllowedHosts: %w", err)
	}
	return hostGuard{g}, nil
}

// allows reports whether the service answers requests for host (the Host
// header, perhaps with a port).
func (h hostGuard) allows(host string) bool { return h.g == nil || h.g.Allows(host) }

// isLoopbackOrigin reports whether a browser origin's host name
// (url.URL.Hostname) is a loopback one, for the CORS loopback rule.
func isLoopbackOrigin(hostname string) bool { return hostguard.IsLoopback(hostname) }
