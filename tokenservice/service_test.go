package tokenservice_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/acsgo/acsidentity"
	"github.com/acsgo/acsidentity/emulator"
	"github.com/acsgo/acsidentity/internal/testutil"
	"github.com/acsgo/acsidentity/tokenservice"
)

// sessionAuth is an app's own sign-in: a session cookie naming the user.
func sessionAuth(r *http.Request) (tokenservice.Caller, error) {
	c, err := r.Cookie("session")
	if err != nil {
		return tokenservice.Caller{}, tokenservice.ErrNoCredentials
	}
	if !strings.HasPrefix(c.Value, "valid-") {
		return tokenservice.Caller{}, errors.New("unknown session")
	}
	return tokenservice.Caller{ID: strings.TrimPrefix(c.Value, "valid-")}, nil
}

// headerAuth takes the caller's ID from X-User.
func headerAuth(r *http.Request) (tokenservice.Caller, error) {
	return tokenservice.Caller{ID: r.Header.Get("X-User")}, nil
}

// fixedAuth is every request as the caller id.
func fixedAuth(id string) func(*http.Request) (tokenservice.Caller, error) {
	return func(*http.Request) (tokenservice.Caller, error) { return tokenservice.Caller{ID: id}, nil }
}

// TestMountedOnServeMux mounts the Service in a fresh ServeMux, next to the
// app's own handler, with the app's own Authenticate, in front of the
// emulator, over real HTTP.
func TestMountedOnServeMux(t *testing.T) {
	t.Parallel()
	em, err := emulator.Start(nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { em.Close() })
	client, err := acsidentity.NewClientFromConnectionString(em.ConnectionString(), tokenservice.NewClientOptions())
	if err != nil {
		t.Fatal(err)
	}
	const app = "https://app.example.com"
	svc := newBareService(t, client, &tokenservice.Options{Authenticate: sessionAuth})
	mux := http.NewServeMux()
	mux.Handle("/acs/", svc)
	mux.HandleFunc("GET /hello", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "the app's own page") })
	cors, err := tokenservice.NewCORS(tokenservice.CORSOptions{Origins: []string{app}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(cors(mux))
	t.Cleanup(srv.Close)

	do := func(method, path, session string, header map[string]string) *http.Response {
		t.Helper()
		req, err := http.NewRequest(method, srv.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if session != "" {
			req.AddCookie(&http.Cookie{Name: "session", Value: session})
		}
		for k, v := range header {
			req.Header.Set(k, v)
		}
		res, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { res.Body.Close() })
		return res
	}
	token := func(what, session string) tokenBody {
		t.Helper()
		tb := wantToken(t, what, do("GET", "/acs/token?scopes=chat,voip", session, nil))
		if tb.User == nil || !strings.HasPrefix(tb.User.CommunicationUserID, "8:acs:") {
			t.Fatalf("%s: user %+v", what, tb.User)
		}
		if st := em.Emulator.Introspect(tb.Token); st.Status != emulator.StatusValid || st.User != tb.User.CommunicationUserID || strings.Join(st.Scopes, ",") != "chat,voip" {
			t.Fatalf("%s: the emulator says %+v", what, st)
		}
		return tb
	}

	alice := token("alice", "valid-alice")
	if again := token("alice again", "valid-alice"); again.User.CommunicationUserID != alice.User.CommunicationUserID {
		t.Errorf("the same caller got two identities: %s and %s", alice.User.CommunicationUserID, again.User.CommunicationUserID)
	}
	if bob := token("bob", "valid-bob"); bob.User.CommunicationUserID == alice.User.CommunicationUserID {
		t.Error("two callers share an identity")
	}
	wantError(t, "no caller", do("GET", "/acs/token", "", nil), http.StatusUnauthorized, "AuthenticationRequired")
	wantError(t, "a session the app refuses", do("GET", "/acs/token", "forged", nil), http.StatusUnauthorized, "AuthenticationRequired")

	if res := do("DELETE", "/acs/user", "valid-alice", nil); res.StatusCode != http.StatusNoContent {
		t.Fatalf("DELETE /acs/user: %d %s", res.StatusCode, readBody(t, res, nil))
	}
	if st := em.Emulator.Introspect(alice.Token); st.Status != emulator.StatusDeleted {
		t.Errorf("alice's token after DELETE: %s, want deleted", st.Status)
	}
	if after := token("alice after DELETE", "valid-alice"); after.User.CommunicationUserID == alice.User.CommunicationUserID {
		t.Error("after DELETE the caller got the deleted identity back")
	}

	res := do("OPTIONS", "/acs/token", "", map[string]string{"Origin": app, "Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "authorization"})
	if res.StatusCode != http.StatusNoContent || res.Header.Get("Access-Control-Allow-Origin") != app || res.Header.Get("Access-Control-Allow-Methods") != "GET" {
		t.Errorf("CORS preflight: %d, headers %v", res.StatusCode, res.Header)
	}
	if res := do("GET", "/hello", "", nil); res.StatusCode != 200 || string(readBody(t, res, nil)) != "the app's own page" {
		t.Errorf("the app's own handler: %d", res.StatusCode)
	}
	wantError(t, "unknown path under the prefix", do("GET", "/acs/nothing", "valid-alice", nil), http.StatusNotFound, "NotFound")
}

// TestSameCallerAcrossInstances: the identity of a caller ID is kept in ACS,
// so every instance of the service finds the same one, and only the custom
// ID key changes it.
func TestSameCallerAcrossInstances(t *testing.T) {
	t.Parallel()
	em := newEmulator(t)
	acs := inProcessACS(t, em)
	auth := headerAuth
	key1, key2 := []byte("0123456789abcdef"), []byte("fedcba9876543210")
	a := newService(t, acs, &tokenservice.Options{Authenticate: auth, CustomIDKey: key1})
	b := newService(t, acs, &tokenservice.Options{Authenticate: auth, CustomIDKey: key1})
	c := newService(t, acs, &tokenservice.Options{Authenticate: auth, CustomIDKey: key2})
	user := func(svc http.Handler, who string) string {
		return wantToken(t, who, serve(svc, "GET", "/api/token", map[string]string{"X-User": who}, "")).User.CommunicationUserID
	}
	if ua, ub := user(a, "carol"), user(b, "carol"); ua != ub {
		t.Errorf("two instances gave carol %s and %s", ua, ub)
	}
	if user(a, "carol") == user(c, "carol") {
		t.Error("another custom ID key gave carol the same identity")
	}
	if user(a, "carol") == user(a, "dave") {
		t.Error("two caller IDs share an identity")
	}
	wantError(t, "an empty caller ID", serve(a, "GET", "/api/token", nil, ""), http.StatusUnauthorized, "AuthenticationRequired")
}

// TestHostCheck: a development service (anonymous callers, an emulator on
// loopback) answers loopback host names only, so that a web page cannot
// reach it by DNS rebinding; others answer any host unless AllowedHosts
// says otherwise.
func TestHostCheck(t *testing.T) {
	t.Parallel()
	em := newEmulator(t)
	acs := inProcessACS(t, em)
	host := func(svc http.Handler, host string) *http.Response {
		r := httptest.NewRequest("GET", "/api/token", nil)
		r.Host = host
		r.Header.Set(tokenservice.DevCallerHeader, "rebound")
		w := httptest.NewRecorder()
		svc.ServeHTTP(w, r)
		return w.Result()
	}
	dev := newService(t, acs, nil)
	for _, h := range []string{"rebind.attacker.example", "rebind.attacker.example:7071", "192.168.1.20:7071", "localhost.attacker.example", "app.localhost"} {
		wantError(t, "development service, Host "+h, host(dev, h), http.StatusForbidden, "HostNotAllowed")
	}
	// No Host at all (HTTP/1.0) cannot come from a browser: allowed, as
	// internal/hostguard allows it for the emulator too.
	for _, h := range []string{"localhost:7071", "LOCALHOST", "127.0.0.1:7071", "127.0.0.2", "[::1]:7071", ""} {
		wantToken(t, "development service, Host "+h, host(dev, h))
	}
	listed := newService(t, acs, &tokenservice.Options{AllowAnonymous: true, AllowedHosts: []string{"trusted-service", "[fd00::1]"}})
	for _, h := range []string{"trusted-service:7071", "Trusted-Service", "localhost", "[fd00::1]:80"} {
		wantToken(t, "development service with AllowedHosts, Host "+h, host(listed, h))
	}
	wantError(t, "development service with AllowedHosts, another host", host(listed, "evil.example"), http.StatusForbidden, "HostNotAllowed")

	signedIn := newService(t, acs, &tokenservice.Options{Authenticate: fixedAuth("erin")})
	wantToken(t, "signed-in callers, any Host", host(signedIn, "tokens.example.com"))
	only := newService(t, acs, &tokenservice.Options{Authenticate: fixedAuth("erin"), AllowedHosts: []string{"tokens.example.com"}})
	wantToken(t, "AllowedHosts", host(only, "tokens.example.com:443"))
	wantError(t, "AllowedHosts, another host", host(only, "localhost"), http.StatusForbidden, "HostNotAllowed")
}

func TestNewRefuses(t *testing.T) {
	t.Parallel()
	em := newEmulator(t)
	local := inProcessACS(t, em)
	real, err := acsidentity.NewClientFromConnectionString("endpoint=https://contoso.communication.azure.com/;accesskey="+emulator.DevelopmentKey, tokenservice.NewClientOptions())
	if err != nil {
		t.Fatal(err)
	}
	ga, err := acsidentity.NewClientFromConnectionString("endpoint=http://127.0.0.1:10780/;accesskey="+emulator.DevelopmentKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	auth := fixedAuth("x")
	cases := []struct {
		name    string
		client  *acsidentity.Client
		options tokenservice.Options
		want    string
	}{
		{"nil client", nil, tokenservice.Options{}, "nil"},
		{"unauthenticated, real resource", real, tokenservice.Options{}, "Options.AllowAnonymous"},
		{"development callers, real resource", real, tokenservice.Options{AllowAnonymous: true, DevelopmentCallers: true}, "DevelopmentCallers"},
		{"development callers, not anonymous", local, tokenservice.Options{Authenticate: auth, DevelopmentCallers: true}, "DevelopmentCallers"},
		{"no custom IDs in the api-version", ga, tokenservice.Options{Authenticate: auth}, "2025-03-02-preview"},
		{"default scope not allowed", local, tokenservice.Options{Tokens: tokenservice.TokenPolicy{AllowedScopes: []acsidentity.TokenScope{acsidentity.TokenScopeChat}}}, "default scope"},
		{"lifetime under an hour", local, tokenservice.Options{Tokens: tokenservice.TokenPolicy{MinLifetime: 30 * time.Minute}}, "MinLifetime"},
		{"lifetime over a day", local, tokenservice.Options{Tokens: tokenservice.TokenPolicy{MaxLifetime: 48 * time.Hour}}, "MaxLifetime"},
		{"lifetime not whole minutes", local, tokenservice.Options{Tokens: tokenservice.TokenPolicy{MaxLifetime: 90*time.Minute + time.Second}}, "whole minutes"},
		{"short custom ID key", local, tokenservice.Options{CustomIDKey: []byte("short")}, "16 bytes"},
		{"host with a port", local, tokenservice.Options{AllowedHosts: []string{"example.com:443"}}, "AllowedHosts"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.options.Logger = discard
			_, err := tokenservice.New(c.client, &c.options)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("New = %v, want an error containing %q", err, c.want)
			}
		})
	}
	if _, err := tokenservice.New(real, &tokenservice.Options{Logger: discard}); !errors.Is(err, tokenservice.ErrAuthenticateRequired) {
		t.Errorf("an unauthenticated service of a real resource: %v, want ErrAuthenticateRequired", err)
	}
	// Explicitly anonymous, against a real resource: allowed, and said.
	var logs testutil.SyncBuffer
	if _, err := tokenservice.New(real, &tokenservice.Options{AllowAnonymous: true, Logger: slog.New(slog.NewTextHandler(&logs, nil))}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "anonymous callers are allowed") {
		t.Errorf("New did not warn of anonymous callers: %s", logs.String())
	}
}

// TestOptions: scopes, lifetimes and case-insensitive paths as
// configured, under a two-segment mount.
func TestOptions(t *testing.T) {
	t.Parallel()
	em := newEmulator(t)
	mux := http.NewServeMux()
	mux.Handle("/v2/acs/", newBareService(t, inProcessACS(t, em), &tokenservice.Options{
		AllowAnonymous: true, CaseInsensitivePaths: true,
		Tokens: tokenservice.TokenPolicy{
			AllowedScopes: []acsidentity.TokenScope{acsidentity.TokenScopeChat, acsidentity.TokenScopeChatJoin},
			DefaultScopes: []acsidentity.TokenScope{acsidentity.TokenScopeChat},
			MinLifetime:   2 * time.Hour, MaxLifetime: 3 * time.Hour,
		},
	}))
	svc := mux
	tb := wantToken(t, "defaults", serve(svc, "GET", "/v2/acs/Token", nil, ""))
	if st := em.Introspect(tb.Token); strings.Join(st.Scopes, ",") != "chat" || time.Until(st.ExpiresOn) > 3*time.Hour || time.Until(st.ExpiresOn) < 170*time.Minute {
		t.Errorf("default token: %+v, want chat for 3 hours", st)
	}
	res := serve(svc, "GET", "/v2/acs/token?scopes=voip", nil, "")
	var e errorBody
	readBody(t, res, &e)
	if res.StatusCode != 400 || e.Error.Code != "InvalidScope" || !strings.Contains(e.Error.Message, "chat or chat.join") {
		t.Errorf("a scope not allowed: %d %+v", res.StatusCode, e)
	}
	wantError(t, "a lifetime under MinLifetime", serve(svc, "GET", "/v2/acs/token?expiresInMinutes=60", nil, ""), 400, "InvalidLifetime")
	wantToken(t, "a lifetime in range", serve(svc, "GET", "/v2/acs/token?expiresInMinutes=150", nil, ""))
	res = serve(svc, "GET", "/v2/acs/tokens", nil, "")
	readBody(t, res, &e)
	if res.StatusCode != 404 || e.Error.Code != "NotFound" || !strings.Contains(e.Error.Message, "/v2/acs followed by /token, /token/teams and /user") {
		t.Errorf("a path the service does not serve: %d %+v, want 404 naming the paths it serves", res.StatusCode, e)
	}
}

// TestOneLogLinePerRequest: each request is one line, whatever happened,
// without tokens, and what the caller sent is shortened.
func TestOneLogLinePerRequest(t *testing.T) {
	t.Parallel()
	em := newEmulator(t)
	var logs testutil.SyncBuffer
	svc := newService(t, inProcessACS(t, em), &tokenservice.Options{
		AllowAnonymous: true, DevelopmentCallers: true,
		Logger: slog.New(slog.NewJSONHandler(&logs, nil)),
		LogAttrs: func(r *http.Request) []slog.Attr {
			return []slog.Attr{slog.String("request_id", r.Header.Get("X-Request-Id"))}
		},
	})
	lines := func() []map[string]any {
		var out []map[string]any
		sc := bufio.NewScanner(strings.NewReader(logs.String()))
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var m map[string]any
			if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
				t.Fatalf("a log line is not JSON: %s", sc.Text())
			}
			if m["msg"] == "request" {
				out = append(out, m)
			}
		}
		return out
	}
	tb := wantToken(t, "token", serve(svc, "GET", "/api/token?scopes=chat,voip", map[string]string{tokenservice.DevCallerHeader: "frank", "X-Request-Id": "r-1"}, ""))
	long := "/api/" + strings.Repeat("x", 10<<10)
	serve(svc, "GET", long, nil, "")
	em.InjectFault(emulator.Fault{Operation: emulator.OpCreate, Status: 429, RetryAfter: 3 * time.Second})
	serve(svc, "GET", "/api/token", map[string]string{tokenservice.DevCallerHeader: "grace"}, "")

	l := lines()
	if len(l) != 3 {
		t.Fatalf("%d request lines for 3 requests:\n%s", len(l), logs.String())
	}
	ok, notFound, throttled := l[0], l[1], l[2]
	if ok["level"] != "INFO" || ok["status"] != float64(200) || ok["acs_user"] != tb.User.CommunicationUserID || ok["scopes"] != "chat,voip" ||
		ok["caller_kind"] != "development" || ok["caller"] == nil || ok["request_id"] != "r-1" || ok["expires_on"] == nil {
		t.Errorf("the token's line: %v", ok)
	}
	if p, _ := notFound["path"].(string); notFound["status"] != float64(404) || len(p) > 300 {
		t.Errorf("the 404's line: status %v, path of %d bytes", notFound["status"], len(p))
	}
	if throttled["level"] != "WARN" || throttled["status"] != float64(503) || throttled["acs_status"] != float64(429) || throttled["operation"] != "CreateUserAndToken" {
		t.Errorf("the throttled request's line: %v", throttled)
	}
	if strings.Contains(logs.String(), tb.Token) {
		t.Error("the log has the token")
	}
}

