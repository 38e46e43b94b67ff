package emulator

import (
	"strings"
	"testing"
	"time"

	"github.com/acsgo/acsidentity/internal/wire"
)

func TestTeamsUserExchange(t *testing.T) {
	t.Parallel()
	clk := newClock()
	srv, c := start(t, &Options{Now: clk.Now})
	app, user, tenant := guid(10), guid(11), guid(12)
	exp := clk.Now().Add(90 * time.Minute).Unix()
	good := map[string]any{"aud": TeamsUserAudience, "appid": app, "oid": user, "tid": tenant, "exp": exp}
	path := "/teamsUser/:exchangeAccessToken?api-version=2022-06-01"
	r := c.send(req{method: "POST", path: path, body: wire.TeamsUserExchangeRequest{Token: fakeJWT(good), AppID: app, UserID: user}})
	mustStatus(t, r, 200)
	var tok wire.AccessToken
	r.decode(t, &tok)
	if tok.ExpiresOn.Unix() != exp {
		t.Errorf("expiry %v does not match the Entra token's", tok.ExpiresOn)
	}
	if st := srv.Emulator.Introspect(tok.Token); st.Status != StatusValid || st.User != "8:orgid:"+user {
		t.Errorf("introspect %+v", st)
	}
	with := func(k string, v any) string {
		m := map[string]any{}
		for kk, vv := range good {
			m[kk] = vv
		}
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
		return fakeJWT(m)
	}
	// The service's answers, as recorded for each case (the official SDKs'
	// live tests): the token is checked first, then the required fields,
	// their form, and last whether they match the token.
	const invalid = "Provided access token is not valid."
	cases := []struct {
		name                  string
		body                  wire.TeamsUserExchangeRequest
		status                int
		code, target, message string
	}{
		{"wrong appId", wire.TeamsUserExchangeRequest{Token: fakeJWT(good), AppID: guid(99), UserID: user}, 400, "ValidationError", "appId", "AAD application is not the expected one."},
		{"wrong userId", wire.TeamsUserExchangeRequest{Token: fakeJWT(good), AppID: app, UserID: tenant}, 400, "ValidationError", "userId", "Provided AAD token issued for unexpected user."},
		{"malformed appId", wire.TeamsUserExchangeRequest{Token: fakeJWT(good), AppID: "invalid", UserID: user}, 400, "ValidationError", "appId", "Provided AppId has invalid format."},
		{"malformed userId", wire.TeamsUserExchangeRequest{Token: fakeJWT(good), AppID: app, UserID: "invalid"}, 400, "ValidationError", "userId", "Provided UserId has invalid format."},
		{"missing appId", wire.TeamsUserExchangeRequest{Token: fakeJWT(good), UserID: user}, 400, "ValidationError", "AppId", "AppId: The AppId field is required."},
		{"missing userId", wire.TeamsUserExchangeRequest{Token: fakeJWT(good), AppID: app}, 400, "ValidationError", "UserId", "UserId: The UserId field is required."},
		{"expired", wire.TeamsUserExchangeRequest{Token: with("exp", clk.Now().Unix()), AppID: app, UserID: user}, 401, "InvalidAccessToken", "", invalid},
		{"wrong audience", wire.TeamsUserExchangeRequest{Token: with("aud", "https://graph.microsoft.com"), AppID: app, UserID: user}, 401, "InvalidAccessToken", "", invalid},
		{"no oid", wire.TeamsUserExchangeRequest{Token: with("oid", nil), AppID: app, UserID: user}, 401, "InvalidAccessToken", "", invalid},
		{"not a JWT", wire.TeamsUserExchangeRequest{Token: "abc", AppID: app, UserID: user}, 401, "InvalidAccessToken", "", invalid},
		{"missing token", wire.TeamsUserExchangeRequest{AppID: app, UserID: user}, 401, "InvalidAccessToken", "", invalid},
		{"missing token and userId", wire.TeamsUserExchangeRequest{AppID: app}, 401, "InvalidAccessToken", "", invalid},
		{"malformed token, no userId", wire.TeamsUserExchangeRequest{Token: "invalid", AppID: app}, 401, "InvalidAccessToken", "", invalid},
	}
	for _, tc := range cases {
		r := c.send(req{method: "POST", path: path, body: tc.body})
		if r.status != tc.status {
			t.Errorf("%s: status %d %s", tc.name, r.status, r.body)
			continue
		}
		if e := r.errorBody(t); e.Code != tc.code || e.Target != tc.target || e.Message != tc.message {
			t.Errorf("%s: %+v", tc.name, e)
		}
	}
	// azp (v2 tokens) works like appid.
	v2 := fakeJWT(map[string]any{"aud": TeamsUserAudience, "azp": app, "oid": user, "tid": tenant, "exp": exp})
	mustStatus(t, c.send(req{method: "POST", path: path, body: wire.TeamsUserExchangeRequest{Token: v2, AppID: app, UserID: user}}), 200)
}

