package emulator

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/acsgo/acsidentity/internal/wire"
)

// expiresOnRE is the service's date-time form: .NET's round-trip form with
// the fraction's trailing zeros trimmed, so never ".0000000".
var expiresOnRE = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{0,6}[1-9])?\+00:00$`)

func TestCreateEveryVersion(t *testing.T) {
	t.Parallel()
	_, c := start(t, nil)
	for _, v := range wire.Versions {
		r := c.send(req{method: "POST", path: "/identities?api-version=" + v, mutate: func(h *http.Request) {
			h.Header.Set("x-ms-client-request-id", "req-"+v)
		}})
		mustStatus(t, r, 201)
		if got := r.header.Get("Content-Type"); got != "application/json; charset=utf-8" {
			t.Errorf("%s: Content-Type %q", v, got)
		}
		if r.header.Get("MS-CV") == "" {
			t.Errorf("%s: no MS-CV", v)
		}
		if got := r.header.Get("api-supported-versions"); got != strings.Join(wire.Versions, ", ") {
			t.Errorf("%s: api-supported-versions %q", v, got)
		}
		if got := r.header.Get("x-ms-client-request-id"); got != "req-"+v {
			t.Errorf("%s: x-ms-client-request-id %q", v, got)
		}
		var res map[string]any
		r.decode(t, &res)
		id := res["identity"].(map[string]any)["id"].(string)
		if !regexp.MustCompile(`^8:acs:` + DevelopmentResourceID + `_[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`).MatchString(id) {
			t.Errorf("%s: id %q", v, id)
		}
		if _, ok := res["accessToken"]; ok {
			t.Errorf("%s: accessToken without scopes: %s", v, r.body)
		}
	}
	// Two MS-CVs differ.
	a := c.send(req{method: "POST", path: "/identities?api-version=2023-10-01"})
	b := c.send(req{method: "POST", path: "/identities?api-version=2023-10-01"})
	if a.header.Get("MS-CV") == b.header.Get("MS-CV") {
		t.Error("MS-CV is not random")
	}
}

func TestCreateWithTokenClaims(t *testing.T) {
	t.Parallel()
	clk := newClock()
	srv, c := start(t, &Options{Now: clk.Now})
	r := c.send(req{method: "POST", path: "/identities?api-version=2025-06-30", body: `{"createTokenWithScopes":["chat","voip","chat.join","chat.join.limited","voip.join","chat"],"expiresInMinutes":60}`})
	mustStatus(t, r, 201)
	var raw struct {
		Identity    map[string]any    `json:"identity"`
		AccessToken map[string]string `json:"accessToken"`
	}
	r.decode(t, &raw)
	if len(raw.Identity) != 1 {
		t.Errorf("GA identity has more than id: %v", raw.Identity)
	}
	if !expiresOnRE.MatchString(raw.AccessToken["expiresOn"]) {
		t.Errorf("expiresOn %q", raw.AccessToken["expiresOn"])
	}
	var res wire.AccessTokenResult
	r.decode(t, &res)
	want := clk.Now().Add(time.Hour) // the clock is on a whole tick (100 ns)
	if !res.AccessToken.ExpiresOn.Equal(want) {
		t.Errorf("expiresOn %v, want %v", res.AccessToken.ExpiresOn, want)
	}
	parts := strings.Split(res.AccessToken.Token, ".")
	if len(parts) != 3 {
		t.Fatalf("token is not a JWT")
	}
	hb, _ := base64.RawURLEncoding.DecodeString(parts[0])
	var hdr map[string]string
	json.Unmarshal(hb, &hdr)
	if hdr["alg"] != "EdDSA" || hdr["typ"] != "JWT" || hdr["kid"] == "" {
		t.Errorf("header %s", hb)
	}
	sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
	if !ed25519.Verify(srv.Emulator.PublicKey().(ed25519.PublicKey), []byte(parts[0]+"."+parts[1]), sig) {
		t.Error("signature does not verify with PublicKey")
	}
	pb, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var cl map[string]any
	json.Unmarshal(pb, &cl)
	iat := clk.Now().Unix()
	checks := map[string]any{
		"skypeid":    strings.TrimPrefix(res.Identity.ID, "8:"),
		"scp":        float64(0x700 | 0x800 | 0x1000 | 0x2000 | 0x4000),
		"csi":        fmt.Sprint(iat),
		"iat":        float64(iat),
		"exp":        float64(want.Unix()), // expiresOn truncated to the second
		"acsScope":   "chat,voip,chat.join,chat.join.limited,voip.join",
		"resourceId": DevelopmentResourceID,
	}
	for k, v := range checks {
		if cl[k] != v {
			t.Errorf("claim %s = %v, want %v", k, cl[k], v)
		}
	}
	if cl["jti"] == "" || cl["jti"] == nil {
		t.Error("no jti")
	}
	// Default lifetime is 24 hours; tokens differ by jti.
	r1, t1 := c.issue(res.Identity.ID, "2021-03-07", "chat")
	mustStatus(t, r1, 200)
	_, t2 := c.issue(res.Identity.ID, "2021-03-07", "chat")
	if !t1.ExpiresOn.Equal(clk.Now().Add(24 * time.Hour)) {
		t.Errorf("default expiry %v", t1.ExpiresOn)
	}
	if t1.Token == t2.Token {
		t.Error("two tokens are identical")
	}
}

func TestValidation(t *testing.T) {
	t.Parallel()
	_, c := start(t, nil)
	id := c.createUser("2023-10-01")
	issue := idPath(id, "/:issueAccessToken", "")
	cases := []struct {
		name, method, path, body string
		status                   int
		code, target, message    string
	}{
		{"bad scope", "POST", "/identities?api-version=2023-10-01", `{"createTokenWithScopes":["chat","admin"]}`, 400, "ValidationError", "CreateTokenWithScopes", "Scope 'admin' is invalid"},
		{"join scope on 2022-10-01", "POST", "/identities?api-version=2022-10-01", `{"createTokenWithScopes":["chat.join"]}`, 400, "ValidationError", "CreateTokenWithScopes", "not supported by api-version 2022-10-01"},
		{"join scope on issue 2021-03-07", "POST", issue + "2021-03-07", `{"scopes":["voip.join"]}`, 400, "ValidationError", "Scopes", "not supported"},
		{"expires 1441", "POST", "/identities?api-version=2022-10-01", `{"createTokenWithScopes":["chat"],"expiresInMinutes":1441}`, 400, "ValidationError", "ExpiresInMinutes", "ExpiresInMinutes value 1441 is invalid. Value must be within the [60, 1440] interval."},
		{"expires 59 on issue", "POST", issue + "2025-06-30", `{"scopes":["chat"],"expiresInMinutes":59}`, 400, "ValidationError", "ExpiresInMinutes", "ExpiresInMinutes value 59 is invalid. Value must be within the [60, 1440] interval."},
		{"expires on 2021-03-07", "POST", issue + "2021-03-07", `{"scopes":["chat"],"expiresInMinutes":60}`, 400, "ValidationError", "ExpiresInMinutes", "not supported by api-version 2021-03-07"},
		{"expires on create 2022-06-01", "POST", "/identities?api-version=2022-06-01", `{"createTokenWithScopes":["chat"],"expiresInMinutes":60}`, 400, "ValidationError", "ExpiresInMinutes", "not supported"},
		{"empty scopes", "POST", issue + "2023-10-01", `{"scopes":[]}`, 400, "ValidationError", "scopes", "Invalid scopes - Scopes field is required."},
		{"missing scopes", "POST", issue + "2023-10-01", `{}`, 400, "ValidationError", "scopes", "Invalid scopes - Scopes field is required."},
		{"null scopes on 2022-10-01", "POST", issue + "2022-10-01", `{"scopes":null,"expiresInMinutes":null}`, 400, "ValidationError", "Scopes", "Scopes: The Scopes field is required."},
		{"empty scopes on 2021-03-07", "POST", issue + "2021-03-07", `{"scopes":[]}`, 400, "ValidationError", "Scopes", "Scopes: The Scopes field is required."},
		{"no body on issue", "POST", issue + "2023-10-01", ``, 400, "ValidationError", "", "required"},
		{"customId on 2023-10-01", "POST", "/identities?api-version=2023-10-01", `{"customId":"alice"}`, 400, "ValidationError", "CustomId", "not supported by api-version 2023-10-01"},
		{"customId on 2025-06-30", "POST", "/identities?api-version=2025-06-30", `{"customId":"alice"}`, 400, "ValidationError", "CustomId", "not supported"},
		{"empty customId", "POST", "/identities?api-version=2025-03-02-preview", `{"customId":""}`, 400, "ValidationError", "CustomId", "[1, 256]"},
		{"long customId", "POST", "/identities?api-version=2025-03-02-preview", `{"customId":"` + strings.Repeat("x", 257) + `"}`, 400, "ValidationError", "CustomId", "257"},
		{"malformed JSON", "POST", "/identities?api-version=2023-10-01", `{"createTokenWithScopes":`, 400, "ValidationError", "", "not valid JSON"},
		{"wrong JSON type", "POST", issue + "2023-10-01", `{"scopes":"chat"}`, 400, "ValidationError", "Scopes", "wrong JSON type"},
		{"unknown identity", "POST", idPath("8:acs:"+DevelopmentResourceID+"_00000000-0000-0000-0000-000000000000", "/:issueAccessToken", "2023-10-01"), `{"scopes":["chat"]}`, 404, "IdentityNotFound", "", "was not found"},
		{"missing api-version", "POST", "/identities", `{}`, 400, "MissingApiVersionParameter", "", "api-version"},
		{"unknown api-version", "POST", "/identities?api-version=2020-07-20-preview2", `{}`, 400, "UnsupportedApiVersion", "", "'2020-07-20-preview2'"},
		{"get on GA", "GET", idPath(id, "", "2025-06-30"), ``, 400, "UnsupportedApiVersion", "", "'2025-06-30'"},
		{"teams user on 2021-03-07", "POST", "/teamsUser/:exchangeAccessToken?api-version=2021-03-07", `{"token":"a","appId":"b","userId":"c"}`, 400, "UnsupportedApiVersion", "", "2021-03-07"},
		{"teams extension on 2023-10-01", "GET", "/access/teamsExtension/tenants/" + guid(1) + "/assignments/" + guid(2) + "?api-version=2023-10-01", ``, 400, "UnsupportedApiVersion", "", "2023-10-01"},
		{"entra on 2025-06-30", "GET", "/access/entra/assignments?api-version=2025-06-30", ``, 400, "UnsupportedApiVersion", "", "2025-06-30"},
		{"unknown path", "GET", "/nothing?api-version=2023-10-01", ``, 404, "NotFound", "", "not found"},
		{"unknown action", "POST", idPath(id, "/:explode", "2023-10-01"), `{}`, 404, "NotFound", "", "not found"},
		{"wrong method", "PUT", "/identities?api-version=2023-10-01", `{}`, 405, "MethodNotAllowed", "", "PUT"},
		{"wrong content type", "POST", "/identities?api-version=2023-10-01", `{}`, 415, "UnsupportedMediaType", "", "text/plain"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ct := ""
			if tc.name == "wrong content type" {
				ct = "text/plain"
			}
			r := c.send(req{method: tc.method, path: tc.path, body: tc.body, ctype: ct})
			mustStatus(t, r, tc.status)
			e := r.errorBody(t)
			if e.Code != tc.code || e.Target != tc.target || !strings.Contains(e.Message, tc.message) {
				t.Errorf("got %+v, want code %s target %q message containing %q", e, tc.code, tc.target, tc.message)
			}
			if tc.name == "expires 1441" && string(r.body) != `{"error":{"code":"ValidationError","message":"ExpiresInMinutes value 1441 is invalid. Value must be within the [60, 1440] interval.","target":"ExpiresInMinutes"}}` {
				t.Errorf("body %s", r.body)
			}
			if tc.status == 405 && r.header.Get("Allow") != "POST" {
				t.Errorf("Allow %q", r.header.Get("Allow"))
			}
		})
	}
}

func guid(n int) string { return fmt.Sprintf("%08x-0000-4000-8000-%012x", n, n) }

func TestIssueRevokeDelete(t *testing.T) {
	t.Parallel()
	srv, c := start(t, nil)
	e := srv.Emulator
	const v = "2025-03-02-preview"
	id := c.createUser(v)
	// The escaped form of the path also works with a %3A action.
	r := c.send(req{method: "POST", path: "/identities/" + strings.ReplaceAll(id, ":", "%3A") + "/%3AissueAccessToken?api-version=" + v, body: `{"scopes":["chat"]}`})
	mustStatus(t, r, 200)
	var old wire.AccessToken
	r.decode(t, &old)
	if st := e.Introspect(old.Token); st.Status != StatusValid || st.User != id || len(st.Scopes) != 1 || !st.ExpiresOn.Equal(old.ExpiresOn.Truncate(time.Second)) {
		t.Fatalf("introspect %+v", st)
	}
	g := c.send(req{method: "GET", path: idPath(id, "", v)})
	mustStatus(t, g, 200)
	var ident wire.Identity
	g.decode(t, &ident)
	if ident.ID != id || ident.LastTokenIssuedAt == nil {
		t.Errorf("get %s", g.body)
	}
	mustStatus(t, c.send(req{method: "POST", path: idPath(id, "/:revokeAccessTokens", v)}), 204)
	if st := e.Introspect(old.Token); st.Status != StatusRevoked {
		t.Errorf("after revoke: %+v", st)
	}
	_, fresh := c.issue(id, v, "voip")
	if st := e.Introspect(fresh.Token); st.Status != StatusValid {
		t.Errorf("token issued after revoke: %+v", st)
	}
	d := c.send(req{method: "DELETE", path: idPath(id, "", v)})
	mustStatus(t, d, 204)
	if len(d.body) != 0 {
		t.Errorf("204 with a body")
	}
	if st := e.Introspect(fresh.Token); st.Status != StatusDeleted {
		t.Errorf("after delete: %+v", st)
	}
	for _, rq := range []req{
		{method: "DELETE", path: idPath(id, "", v)},
		{method: "GET", path: idPath(id, "", v)},
		{method: "POST", path: idPath(id, "/:revokeAccessTokens", v)},
		{method: "POST", path: idPath(id, "/:issueAccessToken", v), body: `{"scopes":["chat"]}`},
	} {
		r := c.send(rq)
		mustStatus(t, r, 404)
		if r.errorBody(t).Code != "IdentityNotFound" {
			t.Errorf("%s: %s", rq.method, r.body)
		}
	}
	if st := e.Introspect("not.a.token"); st.Status != StatusInvalid {
		t.Errorf("garbage: %+v", st)
	}
	other, _ := New(nil)
	if st := other.Introspect(fresh.Token); st.Status != StatusInvalid {
		t.Errorf("another emulator's token: %+v", st)
	}
}

func TestExpiredToken(t *testing.T) {
	t.Parallel()
	clk := newClock()
	srv, c := start(t, &Options{Now: clk.Now})
	id := c.createUser("2023-10-01")
	_, tok := c.issue(id, "2023-10-01", "chat")
	clk.Add(24*time.Hour - time.Second)
	if st := srv.Emulator.Introspect(tok.Token); st.Status != StatusValid {
		t.Errorf("just before expiry: %+v", st)
	}
	clk.Add(time.Second)
	if st := srv.Emulator.Introspect(tok.Token); st.Status != StatusExpired {
		t.Errorf("at expiry: %+v", st)
	}
}

func TestCustomID(t *testing.T) {
	t.Parallel()
	_, c := start(t, nil)
	const v = "2025-03-02-preview"
	create := func(body string) wire.AccessTokenResult {
		r := c.send(req{method: "POST", path: "/identities?api-version=" + v, body: body})
		mustStatus(t, r, 201)
		var res wire.AccessTokenResult
		r.decode(t, &res)
		return res
	}
	a := create(`{"customId":"sally@contoso.com"}`)
	if a.Identity.CustomID != "sally@contoso.com" || a.Identity.LastTokenIssuedAt != nil {
		t.Errorf("first create %+v", a.Identity)
	}
	b := create(`{"customId":"sally@contoso.com","createTokenWithScopes":["chat"]}`)
	if b.Identity.ID != a.Identity.ID || b.Identity.CustomID != "sally@contoso.com" || b.Identity.LastTokenIssuedAt == nil || b.AccessToken == nil {
		t.Errorf("second create %+v", b)
	}
	if create(`{"customId":"someone-else"}`).Identity.ID == a.Identity.ID {
		t.Error("a different customId gave the same identity")
	}
	g := c.send(req{method: "GET", path: idPath(a.Identity.ID, "", v)})
	var ident wire.Identity
	g.decode(t, &ident)
	if ident.CustomID != "sally@contoso.com" || ident.LastTokenIssuedAt == nil {
		t.Errorf("get %s", g.body)
	}
	// Deleting frees the customId.
	mustStatus(t, c.send(req{method: "DELETE", path: idPath(a.Identity.ID, "", v)}), 204)
	if create(`{"customId":"sally@contoso.com"}`).Identity.ID == a.Identity.ID {
		t.Error("a deleted identity came back")
	}
	create(`{"customId":"` + strings.Repeat("é", 256) + `"}`)
}

func TestCustomIDConcurrent(t *testing.T) {
	t.Parallel()
	srv, c := start(t, nil)
	var wg sync.WaitGroup
	ids := make([]string, 50)
	for i := range ids {
		wg.Go(func() {
			r := c.send(req{method: "POST", path: "/identities?api-version=2025-03-02-preview", body: `{"customId":"the-one","createTokenWithScopes":["chat"]}`})
			if r.status != 201 {
				t.Errorf("status %d %s", r.status, r.body)
				return
			}
			var res wire.AccessTokenResult
			r.decode(t, &res)
			ids[i] = res.Identity.ID
		})
	}
	wg.Wait()
	for _, id := range ids {
		if id != ids[0] {
			t.Fatalf("two identities for one customId: %s and %s", ids[0], id)
		}
	}
	if n := srv.Emulator.store.count(); n != 1 {
		t.Fatalf("%d identities", n)
	}
}

func TestIdentitiesListing(t *testing.T) {
	t.Parallel()
	srv, c := start(t, nil)
	const v = "2025-03-02-preview"
	plain := c.createUser(v)
	r := c.send(req{method: "POST", path: "/identities?api-version=" + v, body: `{"customId":"listed"}`})
	mustStatus(t, r, 201)
	var custom wire.AccessTokenResult
	r.decode(t, &custom)
	mustStatus(t, c.send(req{method: "DELETE", path: idPath(plain, "", v)}), 204)

	want := []IdentityInfo{{ID: plain, Deleted: true}, {ID: custom.Identity.ID, CustomID: "listed"}}
	if want[0].ID > want[1].ID {
		want[0], want[1] = want[1], want[0]
	}
	if got := srv.Emulator.Identities(); !reflect.DeepEqual(got, want) {
		t.Fatalf("Identities() = %+v, want %+v", got, want)
	}
}

// An identity of another ACS resource is 401 IdentityNotOwned on every
// operation that names one, whether the caller signs with the key or uses
// Entra ID (recorded); one of this resource that does not exist stays 404.
func TestIdentityOfAnotherResource(t *testing.T) {
	t.Parallel()
	clk := newClock()
	_, c := start(t, &Options{AllowBearer: true, Now: clk.Now})
	const v = "2025-03-02-preview"
	other := "8:acs:" + guid(77) + "_00000029-9a6b-4f1e-8c2d-3e4f5a6b7c8d"
	missing := "8:acs:" + DevelopmentResourceID + "_00000029-9a6b-4f1e-8c2d-3e4f5a6b7c8d"
	bearer := fakeJWT(map[string]any{"aud": CommunicationAudience, "exp": clk.Now().Add(time.Hour).Unix(), "tid": guid(1), "oid": guid(2)})
	ops := []struct{ method, rest, body string }{
		{"POST", "/:issueAccessToken", `{"scopes":["chat"]}`},
		{"POST", "/:issueAccessToken", `{"scopes":[]}`}, // ownership comes before validation
		{"POST", "/:revokeAccessTokens", ``},
		{"DELETE", "", ``},
		{"GET", "", ``},
	}
	for _, op := range ops {
		for _, auth := range []string{"", bearer} {
			what := op.method + " " + op.rest + " " + op.body
			if auth != "" {
				what += " (Entra ID)"
			}
			r := c.send(req{method: op.method, path: idPath(other, op.rest, v), body: op.body, bearer: auth})
			if r.status != 401 {
				t.Errorf("%s: status %d %s", what, r.status, r.body)
				continue
			}
			if string(r.body) != `{"error":{"code":"IdentityNotOwned","message":"Provided identity doesn't belong to the resource."}}` {
				t.Errorf("%s: body %s", what, r.body)
			}
			if ct := r.header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("%s: Content-Type %q", what, ct)
			}
			if op.body == `{"scopes":[]}` {
				continue
			}
			if r := c.send(req{method: op.method, path: idPath(missing, op.rest, v), body: op.body, bearer: auth}); r.status != 404 || r.errorBody(t).Code != "IdentityNotFound" {
				t.Errorf("%s of a missing identity of this resource: %d %s", what, r.status, r.body)
			}
		}
	}
	// IDs that are not 8:acs:<GUID>_... of another resource are not found.
	for _, id := range []string{"8:acs:not-a-guid_1", "8:orgid:" + guid(3), "8:spool:whatever", "someone"} {
		if r := c.send(req{method: "DELETE", path: idPath(id, "", v)}); r.status != 404 {
			t.Errorf("delete %q: %d %s", id, r.status, r.body)
		}
	}
}

// lastTokenIssuedAt is whole seconds with no fraction, in the create and
// the get answers of the preview (recorded: 2025-04-14T15:32:27+00:00),
// while expiresOn keeps the sub-second part.
func TestLastTokenIssuedAtForm(t *testing.T) {
	t.Parallel()
	clk := newClock() // 21:39:39.3244584
	_, c := start(t, &Options{Now: clk.Now})
	const v = "2025-03-02-preview"
	r := c.send(req{method: "POST", path: "/identities?api-version=" + v, body: `{"customId":"form","createTokenWithScopes":["chat"]}`})
	mustStatus(t, r, 201)
	var created struct {
		Identity    map[string]string `json:"identity"`
		AccessToken map[string]string `json:"accessToken"`
	}
	r.decode(t, &created)
	if got := created.Identity["lastTokenIssuedAt"]; got != "2025-07-10T21:39:39+00:00" {
		t.Errorf("create: lastTokenIssuedAt %q", got)
	}
	if got := created.AccessToken["expiresOn"]; got != "2025-07-11T21:39:39.3244584+00:00" {
		t.Errorf("create: expiresOn %q", got)
	}
	g := c.send(req{method: "GET", path: idPath(created.Identity["id"], "", v)})
	mustStatus(t, g, 200)
	var got map[string]string
	g.decode(t, &got)
	if got["lastTokenIssuedAt"] != "2025-07-10T21:39:39+00:00" || got["customId"] != "form" {
		t.Errorf("get: %s", g.body)
	}
}
