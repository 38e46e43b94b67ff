package emulator

import (
	"net/http"
	"strings"
	"testing"
)

// TestHostRefused: a server answers a foreign Host with 403
// HostNotAllowed, before anything else and whatever the route, on every
// address it listens on.
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

// TestHostFilterEveryAddress: the filter no longer depends on the address
// listened on (the rules themselves are pinned in internal/hostguard);
// "*" turns it off and a bad name fails Listen.
func TestHostFilterEveryAddress(t *testing.T) {
	t.Parallel()
	s, err := Listen(":0", &Options{AllowedHosts: []string{"emulator"}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Emulator.hosts == nil {
		t.Fatal("a server on every interface checks no Host")
	}
	for host, want := range map[string]bool{
		"evil.example:10780":  false,
		"localhost:10780":     true,
		"172.17.0.1:32768":    true,
		"emulator:10780":      true,
		"app.localhost:10780": false,
	} {
		if got := s.Emulator.hosts.allows(host); got != want {
			t.Errorf("Host %q: %v, want %v", host, got, want)
		}
	}
	if f, err := newHostFilter([]string{"a", "*"}); f != nil || err != nil {
		t.Errorf(`"*": %v, %v; want no filter`, f, err)
	}
	if _, err := Listen("127.0.0.1:0", &Options{AllowedHosts: []string{"emulator:10780"}}); err == nil || !strings.Contains(err.Error(), `AllowedHosts: allowed host "emulator:10780" has a port`) {
		t.Errorf("AllowedHosts with a port: %v", err)
	}
}