func TestTeamsExtension(t *testing.T) {
	t.Parallel()
	clk := newClock()
	srv, c := start(t, &Options{AllowBearer: true, Now: clk.Now})
	tenant, user, client := guid(20), guid(21), guid(22)
	const v = "2025-06-30"
	apath := "/access/teamsExtension/tenants/" + tenant + "/assignments/" + user + "?api-version=" + v
	mustStatus(t, c.send(req{method: "GET", path: apath}), 404)
	r := c.send(req{method: "PUT", path: apath, body: `{"principalType":"user","clientIds":["` + client + `"]}`})
	mustStatus(t, r, 201)
	var a wire.TeamsExtensionAssignment
	r.decode(t, &a)
	if a.ObjectID != user || a.TenantID != tenant || a.PrincipalType != "user" || len(a.ClientIDs) != 1 {
		t.Errorf("put %s", r.body)
	}
	mustStatus(t, c.send(req{method: "PUT", path: apath, body: `{"principalType":"user","clientIds":["` + client + `"]}`}), 200)
	g := c.send(req{method: "GET", path: apath})
	mustStatus(t, g, 200)
	for name, body := range map[string]string{
		"bad principalType": `{"principalType":"robot"}`,
		"no principalType":  `{}`,
		"bad clientId":      `{"principalType":"user","clientIds":["x"]}`,
	} {
		if r := c.send(req{method: "PUT", path: apath, body: body}); r.status != 400 {
			t.Errorf("%s: %d", name, r.status)
		}
	}
	mustStatus(t, c.send(req{method: "GET", path: "/access/teamsExtension/tenants/nope/assignments/" + user + "?api-version=" + v}), 400)

	xpath := "/access/teamsExtension/:exchangeAccessToken?api-version=" + v
	bearer := func(oid, appid string) string {
		return fakeJWT(map[string]any{"aud": CommunicationAudience, "exp": clk.Now().Add(time.Hour).Unix(), "tid": tenant, "oid": oid, "appid": appid})
	}
	x := c.send(req{method: "POST", path: xpath, body: `{}`, bearer: bearer(user, client)})
	mustStatus(t, x, 200)
	var res wire.AccessTokenResult
	x.decode(t, &res)
	wantID := "8:acs:" + DevelopmentResourceID + "_" + tenant + "_" + user
	if res.Identity.ID != wantID || res.AccessToken == nil {
		t.Fatalf("exchange %s", x.body)
	}
	if !res.AccessToken.ExpiresOn.Equal(clk.Now().Add(time.Hour).Truncate(time.Second)) {
		t.Errorf("expiry %v", res.AccessToken.ExpiresOn)
	}
	if st := srv.Emulator.Introspect(res.AccessToken.Token); st.Status != StatusValid || st.User != wantID {
		t.Errorf("introspect %+v", st)
	}
	// The extension user can have its tokens revoked like any identity.
	mustStatus(t, c.send(req{method: "POST", path: idPath(wantID, "/:revokeAccessTokens", v)}), 204)
	if st := srv.Emulator.Introspect(res.AccessToken.Token); st.Status != StatusRevoked {
		t.Errorf("after revoke %+v", st)
	}
	mustStatus(t, c.send(req{method: "POST", path: xpath, body: `{}`}), 403)                                   // HMAC caller
	mustStatus(t, c.send(req{method: "POST", path: xpath, body: `{}`, bearer: bearer(guid(23), client)}), 403) // no assignment
	mustStatus(t, c.send(req{method: "POST", path: xpath, body: `{}`, bearer: bearer(user, guid(24))}), 403)   // client not listed
	mustStatus(t, c.send(req{method: "DELETE", path: apath}), 204)
	mustStatus(t, c.send(req{method: "DELETE", path: apath}), 204)
	mustStatus(t, c.send(req{method: "GET", path: apath}), 404)
	mustStatus(t, c.send(req{method: "POST", path: xpath, body: `{}`, bearer: bearer(user, client)}), 403)
}