// TestAuthErrors: what an Authenticate function's errors become.
func TestAuthErrors(t *testing.T) {
	t.Parallel()
	em := newEmulator(t)
	var authErr error
	svc := newService(t, inProcessACS(t, em), &tokenservice.Options{Authenticate: func(*http.Request) (tokenservice.Caller, error) { return tokenservice.Caller{}, authErr }})
	for _, c := range []struct {
		err       error
		status    int
		code      string
		challenge string
	}{
		{errors.New("no session"), 401, "AuthenticationRequired", ""},
		{tokenservice.ErrNoCredentials, 401, "AuthenticationRequired", ""},
		{&tokenservice.Error{Code: "InvalidToken", Message: "Bad token.", Challenge: `Bearer error="invalid_token"`}, 401, "InvalidToken", `Bearer error="invalid_token"`},
		{&tokenservice.Error{Status: 403, Code: "Forbidden", Message: "Not you."}, 403, "Forbidden", ""},
		{&tokenservice.Error{Status: 503, Code: "AuthenticationUnavailable", Message: "Later.", RetryAfter: 2500 * time.Millisecond}, 503, "AuthenticationUnavailable", ""},
	} {
		authErr = c.err
		res := serve(svc, "GET", "/api/token", nil, "")
		if got := res.Header.Get("WWW-Authenticate"); got != c.challenge {
			t.Errorf("%v: WWW-Authenticate %q, want %q", c.err, got, c.challenge)
		}
		if c.status == 503 && res.Header.Get("Retry-After") != "3" {
			t.Errorf("%v: Retry-After %q, want 3", c.err, res.Header.Get("Retry-After"))
		}
		wantError(t, c.err.Error(), res, c.status, c.code)
	}
}

