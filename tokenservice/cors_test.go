package tokenservice_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/acsgo/acsidentity/tokenservice"
)

// corsFixture is the service in process with options and a rate limit of
// one request, mounted at /api/ and wrapped in NewCORS(cors).
func corsFixture(t *testing.T, options tokenservice.Options, cors tokenservice.CORSOptions) http.Handler {
	t.Helper()
	em := newEmulator(t)
	options.RateLimiter = tokenservice.NewMemoryRateLimiter(1, 1)
	mw, err := tokenservice.NewCORS(cors)
	if err != nil {
		t.Fatal(err)
	}
	return mw(newService(t, inProcessACS(t, em), &options))
}

// noCallers refuses every request as one without credentials.
func noCallers(*http.Request) (tokenservice.Caller, error) {
	return tokenservice.Caller{}, tokenservice.ErrNoCredentials
}

func preflight(origin, method, headers string) map[string]string {
	return map[string]string{"Origin": origin, "Access-Control-Request-Method": method, "Access-Control-Request-Headers": headers}
}

func hasVaryOrigin(res *http.Response) bool {
	for _, v := range res.Header.Values("Vary") {
		for f := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(f), "Origin") {
				return true
			}
		}
	}
	return false
}

func TestCORSPreflight(t *testing.T) {
	t.Parallel()
	const app = "https://app.example.com"
	h := corsFixture(t, tokenservice.Options{Authenticate: noCallers}, tokenservice.CORSOptions{Origins: []string{"https://App.example.com:443/"}})
	for _, rt := range []struct{ path, method string }{{"/api/token", "GET"}, {"/api/token", "POST"}, {"/api/token/teams", "POST"}, {"/api/user", "GET"}, {"/api/user", "DELETE"}} {
		t.Run(rt.method+rt.path, func(t *testing.T) {
			res := serve(h, http.MethodOptions, rt.path, preflight(app, rt.method, "authorization,content-type"), "")
			if res.StatusCode != http.StatusNoContent {
				t.Fatalf("preflight status %d, want 204", res.StatusCode)
			}
			want := map[string]string{
				"Access-Control-Allow-Origin":  app,
				"Access-Control-Allow-Methods": rt.method,
				"Access-Control-Allow-Headers": "authorization,content-type",
				"Access-Control-Max-Age":       "600",
			}
			for k, v := range want {
				if got := res.Header.Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
			if res.Header.Get("Access-Control-Allow-Credentials") != "" {
				t.Error("Access-Control-Allow-Credentials is set; the service uses bearer tokens, not cookies")
			}
			if !hasVaryOrigin(res) {
				t.Errorf("Vary = %q, want Origin", res.Header.Values("Vary"))
			}
		})
	}
	// Another origin, another method or header: no CORS headers, so the
	// browser refuses.
	for _, p := range []map[string]string{
		preflight("https://evil.example", "GET", "authorization"),
		preflight(app, "PUT", "authorization"),
		preflight(app, "GET", "x-caller-id"),
	} {
		res := serve(h, http.MethodOptions, "/api/token", p, "")
		if res.Header.Get("Access-Control-Allow-Origin") != "" || res.Header.Get("Access-Control-Allow-Methods") != "" {
			t.Errorf("preflight %v: %d, ACAO %q", p, res.StatusCode, res.Header.Get("Access-Control-Allow-Origin"))
		}
	}
	// Origins match exactly: not a prefix, not another scheme or port.
	for _, o := range []string{"http://app.example.com", "https://app.example.com:8443", "https://app.example.com.evil.example", "null"} {
		if res := serve(h, http.MethodGet, "/api/token", map[string]string{"Origin": o}, ""); res.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("origin %q was allowed", o)
		}
	}
}

