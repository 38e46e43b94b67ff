// Package hostguard holds the rules about host names that the emulator, the
// client and tokenservice share: which hosts are loopback (so that a
// credential may travel over plain HTTP to them), and which Host headers a
// server answers (so that a web page cannot reach it through DNS rebinding).
//
// # DNS rebinding
//
// A web page can reach a server on the developer's machine through DNS
// rebinding: its own host name, resolved again, now leads to 127.0.0.1 (or
// to a published container port), and the browser sends the page's requests
// there with the page's name in Host. The browser treats them as
// same-origin, so no CORS preflight stops them, and the emulator's
// development key is public, so such a page could sign them too. A Guard
// therefore answers only Host names that no page on another site can put
// there:
//
//   - loopback names, when Rules.Loopback is set: localhost and the
//     addresses 127.0.0.0/8 and ::1;
//   - IP address literals, when Rules.AnyIP is set: a browser sends one
//     only when the page's own URL holds it, so it connects to that
//     address without asking DNS, and there is nothing to rebind (Vite and
//     webpack-dev-server decide the same);
//   - the machine's own host name, when Rules.MachineName is set;
//   - the names in Rules.Hosts: exact names, ".example.test" for that
//     domain and every name under it, or "*" for any Host at all.
//
// A request with no Host (HTTP/1.0) cannot come from a browser and is
// allowed.
//
// # localhost subdomains
//
// Names under .localhost (app.localhost) are not loopback names here,
// although RFC 6761 asks resolvers to treat them so and browsers do: Go's
// resolver sends them to /etc/hosts and DNS like any other name unless the
// system's own resolver special-cases them, so a client cannot count on one
// reaching this machine, and a credential sent over HTTP to it might go
// elsewhere. One rule serves both questions; who uses such names allows
// them with ".localhost" in Rules.Hosts (-allow-host .localhost).
package hostguard

import (
	"fmt"
	"net"
	"os"
	"strings"
)

// Name returns the host name of a Host header or a URL's host: without its
// port, IPv6 brackets and final dot, in lower case. An IPv6 zone is kept.
func Name(host string) string {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	} else if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		host = host[1 : len(host)-1]
	}
	return strings.ToLower(strings.TrimSuffix(host, "."))
}

// IsLoopback reports whether host (a Host header or a URL's host, with or
// without a port) names this machine's loopback interface for certain: the
// name localhost (any case, a final dot allowed), an address in
// 127.0.0.0/8 or ::1 (an IPv4-mapped ::ffff:127.x.y.z included). Names under
// .localhost are not counted (see the package documentation).
func IsLoopback(host string) bool {
	h := Name(host)
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// Rules say which Host names a Guard allows.
type Rules struct {
	// Loopback allows loopback names (see IsLoopback): what a server on a
	// developer's machine is called. A service behind a load balancer that
	// answers only its own names leaves it unset.
	Loopback bool
	// Hosts are further names to allow, in any case: an exact name
	// ("emulator", "dev.example.test"), an IP address ("192.0.2.7",
	// "fd00::1", brackets optional), ".example.test" for that name and
	// every name under it, or "*" for any Host at all (the opt-out: DNS
	// rebinding is then not stopped). A name with a port, a path, a
	// wildcard other than these, or an empty one is an error.
	Hosts []string
	// AnyIP allows every IP address literal as Host (see the package
	// documentation for why that is safe).
	AnyIP bool
	// MachineName allows this machine's host name (os.Hostname) and, if
	// that is a dotted name, its first label.
	MachineName bool
}

// Guard decides which Host headers a server answers. Make one with New; it
// is safe for concurrent use.
type Guard struct {
	any      bool
	loopback bool
	anyIP    bool
	names    map[string]bool
	suffixes []string // ".example.test"
}

// New returns the Guard for r, or an error that names an entry of r.Hosts
// that is not a host name.
func New(r Rules) (*Guard, error) {
	g := &Guard{loopback: r.Loopback, anyIP: r.AnyIP, names: map[string]bool{}}
	for _, h := range r.Hosts {
		name, err := parseAllowed(h)
		if err != nil {
			return nil, err
		}
		switch {
		case name == "*":
			g.any = true
		case strings.HasPrefix(name, "."):
			g.suffixes = append(g.suffixes, name)
		default:
			g.names[name] = true
		}
	}
	if r.MachineName {
		if hn, err := os.Hostname(); err == nil && hn != "" {
			hn = Name(hn)
			g.names[hn] = true
			if first, _, ok := strings.Cut(hn, "."); ok && first != "" {
				g.names[first] = true
			}
		}
	}
	return g, nil
}

// parseAllowed checks one entry of Rules.Hosts and returns it normalised.
func parseAllowed(h string) (string, error) {
	if h == "*" {
		return h, nil
	}
	bad := func(why string) (string, error) {
		return "", fmt.Errorf("allowed host %q %s", h, why)
	}
	if h == "" {
		return bad("is empty")
	}
	if strings.HasPrefix(h, "[") && strings.HasSuffix(h, "]") {
		if ip := net.ParseIP(h[1 : len(h)-1]); ip != nil && ip.To4() == nil {
			return ip.String(), nil
		}
		return bad("is not an IPv6 address in brackets")
	}
	if ip := net.ParseIP(h); ip != nil {
		return ip.String(), nil
	}
	if strings.Contains(h, ":") {
		return bad("has a port (or is a malformed IPv6 address); give the host name alone, any port is allowed")
	}
	if strings.Contains(h, "*") {
		return bad(`has a wildcard; allow a domain and every name under it with a leading dot (".example.test"), or any host with "*" alone`)
	}
	name := strings.ToLower(strings.TrimSuffix(h, "."))
	labels := strings.TrimPrefix(name, ".")
	if labels == "" || len(labels) > 253 {
		return bad("is not a host name")
	}
	for _, l := range strings.Split(labels, ".") {
		if l == "" || len(l) > 63 {
			return bad("is not a host name: it has an empty or over-long label")
		}
		for _, c := range l {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return bad(fmt.Sprintf("is not a host name: it holds %q", c))
			}
		}
	}
	return name, nil
}

// AllowsAny reports whether the Guard allows every Host ("*" was given).
func (g *Guard) AllowsAny() bool { return g.any }

// Allows reports whether a request with this Host header (the name with or
// without a port) may be served. An empty Host is allowed.
func (g *Guard) Allows(host string) bool {
	if g.any || host == "" {
		return true
	}
	h := Name(host)
	if g.names[h] || g.loopback && h == "localhost" {
		return true
	}
	for _, s := range g.suffixes {
		if h == s[1:] || strings.HasSuffix(h, s) {
			return true
		}
	}
	if ip := net.ParseIP(h); ip != nil {
		return g.anyIP || g.loopback && ip.IsLoopback() || g.names[ip.String()]
	}
	return false
}
