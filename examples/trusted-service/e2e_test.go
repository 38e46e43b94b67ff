package main

// End-to-end tests: they build the real binary and run it the way the Azure
// Functions host does (FUNCTIONS_CUSTOMHANDLER_PORT on a free loopback
// port, readiness by polling GET /, forwarded requests with the host's
// headers), against an emulator the test starts and an identity provider
// (JWKS server) the test controls. See ../../../shared/reference/functions_service.md §1.10.

import (
	"bufio"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/acsgo/acsidentity/emulator"
	"github.com/acsgo/acsidentity/internal/testutil"
	"github.com/acsgo/acsidentity/tokenservice"
)

// startTimeout bounds how long a handler may take to answer its first
// request: the Functions host gives a custom handler 60 seconds.
const startTimeout = 60 * time.Second

var (
	buildOnce sync.Once
	buildDir  string
	buildErr  error
)

// handlerBinary builds the handler once per test run, as the README says:
// go build -o handler.
func handlerBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the handler binary")
	}
	buildOnce.Do(func() {
		if buildDir, buildErr = os.MkdirTemp("", "trusted-service-e2e-"); buildErr != nil {
			return
		}
		gotool, err := exec.LookPath("go")
		if err != nil {
			buildErr = err
			return
		}
		out, err := exec.Command(gotool, "build", "-o", buildDir+"/handler", ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildDir + "/handler"
}

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// handlerProc is a running handler.
type handlerProc struct {
	t    *testing.T
	cmd  *exec.Cmd
	logs *testutil.SyncBuffer
	base string // http://127.0.0.1:<port>
	done chan struct{}
	err  error // the exit error, once done is closed
}

// baseEnv is the environment every handler gets: nothing from the test's
// own environment but what a process needs to run.
func baseEnv() []string {
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.TempDir()}
	return env
}

// launch starts the handler binary with env and args.
func launch(t *testing.T, env map[string]string, args ...string) *handlerProc {
	t.Helper()
	cmd := exec.Command(handlerBinary(t), args...)
	cmd.Env = baseEnv()
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	p := &handlerProc{t: t, cmd: cmd, logs: &testutil.SyncBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.logs, p.logs
	cmd.Dir = "." // the function app root, as the host runs it
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("handler output:\n%s", p.logs.String())
		}
	})
	return p
}

// startAsFunctionsHost starts the handler as the Functions host does: on a
// free loopback port named by FUNCTIONS_CUSTOMHANDLER_PORT, with the app
// settings as environment variables, then polls GET / until it answers.
func startAsFunctionsHost(t *testing.T, settings map[string]string) *handlerProc {
	t.Helper()
	port := freePort(t)
	env := map[string]string{
		"FUNCTIONS_CUSTOMHANDLER_PORT":      port,
		"FUNCTIONS_HTTPWORKER_PORT":         port,
		"FUNCTIONS_CUSTOMHANDLER_WORKER_ID": "e2e-worker",
		"FUNCTIONS_APP_ROOT_PATH":           must(os.Getwd()),
		"FUNCTIONS_WORKER_RUNTIME":          "Custom",
		envLogFormat:                        "json",
	}
	for k, v := range settings {
		env[k] = v
	}
	p := launch(t, env)
	p.base = "http://127.0.0.1:" + port
	p.waitReady()
	return p
}

// freePort picks a free loopback port, as the host's GetUnusedTcpPort does.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}

