package hostguard

import (
	"os"
	"strings"
	"testing"
)

func TestName(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"":                  "",
		"LocalHost":         "localhost",
		"localhost.:10780":  "localhost",
		"Dev.Example.Test.": "dev.example.test",
		"[::1]:443":         "::1",
		"[::1]":             "::1",
		"::1":               "::1",
		"127.0.0.1:80":      "127.0.0.1",
		"[fe80::1%eth0]:1":  "fe80::1%eth0",
	} {
		if got := Name(in); got != want {
			t.Errorf("Name(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestIsLoopback pins which hosts a credential may reach over plain HTTP.
func TestIsLoopback(t *testing.T) {
	t.Parallel()
	for host, want := range map[string]bool{
		"localhost":             true,
		"LOCALHOST:10780":       true,
		"localhost.":            true,
		"127.0.0.1":             true,
		"127.255.0.9:80":        true,
		"[::1]:10780":           true,
		"::1":                   true,
		"[::ffff:127.0.0.1]:80": true,
		"":                      false,
		"app.localhost":         false, // the one decision: see the package doc
		"localhost.example":     false,
		"127.0.0.1.nip.io":      false,
		"notlocalhost":          false,
		"0.0.0.0":               false,
		"10.0.0.1":              false,
		"[::]":                  false,
		"[fd00::1]":             false,
	} {
		if got := IsLoopback(host); got != want {
			t.Errorf("IsLoopback(%q) = %v, want %v", host, got, want)
		}
	}
}

// TestAllows pins the Host rules for each kind of Rules.
func TestAllows(t *testing.T) {
	t.Parallel()
	hn, err := os.Hostname()
	if err != nil || hn == "" || IsLoopback(hn) {
		t.Fatalf("this test needs a host name that is not a loopback name: %q, %v", hn, err)
	}
	first, _, _ := strings.Cut(strings.ToLower(hn), ".")
	type rule struct {
		name  string
		rules Rules
	}
	nothing := rule{"nothing", Rules{}}
	loopbackOnly := rule{"loopback only", Rules{Loopback: true}}
	anyIP := rule{"any IP", Rules{Loopback: true, AnyIP: true}}
	machine := rule{"machine name", Rules{Loopback: true, MachineName: true}}
	listed := rule{"listed", Rules{Loopback: true, Hosts: []string{"Dev.Example.Test", "[fd00::1]", "192.0.2.7", ".Apps.Test.", "emulator"}}}
	onlyListed := rule{"only listed", Rules{Hosts: []string{"dev.example.test", "192.0.2.7"}}}
	everything := rule{"any", Rules{Hosts: []string{"emulator", "*"}}}
	all := []rule{nothing, loopbackOnly, anyIP, machine, listed, onlyListed, everything}
	for _, c := range []struct {
		host  string
		allow []rule
	}{
		// No Host at all: always.
		{"", all},
		// Loopback names: with Loopback.
		{"localhost", []rule{loopbackOnly, anyIP, machine, listed, everything}},
		{"LOCALHOST:10780", []rule{loopbackOnly, anyIP, machine, listed, everything}},
		{"localhost.", []rule{loopbackOnly, anyIP, machine, listed, everything}},
		{"127.0.0.1:20780", []rule{loopbackOnly, anyIP, machine, listed, everything}},
		{"127.3.2.1", []rule{loopbackOnly, anyIP, machine, listed, everything}},
		{"[::1]:10780", []rule{loopbackOnly, anyIP, machine, listed, everything}},
		{"[::ffff:127.0.0.1]:80", []rule{loopbackOnly, anyIP, machine, listed, everything}},
		// Other IP literals: with AnyIP, or listed.
		{"172.17.0.1:32768", []rule{anyIP, everything}},
		{"0.0.0.0:10780", []rule{anyIP, everything}},
		{"[2001:db8::5]:443", []rule{anyIP, everything}},
		{"192.0.2.7:10780", []rule{anyIP, listed, onlyListed, everything}},
		{"[fd00::1]:10780", []rule{anyIP, listed, everything}},
		{"[fd00:0::1]", []rule{anyIP, listed, everything}},
		{"fd00::2", []rule{anyIP, everything}},
		// The machine's name.
		{hn, []rule{machine, everything}},
		{strings.ToUpper(hn) + ":1", []rule{machine, everything}},
		{first, []rule{machine, everything}},
		// Listed names, in any case, with any port; a leading dot lists a
		// domain and all under it.
		{"dev.example.test", []rule{listed, onlyListed, everything}},
		{"DEV.example.test.:8443", []rule{listed, onlyListed, everything}},
		{"emulator:10780", []rule{listed, everything}},
		{"apps.test", []rule{listed, everything}},
		{"a.b.apps.test:1", []rule{listed, everything}},
		{"xapps.test", []rule{everything}},
		{"sub.dev.example.test", []rule{everything}},
		// What a rebinding page sends: only with "*".
		{"evil.example", []rule{everything}},
		{"evil.example:20780", []rule{everything}},
		{"localhost.evil.example", []rule{everything}},
		{"127.0.0.1.nip.io", []rule{everything}},
		{"app.localhost", []rule{everything}},
		{"notlocalhost", []rule{everything}},
		{"emulator.evil.example", []rule{everything}},
	} {
		for _, r := range all {
			g, err := New(r.rules)
			if err != nil {
				t.Fatalf("%s: %v", r.name, err)
			}
			want := false
			for _, a := range c.allow {
				want = want || a.name == r.name
			}
			if got := g.Allows(c.host); got != want {
				t.Errorf("%s: Allows(%q) = %v, want %v", r.name, c.host, got, want)
			}
		}
	}
}

func TestAllowsAny(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		hosts []string
		want  bool
	}{{nil, false}, {[]string{"a"}, false}, {[]string{"a", "*"}, true}} {
		g, err := New(Rules{Hosts: c.hosts, AnyIP: true, MachineName: true})
		if err != nil || g.AllowsAny() != c.want {
			t.Errorf("%q: AllowsAny %v, %v; want %v", c.hosts, g.AllowsAny(), err, c.want)
		}
	}
}

// TestNewRefuses: an entry that is not a host name is an error that
// quotes it and says what is wrong.
func TestNewRefuses(t *testing.T) {
	t.Parallel()
	for h, want := range map[string]string{
		"":                                   "is empty",
		"emulator:10780":                     "has a port",
		"[::1]:10780":                        "has a port",
		"[dev.example]":                      "not an IPv6 address",
		"[127.0.0.1]":                        "not an IPv6 address",
		"*.example.test":                     "wildcard",
		"a*":                                 "wildcard",
		"http://a.example/":                  "port",
		"a.example/x":                        `holds '/'`,
		"a b":                                `holds ' '`,
		"a..b":                               "empty or over-long label",
		".":                                  "not a host name",
		"..":                                 "not a host name",
		strings.Repeat("a", 64) + ".example": "over-long label",
	} {
		_, err := New(Rules{Hosts: []string{"ok.example", h}})
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "\""+h+"\"") {
			t.Errorf("%q: %v, want an error quoting it that says %q", h, err, want)
		}
	}
}