// TestRateLimitStoreDown: a limiter that cannot answer refuses the request
// (503), rather than letting every request through.
func TestRateLimitStoreDown(t *testing.T) {
	t.Parallel()
	em := newEmulator(t)
	svc := newService(t, inProcessACS(t, em), &tokenservice.Options{AllowAnonymous: true, RateLimiter: brokenLimiter{}})
	res := serve(svc, "GET", "/api/token", nil, "")
	if res.Header.Get("Retry-After") == "" {
		t.Error("no Retry-After")
	}
	wantError(t, "limiter down", res, http.StatusServiceUnavailable, "RateLimitUnavailable")
	if n := len(em.Identities()); n != 0 {
		t.Errorf("%d identities made while the limiter was down", n)
	}
}

type brokenLimiter struct{}

func (brokenLimiter) Allow(context.Context, string) (bool, time.Duration, error) {
	return false, 0, errors.New("connection refused")
}

// TestDevCallerCannotEscapeTheRateLimit checks that with development
// callers, a new X-Caller-Id on each request does not buy a fresh
// allowance: the allowance is the client address's.
func TestDevCallerCannotEscapeTheRateLimit(t *testing.T) {
	t.Parallel()
	em := newEmulator(t)
	h := newService(t, inProcessACS(t, em), &tokenservice.Options{AllowAnonymous: true, DevelopmentCallers: true, RateLimiter: tokenservice.NewMemoryRateLimiter(1, 1)})
	if res := serve(h, "GET", "/api/token", map[string]string{tokenservice.DevCallerHeader: "alice"}, ""); res.StatusCode != 200 {
		t.Fatalf("first request: %d", res.StatusCode)
	}
	for _, id := range []string{"alice", "bob", "carol-1", ""} {
		if res := serve(h, "GET", "/api/token", map[string]string{tokenservice.DevCallerHeader: id}, ""); res.StatusCode != 429 {
			t.Errorf("X-Caller-Id %q after the allowance was spent: %d, want 429", id, res.StatusCode)
		}
	}
}

