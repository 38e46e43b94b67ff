package emulator

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/acsgo/acsidentity/internal/hmacauth"
	"github.com/acsgo/acsidentity/internal/wire"
)

// TestSignedHost: the signature covers the Host header as sent; a client
// that sends a default port but signs without it is accepted too.
func TestSignedHost(t *testing.T) {
	t.Parallel()
	_, c := start(t, &Options{AllowedHosts: []string{"*"}})
	resign := func(host, signed string) func(*http.Request) {
		return func(r *http.Request) {
			r.Host = host
			r.Header.Set("Authorization", hmacauth.AuthorizationPrefix+c.key.Signature(r.Method, r.URL.RequestURI(), r.Header.Get("x-ms-date"), signed, r.Header.Get("x-ms-content-sha256")))
		}
	}
	path := "/identities?api-version=2023-10-01"
	mustStatus(t, c.send(req{method: "POST", path: path, mutate: resign("contoso.communication.azure.com", "contoso.communication.azure.com")}), 201)
	mustStatus(t, c.send(req{method: "POST", path: path, mutate: resign("contoso.communication.azure.com:80", "contoso.communication.azure.com")}), 201)
	mustStatus(t, c.send(req{method: "POST", path: path, mutate: resign("contoso.communication.azure.com:8080", "contoso.communication.azure.com")}), 401)
	mustStatus(t, c.send(req{method: "POST", path: path, mutate: resign("a.example", "b.example")}), 401)
}

func TestShutdown(t *testing.T) {
	t.Parallel()
	file := t.TempDir() + "/s.json"
	srv, err := Start(&Options{DataFile: file})
	if err != nil {
		t.Fatal(err)
	}
	c := newClient(t, srv, "")
	id := c.createUser("2023-10-01")
	if err := srv.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	srv2, c2 := start(t, &Options{DataFile: file})
	_ = srv2
	r, _ := c2.issue(id, "2023-10-01", "chat")
	mustStatus(t, r, 200)
}

func TestThrottleCreateAndExchange(t *testing.T) {
	t.Parallel()
	clk := newClock()
	srv, c := start(t, &Options{Throttle: true, Now: clk.Now})
	th := srv.Emulator.throttle
	for range 1000 {
		th.allow("createUserAndToken", clk.Now())
	}
	r := c.send(req{method: "POST", path: "/identities?api-version=2023-10-01", body: `{"createTokenWithScopes":["chat"]}`})
	mustStatus(t, r, 429)
	mustStatus(t, c.send(req{method: "POST", path: "/identities?api-version=2023-10-01", body: `{}`}), 201)
	for range 500 {
		th.allow("exchangeTokens", clk.Now())
	}
	tok := fakeJWT(map[string]any{"aud": TeamsUserAudience, "appid": guid(1), "oid": guid(2), "tid": guid(3), "exp": clk.Now().Add(time.Hour).Unix()})
	r = c.send(req{method: "POST", path: "/teamsUser/:exchangeAccessToken?api-version=2023-10-01", body: wire.TeamsUserExchangeRequest{Token: tok, AppID: guid(1), UserID: guid(2)}})
	mustStatus(t, r, 429)
	if r.header.Get("Retry-After") == "" {
		t.Error("no Retry-After")
	}
}

func TestEntraListOptions(t *testing.T) {
	t.Parallel()
	srv, c := start(t, nil)
	const v = "2025-03-02-preview"
	var patch []string
	for i := range 5 {
		patch = append(patch, `"`+guid(100+i)+`":{"tenantId":"`+guid(1)+`","principalType":"user","clientIds":[]}`)
	}
	mustStatus(t, c.send(req{method: "PATCH", path: "/access/entra/assignments?api-version=" + v, ctype: "application/merge-patch+json", body: "{" + strings.Join(patch, ",") + "}"}), 200)
	r := c.send(req{method: "GET", path: "/access/entra/assignments?api-version=" + v + "&maxpagesize=2"})
	var page wire.EntraAssignmentList
	r.decode(t, &page)
	if len(page.Value) != 2 || !strings.Contains(page.NextLink, "maxpagesize=2") {
		t.Errorf("page %s", r.body)
	}
	r = c.send(req{method: "GET", path: strings.TrimPrefix(page.NextLink, srv.URL)})
	r.decode(t, &page)
	if len(page.Value) != 2 || page.Value[0].ObjectID != guid(102) {
		t.Errorf("second page %s", r.body)
	}
	r = c.send(req{method: "GET", path: "/access/entra/assignments?api-version=" + v})
	page = wire.EntraAssignmentList{}
	r.decode(t, &page)
	if len(page.Value) != 5 || page.NextLink != "" {
		t.Errorf("one page %s", r.body)
	}
	mustStatus(t, c.send(req{method: "GET", path: "/access/entra/assignments?api-version=" + v + "&skipToken=%%%"}), 400)
	for _, body := range []string{`{"nope":null}`, `{"` + guid(1) + `":5}`, `{"` + guid(1) + `":{"tenantId":"` + guid(1) + `","principalType":"user","clientIds":"x"}}`, `null`, `[]`} {
		if r := c.send(req{method: "PATCH", path: "/access/entra/assignments?api-version=" + v, ctype: "application/merge-patch+json", body: body}); r.status != 400 {
			t.Errorf("patch %s: %d", body, r.status)
		}
	}
}