func TestEntra(t *testing.T) {
	t.Parallel()
	clk := newClock()
	srv, c := start(t, &Options{AllowBearer: true, Now: clk.Now, PageSize: 2})
	const v = "2025-03-02-preview"
	tenant, client := guid(30), guid(31)
	one := func(obj string) string { return "/access/entra/assignments/" + obj + "?api-version=" + v }
	put := func(obj, body string, want int) {
		t.Helper()
		mustStatus(t, c.send(req{method: "PUT", path: one(obj), body: body}), want)
	}
	put(guid(1), `{"tenantId":"`+tenant+`","principalType":"user","clientIds":[]}`, 201)
	put(guid(1), `{"tenantId":"`+tenant+`","principalType":"user","clientIds":["`+client+`"]}`, 200)
	put(guid(2), `{"tenantId":"`+tenant+`","principalType":"group","clientIds":[]}`, 201)
	put(tenant, `{"tenantId":"`+tenant+`","principalType":"tenant","clientIds":[]}`, 201)
	put(guid(4), `{"tenantId":"`+tenant+`","principalType":"user"}`, 400) // clientIds required
	put(guid(4), `{"tenantId":"`+tenant+`","principalType":"admin","clientIds":[]}`, 400)
	put(guid(4), `{"principalType":"user","clientIds":[]}`, 400)
	g := c.send(req{method: "GET", path: one(guid(1))})
	mustStatus(t, g, 200)
	var a wire.EntraAssignment
	g.decode(t, &a)
	if a.ObjectID != guid(1) || a.TenantID != tenant || a.ClientIDs[0] != client {
		t.Errorf("get %s", g.body)
	}

	// The list pages by PageSize with an absolute nextLink that a signed
	// request can follow.
	var all []wire.EntraAssignment
	next := "/access/entra/assignments?api-version=" + v
	pages := 0
	for next != "" {
		r := c.send(req{method: "GET", path: next})
		mustStatus(t, r, 200)
		var page wire.EntraAssignmentList
		r.decode(t, &page)
		all = append(all, page.Value...)
		next = ""
		if page.NextLink != "" {
			if !strings.HasPrefix(page.NextLink, srv.URL+"/access/entra/assignments?") {
				t.Fatalf("nextLink %q is not an absolute emulator URL", page.NextLink)
			}
			next = strings.TrimPrefix(page.NextLink, srv.URL)
		}
		pages++
	}
	if len(all) != 3 || pages != 2 {
		t.Errorf("%d assignments in %d pages", len(all), pages)
	}

	// Merge patch: remove one, change one, add one.
	p := c.send(req{method: "PATCH", path: "/access/entra/assignments?api-version=" + v, ctype: "application/merge-patch+json",
		body: `{"` + guid(2) + `":null,"` + guid(1) + `":{"clientIds":[]},"` + guid(5) + `":{"tenantId":"` + tenant + `","principalType":"user"}}`})
	mustStatus(t, p, 200)
	var list wire.EntraAssignmentList
	p.decode(t, &list)
	if len(list.Value) != 2 || list.NextLink == "" {
		t.Errorf("patch answer %s", p.body)
	}
	mustStatus(t, c.send(req{method: "GET", path: one(guid(2))}), 404)
	g = c.send(req{method: "GET", path: one(guid(1))})
	g.decode(t, &a)
	if len(a.ClientIDs) != 0 || a.PrincipalType != "user" {
		t.Errorf("merged %s", g.body)
	}
	// A bad entry rejects the whole patch.
	mustStatus(t, c.send(req{method: "PATCH", path: "/access/entra/assignments?api-version=" + v, ctype: "application/merge-patch+json",
		body: `{"` + guid(1) + `":null,"` + guid(6) + `":{"principalType":"user"}}`}), 400)
	mustStatus(t, c.send(req{method: "GET", path: one(guid(1))}), 200)
	mustStatus(t, c.send(req{method: "PATCH", path: "/access/entra/assignments?api-version=" + v, body: `{}`}), 415)

	// Exchanges: by user, by tenant, by group.
	xpath := "/access/entra/:exchangeAccessToken?api-version=" + v
	bearer := func(tid, oid string, groups ...string) string {
		return fakeJWT(map[string]any{"aud": CommunicationAudience, "exp": clk.Now().Add(2 * time.Hour).Unix(), "tid": tid, "oid": oid, "appid": client, "groups": groups})
	}
	x := c.send(req{method: "POST", path: xpath, body: `{}`, bearer: bearer(tenant, guid(1))})
	mustStatus(t, x, 200)
	var res wire.AccessTokenResult
	x.decode(t, &res)
	if res.Identity.ID != "8:acs:"+DevelopmentResourceID+"_"+tenant+"_"+guid(1) || res.AccessToken == nil {
		t.Errorf("exchange %s", x.body)
	}
	mustStatus(t, c.send(req{method: "POST", path: xpath, body: `{}`, bearer: bearer(tenant, guid(77))}), 200) // tenant assignment
	mustStatus(t, c.send(req{method: "DELETE", path: one(tenant)}), 204)
	mustStatus(t, c.send(req{method: "POST", path: xpath, body: `{}`, bearer: bearer(tenant, guid(77))}), 403)
	put(guid(8), `{"tenantId":"`+tenant+`","principalType":"group","clientIds":[]}`, 201)
	mustStatus(t, c.send(req{method: "POST", path: xpath, body: `{}`, bearer: bearer(tenant, guid(77), guid(8))}), 200)
	mustStatus(t, c.send(req{method: "POST", path: xpath, body: `{}`, bearer: bearer(guid(99), guid(1))}), 403) // other tenant
	mustStatus(t, c.send(req{method: "POST", path: xpath, body: `{}`}), 403)                                    // HMAC caller
}

