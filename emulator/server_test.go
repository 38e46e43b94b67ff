package emulator

import (
	"crypto/ed25519"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/acsgo/acsidentity/emulator/internal/datafile"
	"github.com/acsgo/acsidentity/internal/hmacauth"
	"github.com/acsgo/acsidentity/internal/wire"
)

func TestTLS(t *testing.T) {
	t.Parallel()
	srv, err := StartTLS(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if !strings.HasPrefix(srv.URL, "https://127.0.0.1:") || !strings.HasPrefix(srv.ConnectionString(), "endpoint=https://") {
		t.Errorf("URL %s", srv.URL)
	}
	cert := srv.Certificate()
	if cert == nil || cert.VerifyHostname("127.0.0.1") != nil || cert.VerifyHostname("localhost") != nil || cert.VerifyHostname("::1") != nil {
		t.Fatal("certificate does not cover the loopback names")
	}
	if !strings.Contains(string(srv.CertificatePEM()), "BEGIN CERTIFICATE") || srv.CertPool() == nil {
		t.Error("no PEM or pool")
	}
	c := newClient(t, srv, "")
	id := c.createUser("2023-10-01")
	r, _ := c.issue(id, "2023-10-01", "chat")
	mustStatus(t, r, 200)
	// HTTP/2 is offered and the signature still covers :path.
	resp, err := c.hc.Do(c.build(req{method: "POST", path: idPath(id, "/:revokeAccessTokens", "2023-10-01")}))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 204 || resp.ProtoMajor != 2 {
		t.Errorf("revoke over TLS: %d %s", resp.StatusCode, resp.Proto)
	}
	// A dropped request over HTTP/2 is a reset stream.
	srv.Emulator.InjectFault(Fault{DropConnection: true})
	if resp, err := c.hc.Do(c.build(req{method: "POST", path: "/identities?api-version=2023-10-01"})); err == nil {
		resp.Body.Close()
		t.Errorf("dropped request answered %d", resp.StatusCode)
	}
	// HTTP/1.1 clients work too.
	h1 := srv.Client()
	h1.Transport.(*http.Transport).ForceAttemptHTTP2 = false
	h1.Transport.(*http.Transport).TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	c1 := *c
	c1.hc = h1
	resp, err = c1.hc.Do(c1.build(req{method: "POST", path: "/identities?api-version=2023-10-01"}))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 201 || resp.ProtoMajor != 1 {
		t.Errorf("HTTP/1.1 over TLS: %d %s", resp.StatusCode, resp.Proto)
	}
	if _, err := http.Get(srv.URL + "/"); err == nil {
		t.Error("an untrusting client connected")
	}
	plain, _ := Start(nil)
	defer plain.Close()
	if plain.Certificate() != nil || plain.CertPool() != nil || plain.CertificatePEM() != nil {
		t.Error("plain server has a certificate")
	}
}

func TestExtensionEndpoints(t *testing.T) {
	t.Parallel()
	srv, c := start(t, nil)
	for _, p := range []string{"/", HealthPath} {
		resp, err := http.Get(srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("GET %s: %d", p, resp.StatusCode)
		}
	}
	resp, err := http.Get(srv.URL + JWKSPath)
	if err != nil {
		t.Fatal(err)
	}
	jr := &response{status: resp.StatusCode}
	jr.body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	var jwks struct {
		Keys []map[string]string `json:"keys"`
	}
	jr.decode(t, &jwks)
	k := jwks.Keys[0]
	x, _ := base64.RawURLEncoding.DecodeString(k["x"])
	if k["kty"] != "OKP" || k["crv"] != "Ed25519" || k["kid"] == "" || !ed25519.PublicKey(x).Equal(srv.Emulator.PublicKey()) {
		t.Errorf("jwks %s", jr.body)
	}
	id := c.createUser("2023-10-01")
	_, tok := c.issue(id, "2023-10-01", "chat", "voip")
	// The token's kid names the JWKS key.
	hb, _ := base64.RawURLEncoding.DecodeString(strings.Split(tok.Token, ".")[0])
	if !strings.Contains(string(hb), `"kid":"`+k["kid"]+`"`) {
		t.Errorf("kid mismatch: %s", hb)
	}
	intro := func(body string) *response {
		resp, err := http.Post(srv.URL+IntrospectPath, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return &response{status: resp.StatusCode, body: b}
	}
	r := intro(`{"token":"` + tok.Token + `"}`)
	mustStatus(t, r, 200)
	var st struct {
		Status, User, ExpiresOn string
		Scopes                  []string
	}
	r.decode(t, &st)
	if st.Status != "valid" || st.User != id || len(st.Scopes) != 2 || !expiresOnRE.MatchString(st.ExpiresOn) {
		t.Errorf("introspect %s", r.body)
	}
	r = intro(`{"token":"abc.def.ghi"}`)
	r.decode(t, &st)
	if string(r.body) != `{"status":"invalid"}` {
		t.Errorf("invalid token: %s", r.body)
	}
	mustStatus(t, intro(`nope`), 400)
	resp, _ = http.Get(srv.URL + IntrospectPath)
	resp.Body.Close()
	if resp.StatusCode != 405 {
		t.Errorf("GET introspect: %d", resp.StatusCode)
	}
	resp, _ = http.Get(srv.URL + "/.emulator/nothing")
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Errorf("unknown extension: %d", resp.StatusCode)
	}
}

func TestBodyLimit(t *testing.T) {
	t.Parallel()
	_, c := start(t, &Options{MaxBodyBytes: 64})
	big := `{"createTokenWithScopes":["chat"],"x":"` + strings.Repeat("a", 100) + `"}`
	r := c.send(req{method: "POST", path: "/identities?api-version=2023-10-01", body: big})
	mustStatus(t, r, 413)
	if r.errorBody(t).Code != "RequestBodyTooLarge" {
		t.Errorf("%s", r.body)
	}
	// Without a Content-Length (chunked), too.
	r = c.send(req{method: "POST", path: "/identities?api-version=2023-10-01", body: big, mutate: func(h *http.Request) {
		h.ContentLength = -1
		h.Body = io.NopCloser(strings.NewReader(big))
	}})
	mustStatus(t, r, 413)
	mustStatus(t, c.send(req{method: "POST", path: "/identities?api-version=2023-10-01", body: `{"createTokenWithScopes":["chat"]}`}), 201)
}

func TestClosedEmulator(t *testing.T) {
	t.Parallel()
	srv, c := start(t, nil)
	srv.Emulator.Close()
	mustStatus(t, c.send(req{method: "POST", path: "/identities?api-version=2023-10-01"}), 503)
	if err := srv.Emulator.Close(); err != nil {
		t.Error(err)
	}
}

// TestConcurrentMixed runs 1000 mixed requests from 32 goroutines and
// checks that no identity is lost and the final state is consistent.
func TestConcurrentMixed(t *testing.T) {
	t.Parallel()
	srv, c := start(t, &Options{DataFile: t.TempDir() + "/state.json"})
	e := srv.Emulator
	const v = "2025-03-02-preview"
	var seed []string
	for range 40 {
		seed = append(seed, c.createUser(v))
	}
	doomed := seed[:20] // each deleted exactly once
	var (
		mu      sync.Mutex
		created []string
		deletes atomic.Int64
		next    atomic.Int64
	)
	var wg sync.WaitGroup
	for w := range 32 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			for {
				i := next.Add(1) - 1
				if i >= 1000 {
					return
				}
				target := seed[20+rng.IntN(20)]
				switch i % 6 {
				case 0:
					id := c.createUser(v)
					mu.Lock()
					created = append(created, id)
					mu.Unlock()
				case 1:
					r := c.send(req{method: "POST", path: "/identities?api-version=" + v, body: fmt.Sprintf(`{"customId":"c%d","createTokenWithScopes":["chat"]}`, i%7)})
					mustStatus(t, r, 201)
				case 2:
					r, tok := c.issue(target, v, "chat", "voip.join")
					mustStatus(t, r, 200)
					if st := e.Introspect(tok.Token); st.Status != StatusValid && st.Status != StatusRevoked {
						t.Errorf("fresh token %s", st.Status)
					}
				case 3:
					mustStatus(t, c.send(req{method: "POST", path: idPath(target, "/:revokeAccessTokens", v)}), 204)
				case 4:
					mustStatus(t, c.send(req{method: "GET", path: idPath(target, "", v)}), 200)
				case 5:
					if n := deletes.Add(1) - 1; n < int64(len(doomed)) {
						mustStatus(t, c.send(req{method: "DELETE", path: idPath(doomed[n], "", v)}), 204)
					} else {
						mustStatus(t, c.send(req{method: "GET", path: idPath(target, "", v)}), 200)
					}
				}
			}
		})
	}
	wg.Wait()
	want := len(seed) + len(created) + 7 - len(doomed)
	if got := e.store.count(); got != want {
		t.Errorf("%d live identities, want %d", got, want)
	}
	for _, id := range append(created, seed[20:]...) {
		mustStatus(t, c.send(req{method: "GET", path: idPath(id, "", v)}), 200)
	}
	for _, id := range doomed {
		mustStatus(t, c.send(req{method: "GET", path: idPath(id, "", v)}), 404)
	}
	// The saved file agrees after a restart.
	file := t.TempDir() + "/copy.json"
	b, err := e.snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if err := datafile.WriteFileAtomic(file, b); err != nil {
		t.Fatal(err)
	}
	e2, err := New(&Options{DataFile: file})
	if err != nil {
		t.Fatal(err)
	}
	defer e2.Close()
	if got := e2.store.count(); got != want {
		t.Errorf("after reload %d identities, want %d", got, want)
	}
}

