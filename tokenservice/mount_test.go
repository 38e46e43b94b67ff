package tokenservice_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"

	"github.com/acsgo/acsidentity/emulator"
	"github.com/acsgo/acsidentity/tokenservice"
)

// TestStripPrefix: a Service under http.StripPrefix("/acs", svc) in a plain
// ServeMux, whose Authenticate returns a Caller, serves /acs/token,
// /acs/user and /acs/token/teams, and the Teams exchange uses the caller's
// Entra object ID without a second check.
func TestStripPrefix(t *testing.T) {
	t.Parallel()
	em := newEmulator(t)
	teamsUser, teamsBody := teamsFixture()
	authCalls := 0
	svc := newBareService(t, inProcessACS(t, em), &tokenservice.Options{
		Authenticate: func(r *http.Request) (tokenservice.Caller, error) {
			authCalls++
			if id := r.Header.Get("X-User"); id != "" {
				return tokenservice.Caller{ID: id, EntraObjectID: r.Header.Get("X-Oid")}, nil
			}
			return tokenservice.Caller{}, tokenservice.ErrNoCredentials
		},
	})
	mux := http.NewServeMux()
	mux.Handle("/acs/", http.StripPrefix("/acs", svc))
	alice := map[string]string{"X-User": "alice", "X-Oid": teamsUser}

	tb := wantToken(t, "GET /acs/token", serve(mux, "GET", "/acs/token?scopes=chat", alice, ""))
	var u struct {
		CommunicationUserID string `json:"communicationUserId"`
	}
	res := serve(mux, "GET", "/acs/user", alice, "")
	if readBody(t, res, &u); res.StatusCode != 200 || u.CommunicationUserID != tb.User.CommunicationUserID {
		t.Fatalf("GET /acs/user: %d %+v, want alice's %s", res.StatusCode, u, tb.User.CommunicationUserID)
	}
	if ct := res.Header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
		t.Errorf("GET /acs/user: Content-Type %q", ct)
	}
	authCalls = 0
	teams := wantToken(t, "POST /acs/token/teams", serve(mux, "POST", "/acs/token/teams", alice, teamsBody("")))
	if st := em.Introspect(teams.Token); st.Status != emulator.StatusValid || st.User != "8:orgid:"+teamsUser {
		t.Errorf("the Teams token is %+v", st)
	}
	if authCalls != 1 {
		t.Errorf("the Teams exchange authenticated the caller %d times, want once", authCalls)
	}
	other := map[string]string{"X-User": "bob", "X-Oid": "aaaaaaaa-5a43-4c1e-9d7e-2f64c1a0b9d3"}
	wantError(t, "another user's Teams token", serve(mux, "POST", "/acs/token/teams", other, teamsBody(teamsUser)), 403, "Forbidden")

	if res := serve(mux, "DELETE", "/acs/user", alice, ""); res.StatusCode != 204 {
		t.Fatalf("DELETE /acs/user: %d %s", res.StatusCode, readBody(t, res, nil))
	}
	if st := em.Introspect(tb.Token); st.Status != emulator.StatusDeleted {
		t.Errorf("alice's token after DELETE: %s", st.Status)
	}
	if res := serve(mux, "GET", "/token", alice, ""); res.StatusCode != 404 {
		t.Errorf("GET /token, outside the mount: %d, want the mux's 404", res.StatusCode)
	}
}

// TestMountAnywhere: the same Service answers under each way of mounting
// it, with the prefix stated once, and a path it does not serve is a 404
// that names the paths it does.
func TestMountAnywhere(t *testing.T) {
	t.Parallel()
	em := newEmulator(t)
	svc := newBareService(t, inProcessACS(t, em), nil)

	pattern := http.NewServeMux()
	pattern.Handle("/acs/", svc)
	methodPattern := http.NewServeMux()
	methodPattern.Handle("GET /acs/", svc)
	wildcard := http.NewServeMux()
	wildcard.Handle("/t/{tenant}/acs/{rest...}", svc)
	exact := http.NewServeMux()
	exact.Handle("/acs/token", svc)
	strip := http.NewServeMux()
	strip.Handle("/acs/", http.StripPrefix("/acs", svc))
	router := chi.NewRouter()
	router.Mount("/acs", svc)
	nested := chi.NewRouter()
	nested.Route("/v1", func(r chi.Router) { r.Mount("/acs", svc) })

	for _, tc := range []struct {
		name, token, notFound, hint string
		h                           http.Handler
	}{
		{"ServeMux pattern", "/acs/token", "/acs/tokens", "/acs followed by", pattern},
		{"ServeMux pattern with a method", "/acs/token", "/acs/x/token", "/acs followed by", methodPattern},
		{"ServeMux wildcards", "/t/contoso/acs/token", "/t/contoso/acs/x/token", "/t/contoso/acs followed by", wildcard},
		{"ServeMux exact path", "/acs/token", "", "", exact},
		{"http.StripPrefix", "/acs/token", "/acs/acs/token", "serves /token", strip},
		{"chi Mount", "/acs/token", "/acs/x/token", "/acs followed by", router},
		{"chi nested Mount", "/v1/acs/token", "/v1/acs/user/token", "/v1/acs followed by", nested},
		{"the server's handler", "/token", "/api/token", "serves /token", svc},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tb := wantToken(t, tc.token, serve(tc.h, "GET", tc.token, map[string]string{tokenservice.DevCallerHeader: "mia"}, ""))
			if tb.User == nil {
				t.Fatal("no user")
			}
			if tc.notFound == "" {
				return
			}
			res := serve(tc.h, "GET", tc.notFound, nil, "")
			var e errorBody
			readBody(t, res, &e)
			if res.StatusCode != 404 || e.Error.Code != tokenservice.CodeNotFound || !strings.Contains(e.Error.Message, tc.hint) || !strings.Contains(e.Error.Message, "/token, /token/teams and /user") {
				t.Errorf("GET %s: %d %+v, want 404 NotFound that names the paths (%q)", tc.notFound, res.StatusCode, e, tc.hint)
			}
		})
	}
}