// waitReady polls GET / until any HTTP response comes back (the host's
// IsWorkerReady), failing if the process exits or startTimeout passes.
func (p *handlerProc) waitReady() {
	p.t.Helper()
	deadline := time.Now().Add(startTimeout)
	client := &http.Client{Timeout: 2 * time.Second}
	for {
		resp, err := client.Get(p.base + "/")
		if err == nil {
			resp.Body.Close()
			return
		}
		select {
		case <-p.done:
			p.t.Fatalf("the handler exited before it was ready: %v\n%s", p.err, p.logs.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("the handler did not answer GET / within %v", startTimeout)
		}
	}
}

// waitLog polls the output for a line matching re and returns its
// submatches.
func (p *handlerProc) waitLog(re *regexp.Regexp) []string {
	p.t.Helper()
	deadline := time.Now().Add(startTimeout)
	for {
		if m := re.FindStringSubmatch(p.logs.String()); m != nil {
			return m
		}
		select {
		case <-p.done:
			p.t.Fatalf("the handler exited (%v) before logging %v", p.err, re)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("no log line matching %v within %v", re, startTimeout)
		}
	}
}

// stop sends SIGTERM and waits (bounded) for the process to exit.
func (p *handlerProc) stop() error {
	select {
	case <-p.done:
		return p.err
	default:
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(shutdownTimeout + 10*time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
	return p.err
}

// hostRequest is a request as the host forwards it.
type hostRequest struct {
	method, path, body string
	header             map[string]string
}

// response is what came back.
type response struct {
	status       int
	header       http.Header
	body         []byte
	invocationID string
}

// send forwards req to the handler with the headers the Functions host
// adds (X-Azure-Functions-InvocationId, -HostVersion, User-Agent).
func (p *handlerProc) send(req hostRequest) response {
	p.t.Helper()
	var body io.Reader
	if req.body != "" {
		body = strings.NewReader(req.body)
	}
	r, err := http.NewRequest(req.method, p.base+req.path, body)
	if err != nil {
		p.t.Fatal(err)
	}
	id := newInvocationID()
	r.Header.Set("X-Azure-Functions-InvocationId", id)
	r.Header.Set("X-Azure-Functions-HostVersion", "4.1036.1.23224")
	r.Header.Set("User-Agent", "Azure-Functions-Host/4.1036.1.23224")
	if req.body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	for k, v := range req.header {
		if k == "Host" {
			r.Host = v
			continue
		}
		r.Header.Set(k, v)
	}
	resp, err := (&http.Client{Timeout: 2 * time.Minute}).Do(r)
	if err != nil {
		p.t.Fatalf("%s %s: %v", req.method, req.path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		p.t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b, invocationID: id}
}

// port is the handler's port.
func (p *handlerProc) port() string {
	u, err := url.Parse(p.base)
	if err != nil {
		p.t.Fatal(err)
	}
	return u.Port()
}

func newInvocationID() string {
	var b [16]byte
	rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// wantError checks an error response: status, JSON content type and
// {"error":{"code","message"}} with the given code.
func wantError(t *testing.T, what string, r response, status int, code string) {
	t.Helper()
	if r.status != status {
		t.Errorf("%s: status %d, want %d (body %s)", what, r.status, status, r.body)
		return
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("%s: Content-Type %q", what, ct)
	}
	var e struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(r.body, &e); err != nil {
		t.Errorf("%s: body %q is not a JSON error: %v", what, r.body, err)
		return
	}
	if e.Error.Code != code || e.Error.Message == "" {
		t.Errorf("%s: error %+v, want code %s and a message", what, e.Error, code)
	}
}

// tokenBody is the service's token response.
type tokenBody struct {
	User *struct {
		CommunicationUserID string `json:"communicationUserId"`
	} `json:"user"`
	Token     string `json:"token"`
	ExpiresOn string `json:"expiresOn"`
}

// wantToken checks a 200 token response and returns it.
func wantToken(t *testing.T, what string, r response, withUser bool) tokenBody {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("%s: status %d, want 200 (body %s)", what, r.status, r.body)
	}
	if cc := r.header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("%s: Cache-Control %q, want no-store", what, cc)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(r.body, &fields); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	want := []string{"expiresOn", "token"}
	if withUser {
		want = append(want, "user")
	}
	got := make([]string, 0, len(fields))
	for k := range fields {
		got = append(got, k)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("%s: fields %v, want %v", what, got, want)
	}
	var tb tokenBody
	if err := json.Unmarshal(r.body, &tb); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if withUser && (tb.User == nil || !strings.HasPrefix(tb.User.CommunicationUserID, "8:acs:")) {
		t.Errorf("%s: user %+v, want 8:acs:...", what, tb.User)
	}
	return tb
}

// acsClaims are the claims of an emulator token the tests look at.
type acsClaims struct {
	SkypeID  string `json:"skypeid"`
	Iat      int64  `json:"iat"`
	Exp      int64  `json:"exp"`
	ACSScope string `json:"acsScope"`
}

// verifyACSToken checks the token's EdDSA signature with the emulator's
// public key and that its exp is the response's expiresOn truncated to
// the second.
func verifyACSToken(t *testing.T, pub ed25519.PublicKey, tb tokenBody) acsClaims {
	t.Helper()
	parts := strings.Split(tb.Token, ".")
	if len(parts) != 3 {
		t.Fatalf("the token is not a JWT")
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || !ed25519.Verify(pub, []byte(parts[0]+"."+parts[1]), sig) {
		t.Fatal("the token's signature does not verify with the emulator's public key")
	}
	var hdr struct {
		Alg string `json:"alg"`
	}
	var c acsClaims
	if err := decodeSegment(parts[0], &hdr); err != nil || hdr.Alg != "EdDSA" {
		t.Fatalf("token header alg %q (%v)", hdr.Alg, err)
	}
	if err := decodeSegment(parts[1], &c); err != nil {
		t.Fatal(err)
	}
	exp, err := time.Parse(time.RFC3339Nano, tb.ExpiresOn)
	if err != nil {
		t.Fatalf("expiresOn %q is not RFC 3339: %v", tb.ExpiresOn, err)
	}
	if !exp.Truncate(time.Second).Equal(time.Unix(c.Exp, 0)) { // exp is expiresOn's whole second
		t.Errorf("expiresOn %s != token exp %s", tb.ExpiresOn, time.Unix(c.Exp, 0).UTC().Format(time.RFC3339))
	}
	if tb.User != nil && "8:"+c.SkypeID != tb.User.CommunicationUserID {
		t.Errorf("token skypeid %q is not user %q", c.SkypeID, tb.User.CommunicationUserID)
	}
	return c
}

// jsonLines parses the handler's JSON log lines.
func jsonLines(t *testing.T, logs string) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(logs))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil {
			out = append(out, m)
		}
	}
	return out
}

// TestEndToEndFunctionsHost runs the handler as the Functions host does,
// against a test emulator through COMMUNICATION_SERVICES_CONNECTION_STRING,
// with callers authenticated by a test OIDC provider, and checks every
// endpoint, error and limit.
func TestEndToEndFunctionsHost(t *testing.T) {
	t.Parallel()
	em, err := emulator.Start(nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { em.Close() })
	pub := em.Emulator.PublicKey().(ed25519.PublicKey)

	signing := newTestKey(t, "key-1", "RS256")
	p := newIDP(t, signing)
	h := startAsFunctionsHost(t, map[string]string{
		envConnectionString: em.ConnectionString(),
		envOIDCIssuer:       testIssuer,
		envOIDCAudience:     testAudience,
		envOIDCJWKSURL:      p.JWKSURL(),
		envOIDCMinRefresh:   "0s", // pick up the rotation below at once
		envRatePerMinute:    "100000",
		envRateBurst:        "100000",
	})

	now := time.Now()
	const aliceOID = "00000000-0000-0000-0000-0000000000aa"
	bearer := func(k *testKey, claims map[string]any, hdr map[string]any) map[string]string {
		return map[string]string{"Authorization": "Bearer " + k.Sign(t, claims, hdr)}
	}
	alice := bearer(signing, goodClaims(now, "alice"), nil)
	bob := bearer(signing, with(goodClaims(now, "bob"), "oid", nil), nil)
	var issued []string // every token handed out, to check the logs

	t.Run("health", func(t *testing.T) {
		r := h.send(hostRequest{method: "GET", path: "/"})
		if r.status != 200 || !strings.Contains(string(r.body), `"ok"`) {
			t.Errorf("GET / = %d %s", r.status, r.body)
		}
		if r := h.send(hostRequest{method: "HEAD", path: "/"}); r.status != 200 {
			t.Errorf("HEAD / = %d", r.status)
		}
	})

	var aliceUser string
	var firstToken tokenBody
	t.Run("token for a caller, and the same identity again", func(t *testing.T) {
		r := h.send(hostRequest{method: "GET", path: "/api/token", header: alice})
		firstToken = wantToken(t, "GET /api/token", r, true)
		aliceUser = firstToken.User.CommunicationUserID
		c := verifyACSToken(t, pub, firstToken)
		if c.ACSScope != "voip" {
			t.Errorf("default scopes = %q, want voip", c.ACSScope)
		}
		if st := em.Emulator.Introspect(firstToken.Token); st.Status != emulator.StatusValid || st.User != aliceUser {
			t.Errorf("introspect = %+v", st)
		}

		r = h.send(hostRequest{method: "POST", path: "/api/token", header: alice, body: `{"scopes":["chat","voip","chat"],"expiresInMinutes":60}`})
		second := wantToken(t, "POST /api/token", r, true)
		c = verifyACSToken(t, pub, second)
		if second.User.CommunicationUserID != aliceUser {
			t.Errorf("second call: user %s, want the same %s", second.User.CommunicationUserID, aliceUser)
		}
		if second.Token == firstToken.Token {
			t.Error("second call returned the same token")
		}
		if c.ACSScope != "chat,voip" || c.Exp-c.Iat != 3600 {
			t.Errorf("scopes %q, lifetime %d s; want chat,voip and 3600", c.ACSScope, c.Exp-c.Iat)
		}

		r = h.send(hostRequest{method: "GET", path: "/api/token?scopes=chat.join,voip.join&expiresInMinutes=1440&code=functions-key", header: alice})
		third := wantToken(t, "GET /api/token?scopes=...", r, true)
		c = verifyACSToken(t, pub, third)
		if third.User.CommunicationUserID != aliceUser || c.ACSScope != "chat.join,voip.join" || c.Exp-c.Iat != 86400 {
			t.Errorf("query parameters: user %s scopes %q lifetime %d", third.User.CommunicationUserID, c.ACSScope, c.Exp-c.Iat)
		}

		// The host routes case-insensitively and forwards the original path.
		r = h.send(hostRequest{method: "POST", path: "/API/Token", header: alice})
		if tb := wantToken(t, "POST /API/Token", r, true); tb.User.CommunicationUserID != aliceUser {
			t.Errorf("/API/Token: another user")
		}

		r = h.send(hostRequest{method: "GET", path: "/api/token", header: bob})
		tb := wantToken(t, "bob", r, true)
		if tb.User.CommunicationUserID == aliceUser {
			t.Error("bob got alice's identity")
		}
		issued = append(issued, firstToken.Token, second.Token, third.Token, tb.Token)
	})

	t.Run("request errors", func(t *testing.T) {
		big := `{"scopes":["voip"],"pad":"` + strings.Repeat("x", tokenservice.DefaultMaxBodyBytes) + `"}`
		cases := []struct {
			name   string
			req    hostRequest
			status int
			code   string
		}{
			{"unknown scope", hostRequest{method: "GET", path: "/api/token?scopes=chat,admin"}, 400, "InvalidScope"},
			{"empty scopes", hostRequest{method: "GET", path: "/api/token?scopes="}, 400, "InvalidScope"},
			{"empty scope list", hostRequest{method: "POST", path: "/api/token", body: `{"scopes":[]}`}, 400, "InvalidScope"},
			{"lifetime too short", hostRequest{method: "GET", path: "/api/token?expiresInMinutes=59"}, 400, "InvalidLifetime"},
			{"lifetime too long", hostRequest{method: "POST", path: "/api/token", body: `{"expiresInMinutes":1441}`}, 400, "InvalidLifetime"},
			{"fractional lifetime", hostRequest{method: "POST", path: "/api/token", body: `{"expiresInMinutes":60.5}`}, 400, "InvalidLifetime"},
			{"lifetime as a string", hostRequest{method: "POST", path: "/api/token", body: `{"expiresInMinutes":"60"}`}, 400, "InvalidLifetime"},
			{"unknown field", hostRequest{method: "POST", path: "/api/token", body: `{"scopes":["voip"],"user":"8:acs:someone"}`}, 400, "InvalidRequest"},
			{"scopes twice", hostRequest{method: "POST", path: "/api/token?scopes=chat", body: `{"scopes":["voip"]}`}, 400, "InvalidRequest"},
			{"not JSON", hostRequest{method: "POST", path: "/api/token", body: `scopes=voip`}, 400, "InvalidRequest"},
			{"wrong content type", hostRequest{method: "POST", path: "/api/token", body: `{}`, header: map[string]string{"Content-Type": "text/plain"}}, 415, "UnsupportedMediaType"},
			{"body too large", hostRequest{method: "POST", path: "/api/token", body: big}, 413, "RequestTooLarge"},
			{"Teams body missing", hostRequest{method: "POST", path: "/api/token/teams"}, 400, "InvalidRequest"},
			{"unknown route", hostRequest{method: "GET", path: "/api/users"}, 404, "NotFound"},
		}
		for _, tc := range cases {
			if tc.req.header == nil {
				tc.req.header = map[string]string{}
			}
			tc.req.header["Authorization"] = alice["Authorization"]
			wantError(t, tc.name, h.send(tc.req), tc.status, tc.code)
		}
		for _, tc := range []struct{ method, path, allow string }{
			{"PUT", "/api/token", "GET, POST, OPTIONS"},
			{"DELETE", "/api/token", "GET, POST, OPTIONS"},
			{"PUT", "/api/user", "GET, DELETE, OPTIONS"},
			{"GET", "/api/token/teams", "POST, OPTIONS"},
			{"POST", "/", "GET, HEAD, OPTIONS"},
		} {
			r := h.send(hostRequest{method: tc.method, path: tc.path, header: alice})
			wantError(t, tc.method+" "+tc.path, r, 405, "MethodNotAllowed")
			if got := r.header.Get("Allow"); got != tc.allow {
				t.Errorf("%s %s: Allow %q, want %q", tc.method, tc.path, got, tc.allow)
			}
		}
	})

	t.Run("caller authentication", func(t *testing.T) {
		hs256 := bearer(signing, goodClaims(now, "alice"), map[string]any{"alg": "HS256"})
		other := &testKey{KID: "key-1", Alg: "RS256", Priv: testutil.RSAKey(1)}
		cases := []struct {
			name   string
			header map[string]string
			code   string
		}{
			{"no token", nil, "AuthenticationRequired"},
			{"not bearer", map[string]string{"Authorization": "Basic YWxpY2U6cHc="}, "InvalidToken"},
			{"wrong audience", bearer(signing, with(goodClaims(now, "alice"), "aud", "api://other"), nil), "InvalidToken"},
			{"wrong issuer", bearer(signing, with(goodClaims(now, "alice"), "iss", "https://evil.example/"), nil), "InvalidToken"},
			{"expired", bearer(signing, with(goodClaims(now, "alice"), "exp", now.Add(-time.Hour).Unix()), nil), "InvalidToken"},
			{"alg none", bearer(signing, goodClaims(now, "alice"), map[string]any{"alg": "none"}), "InvalidToken"},
			{"alg not allowed", hs256, "InvalidToken"},
			{"bad signature", bearer(other, goodClaims(now, "alice"), nil), "InvalidToken"},
			{"unknown key", bearer(newTestKey(t, "key-2", "ES256"), goodClaims(now, "alice"), nil), "InvalidToken"},
		}
		for _, tc := range cases {
			for _, path := range []string{"/api/token", "/api/user"} {
				method := map[string]string{"/api/token": "GET", "/api/user": "DELETE"}[path]
				r := h.send(hostRequest{method: method, path: path, header: tc.header})
				wantError(t, tc.name+" "+path, r, 401, tc.code)
				if !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
					t.Errorf("%s: WWW-Authenticate %q", tc.name, r.header.Get("WWW-Authenticate"))
				}
			}
		}

		// The issuer rotates to a new key; a token signed with it triggers a
		// refresh of the JWKS and is accepted.
		rotated := newTestKey(t, "key-2", "ES256")
		p.SetKeys(signing, rotated)
		before := p.Fetches()
		r := h.send(hostRequest{method: "GET", path: "/api/token", header: bearer(rotated, goodClaims(now, "alice"), nil)})
		tb := wantToken(t, "rotated key", r, true)
		if tb.User.CommunicationUserID != aliceUser {
			t.Error("the rotated key's token for alice gave another identity")
		}
		if p.Fetches() <= before {
			t.Error("the JWKS was not fetched again for the new key")
		}
		issued = append(issued, tb.Token)
	})

	t.Run("Teams token exchange", func(t *testing.T) {
		teams := func(oid, appid string) string {
			// The emulator reads the Teams token's claims; it does not
			// check Entra ID's signature.
			k := newTestKey(t, "entra", "EdDSA")
			return k.Sign(t, map[string]any{
				"aud": emulator.TeamsUserAudience, "appid": appid, "oid": oid,
				"tid": "00000000-0000-0000-0000-0000000000bb", "exp": now.Add(time.Hour).Unix(),
			}, nil)
		}
		const app = "11111111-2222-3333-4444-555555555555"
		tok := teams(aliceOID, app)
		body := func(v map[string]string) string { return string(must(json.Marshal(v))) }

		r := h.send(hostRequest{method: "POST", path: "/api/token/teams", header: alice, body: body(map[string]string{"token": tok, "appId": app, "userId": aliceOID})})
		tb := wantToken(t, "Teams exchange", r, false)
		c := verifyACSToken(t, pub, tb)
		if st := em.Emulator.Introspect(tb.Token); st.Status != emulator.StatusValid || st.User != "8:orgid:"+aliceOID || c.SkypeID != "orgid:"+aliceOID {
			t.Errorf("Teams token introspects as %+v", st)
		}
		// userId defaults to the caller's oid.
		r = h.send(hostRequest{method: "POST", path: "/api/token/teams", header: alice, body: body(map[string]string{"token": tok, "appId": app})})
		issued = append(issued, tb.Token, wantToken(t, "Teams exchange without userId", r, false).Token)

		r = h.send(hostRequest{method: "POST", path: "/api/token/teams", header: alice, body: body(map[string]string{"token": tok, "appId": app, "userId": "00000000-0000-0000-0000-0000000000cc"})})
		wantError(t, "another user's oid", r, 403, "Forbidden")
		r = h.send(hostRequest{method: "POST", path: "/api/token/teams", header: alice, body: body(map[string]string{"token": tok, "appId": "99999999-2222-3333-4444-555555555555", "userId": aliceOID})})
		wantError(t, "wrong appId", r, 400, "InvalidTeamsToken")
		r = h.send(hostRequest{method: "POST", path: "/api/token/teams", header: bob, body: body(map[string]string{"token": "not-a-jwt", "appId": app, "userId": aliceOID})})
		wantError(t, "not a JWT", r, 400, "InvalidTeamsToken")
	})

	t.Run("ACS failures", func(t *testing.T) {
		// Alice is known: her token is a GetToken (issueToken) on her identity.
		em.Emulator.InjectFault(emulator.Fault{Operation: emulator.OpIssueToken, Status: 429, RetryAfter: 7 * time.Second})
		r := h.send(hostRequest{method: "GET", path: "/api/token", header: alice})
		wantError(t, "ACS 429", r, 503, "ServiceBusy")
		if got := r.header.Get("Retry-After"); got != "7" {
			t.Errorf("ACS 429: Retry-After %q, want 7", got)
		}
		// 500 is retried twice by the client, then reported as 502.
		em.Emulator.InjectFault(emulator.Fault{Count: 3, Operation: emulator.OpIssueToken, Status: 500})
		r = h.send(hostRequest{method: "GET", path: "/api/token", header: alice})
		wantError(t, "ACS 500", r, 502, "UpstreamError")
		for _, leak := range []string{"127.0.0.1", "emulator", "8:acs", "accesskey", "InternalServerError"} {
			if strings.Contains(string(r.body), leak) {
				t.Errorf("the 502 body shows %q: %s", leak, r.body)
			}
		}
	})

	t.Run("delete the caller's identity", func(t *testing.T) {
		r := h.send(hostRequest{method: "DELETE", path: "/api/user", header: alice})
		if r.status != http.StatusNoContent || len(r.body) != 0 {
			t.Fatalf("DELETE /api/user = %d %s, want 204", r.status, r.body)
		}
		if st := em.Emulator.Introspect(firstToken.Token); st.Status != emulator.StatusDeleted {
			t.Errorf("alice's token after DELETE: %q, want deleted", st.Status)
		}
		// The custom ID is free again: the next call makes a new identity.
		r = h.send(hostRequest{method: "GET", path: "/api/token", header: alice})
		tb := wantToken(t, "token after DELETE", r, true)
		if tb.User.CommunicationUserID == aliceUser {
			t.Error("after DELETE the caller got the deleted identity back")
		}
		issued = append(issued, tb.Token)
		// Deleting twice is fine: the second makes and deletes an identity.
		if r := h.send(hostRequest{method: "DELETE", path: "/api/user", header: alice}); r.status != http.StatusNoContent {
			t.Errorf("second DELETE = %d", r.status)
		}
		if st := em.Emulator.Introspect(tb.Token); st.Status != emulator.StatusDeleted {
			t.Errorf("the new identity's token after the second DELETE: %q", st.Status)
		}
	})

	t.Run("graceful shutdown and logs", func(t *testing.T) {
		probe := h.send(hostRequest{method: "GET", path: "/api/token", header: bob})
		issued = append(issued, wantToken(t, "probe", probe, true).Token)
		if err := h.stop(); err != nil {
			t.Errorf("exit after SIGTERM: %v, want 0", err)
		}
		logs := h.logs.String()
		lines := jsonLines(t, logs)
		var found bool
		for _, l := range lines {
			if l["msg"] == "request" && l["invocation_id"] == probe.invocationID {
				found = l["status"] == float64(200) && l["path"] == "/api/token" && l["caller"] != nil
			}
		}
		if !found {
			t.Errorf("no request log line with invocation_id %s, status 200 and a caller", probe.invocationID)
		}
		if !slices.ContainsFunc(lines, func(l map[string]any) bool { return l["msg"] == "stopped" }) {
			t.Error("no \"stopped\" log line after SIGTERM")
		}
		secrets := append(slices.Clone(issued), emulator.DevelopmentKey, "accesskey", "functions-key", strings.TrimPrefix(alice["Authorization"], "Bearer "))
		for _, s := range secrets {
			if s != "" && strings.Contains(logs, s) {
				t.Errorf("the logs contain a secret (%.12s...)", s)
			}
		}
	})
}

// TestEndToEndAnonymousAndRateLimit runs an emulator on loopback reached
// by connection string with TRUSTED_SERVICE_ALLOW_ANONYMOUS=true and a
// burst of five: anonymous callers get a new identity per call, cannot
// delete, X-Caller-Id names a lasting development identity (as with the
// embedded emulator), and they all share one bucket.
func TestEndToEndAnonymousAndRateLimit(t *testing.T) {
	t.Parallel()
	em, err := emulator.Start(nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { em.Close() })
	h := startAsFunctionsHost(t, map[string]string{
		envConnectionString: em.ConnectionString(),
		envAllowAnonymous:   "true",
		envRatePerMinute:    "0.001", // no refill during the test
		envRateBurst:        "5",
	})
	wantError(t, "anonymous DELETE", h.send(hostRequest{method: "DELETE", path: "/api/user"}), 403, "NoLastingIdentity")
	// X-Caller-Id is honoured with any emulator on loopback.
	a := wantToken(t, "first", h.send(hostRequest{method: "GET", path: "/api/token", header: map[string]string{devCallerHeader: "alice"}}), true)
	b := wantToken(t, "second", h.send(hostRequest{method: "GET", path: "/api/token", header: map[string]string{devCallerHeader: "alice"}}), true)
	if a.User.CommunicationUserID != b.User.CommunicationUserID {
		t.Error("a development caller got two identities")
	}
	c := wantToken(t, "anonymous", h.send(hostRequest{method: "GET", path: "/api/token"}), true)
	d := wantToken(t, "anonymous again", h.send(hostRequest{method: "GET", path: "/api/token"}), true)
	if c.User.CommunicationUserID == d.User.CommunicationUserID || c.User.CommunicationUserID == a.User.CommunicationUserID {
		t.Error("two anonymous calls got the same identity, or a development caller's")
	}
	r := h.send(hostRequest{method: "GET", path: "/api/token"})
	wantError(t, "over the burst", r, 429, "TooManyRequests")
	if n, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || n < 1 {
		t.Errorf("Retry-After %q", r.header.Get("Retry-After"))
	}
	// The health probe is not rate limited.
	if r := h.send(hostRequest{method: "GET", path: "/"}); r.status != 200 {
		t.Errorf("GET / while limited = %d", r.status)
	}
}

// TestEndToEndZeroConfig runs `handler -addr 127.0.0.1:0` with nothing
// configured: it starts the embedded emulator, says so, and serves tokens.
func TestEndToEndZeroConfig(t *testing.T) {
	t.Parallel()
	h := launch(t, nil, "-addr", "127.0.0.1:0")
	m := h.waitLog(regexp.MustCompile(`msg=listening addr=(127\.0\.0\.1:\d+)`))
	h.base = "http://" + m[1]
	logs := h.logs.String()
	for _, want := range []string{"EMULATOR", "NOT Azure", "anonymous callers are allowed"} {
		if !strings.Contains(logs, want) {
			t.Errorf("the start-up log does not say %q:\n%s", want, logs)
		}
	}
	emURL := regexp.MustCompile(`emulator_url=(http://127\.0\.0\.1:\d+)`).FindStringSubmatch(logs)
	if emURL == nil {
		t.Fatalf("the log does not name the emulator's URL:\n%s", logs)
	}

	// -debug-addr serves the profiler, which a load test reads goroutines from.
	h2 := launch(t, nil, "-addr", "127.0.0.1:0", "-debug-addr", "127.0.0.1:0")
	dbg := h2.waitLog(regexp.MustCompile(`msg="debug endpoint listening" addr=(127\.0\.0\.1:\d+)`))
	if resp, err := http.Get("http://" + dbg[1] + "/debug/pprof/goroutine?debug=1"); err != nil {
		t.Error(err)
	} else {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.HasPrefix(string(b), "goroutine profile: total ") {
			t.Errorf("debug endpoint answered %d %.60q", resp.StatusCode, b)
		}
	}
	h2.stop()

	dev := map[string]string{devCallerHeader: "dev-alice"}
	a := wantToken(t, "first", h.send(hostRequest{method: "GET", path: "/api/token", header: dev}), true)
	b := wantToken(t, "second", h.send(hostRequest{method: "POST", path: "/api/token", header: dev, body: `{"scopes":["chat"]}`}), true)
	c := wantToken(t, "no X-Caller-Id", h.send(hostRequest{method: "GET", path: "/api/token"}), true)
	if a.User.CommunicationUserID != b.User.CommunicationUserID {
		t.Error("X-Caller-Id did not keep the identity with the embedded emulator")
	}
	if c.User.CommunicationUserID == a.User.CommunicationUserID {
		t.Error("a call without X-Caller-Id got the named identity")
	}
	r := h.send(hostRequest{method: "GET", path: "/api/token", header: map[string]string{devCallerHeader: strings.Repeat("x", 129)}})
	wantError(t, "long X-Caller-Id", r, 400, "InvalidRequest")

	// A page that reached this loopback service by DNS rebinding sends its
	// own host name: refused. The health probe answers any host.
	for _, host := range []string{"rebind.attacker.example", "rebind.attacker.example:" + h.port()} {
		r = h.send(hostRequest{method: "GET", path: "/api/token", header: map[string]string{"Host": host, devCallerHeader: "dev-alice"}})
		wantError(t, "Host "+host, r, 403, "HostNotAllowed")
	}
	if r := h.send(hostRequest{method: "GET", path: "/", header: map[string]string{"Host": "rebind.attacker.example"}}); r.status != 200 {
		t.Errorf("health with another Host: %d", r.status)
	}
	wantToken(t, "Host localhost", h.send(hostRequest{method: "GET", path: "/api/token", header: map[string]string{"Host": "localhost:" + h.port()}}), true)

	// The token verifies with the embedded emulator's published key.
	resp, err := http.Get(emURL[1] + emulator.JWKSPath)
	if err != nil {
		t.Fatal(err)
	}
	var set struct {
		Keys []struct{ Kty, Crv, X string }
	}
	err = json.NewDecoder(resp.Body).Decode(&set)
	resp.Body.Close()
	if err != nil || len(set.Keys) != 1 || set.Keys[0].Crv != "Ed25519" {
		t.Fatalf("emulator JWKS: %+v (%v)", set, err)
	}
	verifyACSToken(t, ed25519.PublicKey(must(base64.RawURLEncoding.DecodeString(set.Keys[0].X))), a)

	introspect := func(token string) string {
		resp, err := http.Post(emURL[1]+emulator.IntrospectPath, "application/json", strings.NewReader(`{"token":"`+token+`"}`))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var st struct{ Status string }
		if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
			t.Fatal(err)
		}
		return st.Status
	}
	if st := introspect(b.Token); st != emulator.StatusValid {
		t.Errorf("introspect = %q, want valid", st)
	}
	if r := h.send(hostRequest{method: "DELETE", path: "/api/user", header: dev}); r.status != http.StatusNoContent {
		t.Fatalf("DELETE /api/user = %d %s", r.status, r.body)
	}
	if st := introspect(b.Token); st != emulator.StatusDeleted {
		t.Errorf("introspect after DELETE = %q, want deleted", st)
	}
	if err := h.stop(); err != nil {
		t.Errorf("exit after SIGTERM: %v", err)
	}
}

// TestEndToEndRefusesUnauthenticatedRealResource: a real resource with no
// caller authentication configured must not start, and must say what to set.
func TestEndToEndRefusesUnauthenticatedRealResource(t *testing.T) {
	t.Parallel()
	const key = "c2VjcmV0LWtleS1mb3ItdGhlLXRlc3Q="
	h := launch(t, map[string]string{envConnectionString: "endpoint=https://contoso.communication.azure.com/;accesskey=" + key})
	select {
	case <-h.done:
	case <-time.After(startTimeout):
		t.Fatal("the handler did not exit")
	}
	var exit *exec.ExitError
	if !errors.As(h.err, &exit) || exit.ExitCode() != 2 {
		t.Errorf("exit = %v, want status 2", h.err)
	}
	out := h.logs.String()
	for _, want := range []string{envOIDCIssuer, envOIDCAudience, envOIDCJWKSURL, envAllowAnonymous + "=true"} {
		if !strings.Contains(out, want) {
			t.Errorf("the message does not mention %s:\n%s", want, out)
		}
	}
	if strings.Contains(out, key) {
		t.Error("the message shows the access key")
	}
}
