package emulator

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/acsgo/acsidentity/internal/hostguard"
)

// A web page can reach a server on the developer's machine through DNS
// rebinding: its own host name, resolved again, now leads to 127.0.0.1 or
// to a container's published port, and the browser sends the page's
// requests there with the page's name in Host. The development key is
// public, so such a page could sign requests, too. A server made by Listen
// therefore answers, whatever address it listens on (a container's
// ":10780" included), only Host names that no page on another site can put
// there; package hostguard holds the rules.

// hostFilter is the Host check of a server made by Listen.
type hostFilter struct{ g *hostguard.Guard }

// newHostFilter returns the Host check of a server made by Listen, or nil
// when allowed holds "*": loopback names, IP address literals, this
// machine's host name (a container's, in a container) and the names in
// allowed (Options.AllowedHosts). It fails on an entry of allowed that is
// not a host name.
func newHostFilter(allowed []string) (*hostFilter, error) {
	g, err := hostguard.New(hostguard.Rules{Hosts: allowed, Loopback: true, AnyIP: true, MachineName: true})
	if err != nil {
		return nil, fmt.Errorf("emulator: AllowedHosts: %w", err)
	}
	if g.AllowsAny() {
		return nil, nil
	}
	return &hostFilter{g}, nil
}

// allows reports whether a request with this Host header may be served.
func (f *hostFilter) allows(host string) bool { return f.g.Allows(host) }

// refuseHost answers a request whose Host the server does not accept.
func (c *call) refuseHost() {
	c.abandonBody()
	c.fail(http.StatusForbidden, "HostNotAllowed", "The Host header names "+quoteHost(c.r.Host)+", which this emulator does not answer: it answers only loopback names (localhost, 127.0.0.1, [::1]), IP addresses, its machine's host name and the names allowed with -allow-host (Options.AllowedHosts; a leading dot allows a domain and every name under it, * allows any), so that a web page cannot reach it through DNS rebinding.", "")
}

// quoteHost quotes a client's Host for a message, cut to a sane length.
func quoteHost(h string) string {
	if len(h) > 100 {
		h = h[:100] + "..."
	}
	return "'" + strings.ToValidUTF8(h, "?") + "'"
}