// TestCORSActualResponses checks that every answer to an allowed origin,
// errors included, carries Access-Control-Allow-Origin and Vary: Origin,
// and that preflights need no bearer token and are not rate limited.
func TestCORSActualResponses(t *testing.T) {
	t.Parallel()
	const app = "http://localhost:3000"
	// Callers must sign in, and none does.
	h := corsFixture(t, tokenservice.Options{Authenticate: noCallers}, tokenservice.CORSOptions{LoopbackOrigins: true})
	origin := map[string]string{"Origin": app}
	for _, tc := range []struct {
		method, path string
		status       int
	}{
		{"GET", "/api/token", 401},
		{"DELETE", "/api/token", 405},
		{"GET", "/api/nothing", 404},
	} {
		res := serve(h, tc.method, tc.path, origin, "")
		if res.StatusCode != tc.status || res.Header.Get("Access-Control-Allow-Origin") != app || !hasVaryOrigin(res) {
			t.Errorf("%s %s: %d, ACAO %q, Vary %q; want %d with the origin and Vary: Origin",
				tc.method, tc.path, res.StatusCode, res.Header.Get("Access-Control-Allow-Origin"), res.Header.Values("Vary"), tc.status)
		}
		if exp := res.Header.Get("Access-Control-Expose-Headers"); !strings.Contains(exp, "Retry-After") {
			t.Errorf("%s %s: Access-Control-Expose-Headers %q lacks Retry-After", tc.method, tc.path, exp)
		}
	}
	for range 5 {
		if res := serve(h, http.MethodOptions, "/api/token", preflight(app, "GET", "authorization"), ""); res.StatusCode != http.StatusNoContent {
			t.Fatalf("preflight without a bearer token: %d, want 204", res.StatusCode)
		}
	}

	// Anonymous callers, one request a minute: the second is a 429 that
	// the page can still read; preflights are never limited.
	h = corsFixture(t, tokenservice.Options{AllowAnonymous: true, DevelopmentCallers: true}, tokenservice.CORSOptions{LoopbackOrigins: true, DevCallerHeader: true})
	if res := serve(h, "GET", "/api/token", origin, ""); res.StatusCode != 200 || res.Header.Get("Access-Control-Allow-Origin") != app {
		t.Fatalf("first token: %d, ACAO %q", res.StatusCode, res.Header.Get("Access-Control-Allow-Origin"))
	}
	for range 5 {
		res := serve(h, http.MethodOptions, "/api/token", preflight(app, "GET", "x-caller-id"), "")
		if res.StatusCode != http.StatusNoContent {
			t.Fatalf("preflight after the bucket emptied: %d, want 204", res.StatusCode)
		}
		if got := res.Header.Get("Access-Control-Allow-Headers"); got != "x-caller-id" {
			t.Errorf("Access-Control-Allow-Headers with the emulator = %q", got)
		}
	}
	if res := serve(h, "GET", "/api/token", origin, ""); res.StatusCode != 429 || res.Header.Get("Access-Control-Allow-Origin") != app || res.Header.Get("Retry-After") == "" {
		t.Errorf("second token: %d, ACAO %q, Retry-After %q; want a readable 429", res.StatusCode, res.Header.Get("Access-Control-Allow-Origin"), res.Header.Get("Retry-After"))
	}
}

func TestCORSLoopbackOrigins(t *testing.T) {
	t.Parallel()
	h := corsFixture(t, tokenservice.Options{Authenticate: noCallers}, tokenservice.CORSOptions{LoopbackOrigins: true})
	allowed := func(origin string) bool {
		return serve(h, "GET", "/api/token", map[string]string{"Origin": origin}, "").Header.Get("Access-Control-Allow-Origin") == origin && origin != ""
	}
	for _, o := range []string{"http://localhost:3000", "http://127.0.0.1:5173", "http://[::1]:8080", "http://localhost"} {
		if !allowed(o) {
			t.Errorf("%q refused", o)
		}
	}
	for _, o := range []string{"https://localhost:3000", "http://localhost.evil.example:3000", "http://app.localhost:3000", "http://192.168.1.2:3000", "http://localhost:0", "http://localhost:99999", "null", "", "http://localhost:3000/x"} {
		if allowed(o) {
			t.Errorf("%q allowed", o)
		}
	}
	// The Service itself sends no CORS headers: an app's own CORS layer
	// is the only one.
	em := newEmulator(t)
	none := newService(t, inProcessACS(t, em), &tokenservice.Options{Authenticate: noCallers})
	res := serve(none, "GET", "/api/token", map[string]string{"Origin": "http://localhost:3000"}, "")
	if res.Header.Get("Access-Control-Allow-Origin") != "" || res.Header.Get("Vary") != "" {
		t.Errorf("no CORS layer, yet CORS headers: %v", res.Header)
	}
}

func TestNewCORSRefuses(t *testing.T) {
	t.Parallel()
	for _, o := range []tokenservice.CORSOptions{
		{},
		{Origins: []string{"*"}},
		{Origins: []string{"app.example.com"}},
		{Origins: []string{"ftp://app.example.com"}},
		{Origins: []string{"https://app.example.com/path"}},
		{Origins: []string{"https://u:p@app.example.com"}},
		{Origins: []string{"https://app.example.com?x=1"}},
		{Origins: []string{"https://app.example.com:0"}},
	} {
		if _, err := tokenservice.NewCORS(o); err == nil {
			t.Errorf("NewCORS(%+v) accepted", o)
		}
	}
}