// BenchmarkIssueToken measures token issues through a loopback HTTP server
// with raw signed requests, 16 at a time.
func BenchmarkIssueToken(b *testing.B) {
	srv, err := Start(nil)
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	c := newClient(b, srv, "")
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64
	c.hc = &http.Client{Transport: tr}
	id := c.createUser("2023-10-01")
	raw, _ := base64.StdEncoding.DecodeString(DevelopmentKey)
	key := hmacauth.NewKey(raw)
	body := []byte(`{"scopes":["chat","voip"]}`)
	hash := hmacauth.ContentHash(body)
	url := srv.URL + idPath(id, "/:issueAccessToken", "2023-10-01")
	b.ReportAllocs()
	b.SetParallelism(max(1, 16/runtime.GOMAXPROCS(0)))
	b.ResetTimer()
	start, cpu0 := time.Now(), cpuTime()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			hr, _ := http.NewRequest("POST", url, strings.NewReader(string(body)))
			date := time.Now().UTC().Format(http.TimeFormat)
			hr.Header.Set("Content-Type", "application/json")
			hr.Header.Set(hmacauth.DateHeader, date)
			hr.Header.Set(hmacauth.ContentHashHeader, hash)
			hr.Header.Set("Authorization", hmacauth.AuthorizationPrefix+key.Signature("POST", hr.URL.RequestURI(), date, hr.URL.Host, hash))
			resp, err := c.hc.Do(hr)
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "tokens/s")
	// CPU per issue (client and server together): with the machine to
	// itself, 2 cores give about 2e6/cpu-µs/op tokens per second.
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
}

var _ = wire.Versions
