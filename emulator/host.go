package emulator

import (
	"net"
	"net/http"
	"strings"
)

// A web page can reach a server on loopback through DNS rebinding: its
// own host name, resolved again, now leads to 127.0.0.1, and the browser
// sends the page's requests there with the page's name in Host. The
// development key is public, so such a page could sign requests, too. A
// server listening on loopback therefore answers only requests addressed
// to a loopback name, which no page on another site can use.

// hostFilter decides which Host headers a server accepts.
type hostFilter struct {
	allowed map[string]bool // lower case, without port or brackets
}

// newHostFilter returns the filter of a server listening on ip, or nil
// when it accepts any host: when it listens beyond loopback (its clients
// may know it by any name) or extra holds "*".
func newHostFilter(ip net.IP, extra []string) *hostFilter {
	if !ip.IsLoopback() {
		return nil
	}
	f := &hostFilter{allowed: map[string]bool{}}
	for _, h := range extra {
		h = hostName(h)
		if h == "*" {
			return nil
		}
		f.allowed[h] = true
	}
	return f
}

// allows reports whether a request with this Host header may be served.
// An empty Host (HTTP/1.0) cannot come from a browser and is allowed.
func (f *hostFilter) allows(host string) bool {
	if host == "" {
		return true
	}
	h := hostName(host)
	if h == "localhost" || strings.HasSuffix(h, ".localhost") || f.allowed[h] {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// hostName is host without its port, IPv6 brackets and final dot, in
// lower case.
func hostName(host string) string {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	return strings.ToLower(strings.TrimSuffix(host, "."))
}

// refuseHost answers a request whose Host the server does not accept.
func (c *call) refuseHost() {
	c.abandonBody()
	c.fail(http.StatusForbidden, "HostNotAllowed", "The Host header names "+quoteHost(c.r.Host)+", which is not a loopback name: this emulator listens on loopback and answers only localhost, 127.0.0.1, [::1] and the names allowed with -allow-host (Options.AllowedHosts), so that a web page cannot reach it through DNS rebinding.", "")
}

// quoteHost quotes a client's Host for a message, cut to a sane length.
func quoteHost(h string) string {
	if len(h) > 100 {
		h = h[:100] + "..."
	}
	return "'" + strings.ToValidUTF8(h, "?") + "'"
}