// TestExchangeExpiryEdges: an Entra ID token's exp (a NumericDate, maybe
// fractional, maybe huge) becomes the expiry of an ACS token, which is a
// whole second in the service's four-digit-year form. Found by
// FuzzServeHTTP (seeds teams_exp_*, entra_exp_*).
func TestExchangeExpiryEdges(t *testing.T) {
	t.Parallel()
	clk := newClock() // 21:39:39.3244584
	srv, c := start(t, &Options{AllowBearer: true, Now: clk.Now})
	app, user, tenant := guid(40), guid(41), guid(42)
	now := clk.Now()
	teams := func(exp any) *response {
		claims := map[string]any{"aud": TeamsUserAudience, "appid": app, "oid": user, "tid": tenant, "exp": exp}
		return c.send(req{method: "POST", path: "/teamsUser/:exchangeAccessToken?api-version=2025-06-30",
			body: wire.TeamsUserExchangeRequest{Token: fakeJWT(claims), AppID: app, UserID: user}})
	}

	// Later than the year 9999: the token lasts until 9999-12-31T23:59:59Z,
	// which clients can parse, not until "10000-01-01...".
	r := teams(int64(253402300800))
	mustStatus(t, r, 200)
	if !strings.Contains(string(r.body), `"expiresOn":"9999-12-31T23:59:59+00:00"`) {
		t.Errorf("far-future exp: %s", r.body)
	}
	var tok wire.AccessToken
	r.decode(t, &tok)
	if st := srv.Emulator.Introspect(tok.Token); st.Status != StatusValid {
		t.Errorf("far-future exp: the token is %+v", st)
	}

	// An exp later in the current second: the ACS token would expire on
	// the whole second, before it was issued. The Entra token counts as
	// expired.
	thisSecond := float64(now.Unix()) + 0.9
	if got := teams(thisSecond).errorBody(t); got.Code != "InvalidAccessToken" {
		t.Errorf("exp within the current second: %+v", got)
	}
	r = teams(float64(now.Unix()) + 1)
	mustStatus(t, r, 200)
	r.decode(t, &tok)
	if st := srv.Emulator.Introspect(tok.Token); st.Status != StatusValid || st.ExpiresOn.Unix() != now.Unix()+1 {
		t.Errorf("exp in the next second: the token is %+v", st)
	}

	// The same for a bearer caller of the Entra exchange, whose token's
	// expiry bounds the ACS token's.
	mustStatus(t, c.send(req{method: "PUT", path: "/access/entra/assignments/" + user + "?api-version=2025-03-02-preview",
		body: `{"tenantId":"` + tenant + `","principalType":"user","clientIds":[]}`}), 201)
	bearer := func(exp any) string {
		return fakeJWT(map[string]any{"aud": CommunicationAudience, "oid": user, "tid": tenant, "appid": app, "exp": exp})
	}
	if r := c.send(req{method: "POST", path: "/access/entra/:exchangeAccessToken?api-version=2025-03-02-preview", body: "{}", bearer: bearer(thisSecond)}); r.status != 401 {
		t.Errorf("bearer exp within the current second: %d %s", r.status, r.body)
	}
	r = c.send(req{method: "POST", path: "/access/entra/:exchangeAccessToken?api-version=2025-03-02-preview", body: "{}", bearer: bearer(1e300)})
	mustStatus(t, r, 200)
	var res wire.AccessTokenResult
	r.decode(t, &res)
	if st := srv.Emulator.Introspect(res.AccessToken.Token); st.Status != StatusValid || !st.ExpiresOn.Equal(now.Add(24*time.Hour).Truncate(time.Second)) {
		t.Errorf("bearer with a huge exp: the token is %+v", st)
	}
}