// TestPanicIsAnError: a panic in the app's Authenticate is a 500 with the
// service's error body and a log line, not a dropped connection.
func TestPanicIsAnError(t *testing.T) {
	t.Parallel()
	em := newEmulator(t)
	var logs testutil.SyncBuffer
	svc := newService(t, inProcessACS(t, em), &tokenservice.Options{
		Authenticate: func(*http.Request) (tokenservice.Caller, error) { panic("the session store is nil") },
		Logger:       slog.New(slog.NewTextHandler(&logs, nil)),
	})
	wantError(t, "a panicking Authenticate", serve(svc, "GET", "/api/token", nil, ""), http.StatusInternalServerError, "InternalError")
	if !strings.Contains(logs.String(), `level=ERROR msg=request method=GET path=/api/token status=500`) || !strings.Contains(logs.String(), "the session store is nil") {
		t.Errorf("the log does not say what happened:\n%s", logs.String())
	}
}

// TestOpaqueTokens: the service never reads the ACS token, so one that is
// not a JWT (the emulator's stand-in for ACS's encrypted tokens) is handed
// out like any other, with the expiry ACS gave.
func TestOpaqueTokens(t *testing.T) {
	t.Parallel()
	em, err := emulator.New(&emulator.Options{OpaqueTokens: true})
	if err != nil {
		t.Fatal(err)
	}
	svc := newService(t, inProcessACS(t, em), nil)
	tb := wantToken(t, "an opaque token", serve(svc, "GET", "/api/token?scopes=chat", map[string]string{tokenservice.DevCallerHeader: "gina"}, ""))
	if strings.Count(tb.Token, ".") == 2 {
		t.Fatalf("the emulator issued a JWT, not an opaque token: %.40s…", tb.Token)
	}
	exp, err := time.Parse(time.RFC3339Nano, tb.ExpiresOn)
	if st := em.Introspect(tb.Token); err != nil || st.Status != emulator.StatusValid || st.User != tb.User.CommunicationUserID || !st.ExpiresOn.Equal(exp.Truncate(time.Second)) {
		t.Fatalf("the emulator says %+v of the token expiring %s (%v)", st, tb.ExpiresOn, err)
	}
}