// TestUnicodeFoldingNeverMatches: the endpoints' paths match exactly, or
// up to ASCII case with CaseInsensitivePaths; a Unicode character that
// folds to an ASCII letter (U+212A KELVIN SIGN to k, U+017F LONG S to s)
// never does, nor does another spelling of the path (%6B for k, %2F for
// /), so a proxy rule on /api/user cannot be bypassed. (The first
// version folded Unicode: both answered, and the DELETE deleted the
// caller.)
func TestUnicodeFoldingNeverMatches(t *testing.T) {
	t.Parallel()
	for _, fold := range []bool{false, true} {
		em := newEmulator(t)
		svc := newBareService(t, inProcessACS(t, em), &tokenservice.Options{AllowAnonymous: true, DevelopmentCallers: true, CaseInsensitivePaths: fold})
		h := http.StripPrefix("/api", svc)
		dev := map[string]string{tokenservice.DevCallerHeader: "nina"}
		wantToken(t, "a token for nina", serve(h, "GET", "/api/token", dev, ""))
		for _, tc := range []struct{ method, path string }{
			{"GET", "/api/to%E2%84%AAen"},
			{"DELETE", "/api/u%C5%BFer"},
			{"GET", "/api/TO%E2%84%AAEN"},
			{"POST", "/api/token/teams%C4%B0"},
			{"GET", "/api/to%6Ben"},
			{"POST", "/api/token%2Fteams"},
			{"DELETE", "/api/%75ser"},
		} {
			wantError(t, tc.method+" "+tc.path, serve(h, tc.method, tc.path, dev, ""), 404, tokenservice.CodeNotFound)
		}
		if n := len(em.Identities()); n != 1 {
			t.Errorf("CaseInsensitivePaths %v: %d identities, want nina's alone", fold, n)
		}
		upper := serve(h, "GET", "/api/TOKEN", dev, "")
		if fold {
			wantToken(t, "GET /api/TOKEN, folding ASCII", upper)
		} else {
			wantError(t, "GET /api/TOKEN, exact", upper, 404, tokenservice.CodeNotFound)
		}
	}
}

// TestDevelopmentCallersApart: a development caller (X-Caller-Id: alice)
// and an authenticated caller whose ID is what the first version hashed
// for her ("dev\x00\x00alice") do not share an identity.
func TestDevelopmentCallersApart(t *testing.T) {
	t.Parallel()
	em := newEmulator(t)
	h := newService(t, inProcessACS(t, em), &tokenservice.Options{
		AllowAnonymous: true, DevelopmentCallers: true,
		Authenticate: func(r *http.Request) (tokenservice.Caller, error) {
			if id := r.Header.Get("X-User"); id != "" {
				return tokenservice.Caller{ID: id}, nil
			}
			return tokenservice.Caller{}, tokenservice.ErrNoCredentials
		},
	})
	dev := wantToken(t, "development alice", serve(h, "GET", "/api/token", map[string]string{tokenservice.DevCallerHeader: "alice"}, ""))
	signedIn := wantToken(t, "authenticated dev\\0\\0alice", serve(h, "GET", "/api/token", map[string]string{"X-User": "dev\x00\x00alice"}, ""))
	if dev.User.CommunicationUserID == signedIn.User.CommunicationUserID {
		t.Fatalf("a development caller and an authenticated one share identity %s", dev.User.CommunicationUserID)
	}
	again := wantToken(t, "development alice again", serve(h, "GET", "/api/token", map[string]string{tokenservice.DevCallerHeader: "alice"}, ""))
	if again.User.CommunicationUserID != dev.User.CommunicationUserID {
		t.Error("the development caller lost her identity")
	}
}

// TestGetUser: GET /user is the caller's identity, the one their tokens
// are for, and makes no token; an anonymous caller has none (404).
func TestGetUser(t *testing.T) {
	t.Parallel()
	em := newEmulator(t)
	h := newService(t, inProcessACS(t, em), nil)
	dev := map[string]string{tokenservice.DevCallerHeader: "olga"}
	var u struct {
		CommunicationUserID string `json:"communicationUserId"`
	}
	res := serve(h, "GET", "/api/user", dev, "")
	if readBody(t, res, &u); res.StatusCode != 200 || !strings.HasPrefix(u.CommunicationUserID, "8:acs:") {
		t.Fatalf("GET /api/user: %d %+v", res.StatusCode, u)
	}
	if st := em.Identities(); len(st) != 1 {
		t.Fatalf("%d identities, want 1", len(st))
	}
	tb := wantToken(t, "then a token", serve(h, "GET", "/api/token", dev, ""))
	if tb.User.CommunicationUserID != u.CommunicationUserID {
		t.Errorf("GET /api/user said %s, the token is for %s", u.CommunicationUserID, tb.User.CommunicationUserID)
	}
	wantError(t, "an anonymous caller", serve(h, "GET", "/api/user", nil, ""), 404, tokenservice.CodeIdentityNotFound)
	if n := len(em.Identities()); n != 1 {
		t.Errorf("GET /api/user of an anonymous caller made an identity: %d", n)
	}
	res = serve(h, "PUT", "/api/user", dev, "")
	if res.Header.Get("Allow") != "GET, DELETE, OPTIONS" {
		t.Errorf("PUT /api/user: Allow %q", res.Header.Get("Allow"))
	}
	wantError(t, "PUT /api/user", res, 405, tokenservice.CodeMethodNotAllowed)
}
