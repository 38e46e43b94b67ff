package tokenservice

import (
	"net/http/httptest"
	"testing"
)

// TestAnonymousRateKey: an anonymous caller's allowance is its IPv4
// address, or its IPv6 /64, whatever the rest of the address.
func TestAnonymousRateKey(t *testing.T) {
	t.Parallel()
	for remote, want := range map[string]string{
		"192.0.2.7:50000":                        "anonymous:192.0.2.7",
		"[2001:db8:1:2:aaaa:bbbb:cccc:dddd]:443": "anonymous:2001:db8:1:2::/64",
		"[2001:db8:1:2::1]:443":                  "anonymous:2001:db8:1:2::/64",
		"[2001:db8:1:3::1]:443":                  "anonymous:2001:db8:1:3::/64",
		"[::ffff:192.0.2.7]:80":                  "anonymous:192.0.2.7",
		"[fe80::1%eth0]:80":                      "anonymous:fe80::/64",
		"[::1]:80":                               "anonymous:::/64",
		"not an address":                         "anonymous:not an address",
	} {
		r := httptest.NewRequest("GET", "/token", nil)
		r.RemoteAddr = remote
		if got := anonymousRateKey(r); got != want {
			t.Errorf("%s: %q, want %q", remote, got, want)
		}
	}
}
