package emulator

import (
	"net"
	"net/http"
	"strings"
	"testing"
)

// TestHostRefused: a server on loopback answers a foreign Host with 403
// HostNotAllowed, before anything else and whatever the route.
func TestHostRefused(t *testing.T) {
	t.Parallel()
	_, c := start(t, nil)
	foreign := func(r *http.Request) { r.Host = "rebind.attacker.example" }
	for _, r := range []req{
		{method: "POST", path: "/identities?api-version=2023-10-01", body: "{}", mutate: foreign},
		{method: "GET", path: "/.emulator/health", mutate: foreign},
		{method: "POST", path: "/.emulator/introspect", body: `{"token":"x"}`, mutate: foreign},
		{method: "GET", path: "/no/such/route", mutate: foreign},
	} {
		resp := c.send(r)
		mustStatus(t, resp, http.StatusForbidden)
		if e := resp.errorBody(t); e.Code != "HostNotAllowed" || !strings.Contains(e.Message, "'rebind.attacker.example'") {
			t.Errorf("%s %s: %+v", r.method, r.path, e)
		}
	}
}

func TestHostFilter(t *testing.T) {
	t.Parallel()
	f := newHostFilter(net.IPv4(127, 0, 0, 1), []string{"Dev.Example.Test:8080", "[fd00::1]"})
	for host, want := range map[string]bool{
		"":                           true,
		"localhost":                  true,
		"LOCALHOST:10780":            true,
		"localhost.":                 true,
		"a.b.localhost:1":            true,
		"127.0.0.1":                  true,
		"127.255.0.9:80":             true,
		"[::1]:10780":                true,
		"::1":                        true,
		"[::ffff:127.0.0.1]:80":      true,
		"dev.example.test":           true,
		"dev.example.test:443":       true,
		"[fd00::1]:10780":            true,
		"rebind.attacker.example":    false,
		"localhost.attacker.example": false,
		"127.0.0.1.nip.io":           false,
		"notlocalhost":               false,
		"10.0.0.1":                   false,
		"[fd00::2]":                  false,
		"0.0.0.0":                    false,
	} {
		if got := f.allows(host); got != want {
			t.Errorf("Host %q: %v, want %v", host, got, want)
		}
	}
	if newHostFilter(net.IPv4zero, nil) != nil || newHostFilter(net.ParseIP("192.0.2.1"), nil) != nil || newHostFilter(net.IPv6loopback, []string{"*"}) != nil {
		t.Error("a server beyond loopback, or allowed *, checks Host")
	}
}
