package tokenservice_test

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/acsgo/acsidentity"
	"github.com/acsgo/acsidentity/emulator"
	"github.com/acsgo/acsidentity/internal/testutil"
	"github.com/acsgo/acsidentity/tokenservice"
)

// replayTransport answers the first request of each kind (a create, a
// token for an identity) with the emulator (in process) and every later
// one with a copy of that answer, so that a benchmark measures the service
// and the ACS client, not the emulator's signature.
type replayTransport struct {
	em      *emulator.Emulator
	mu      sync.Mutex
	answers map[bool]*recorded // by "is a create"
}

type recorded struct {
	status int
	header http.Header
	body   []byte
}

func (t *replayTransport) Do(r *http.Request) (*http.Response, error) {
	create := strings.HasSuffix(r.URL.Path, "/identities")
	t.mu.Lock()
	a := t.answers[create]
	if a == nil {
		resp, _ := handlerTransport{t.em}.Do(r)
		a = &recorded{status: resp.StatusCode, header: resp.Header}
		a.body, _ = io.ReadAll(resp.Body)
		if t.answers == nil {
			t.answers = map[bool]*recorded{}
		}
		t.answers[create] = a
	}
	t.mu.Unlock()
	io.Copy(io.Discard, r.Body)
	return &http.Response{StatusCode: a.status, Header: a.header.Clone(), Body: io.NopCloser(bytes.NewReader(a.body)),
		ContentLength: int64(len(a.body)), Request: r}, nil
}

// discardWriter is a reusable http.ResponseWriter that keeps the status.
type discardWriter struct {
	h      http.Header
	status int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *discardWriter) WriteHeader(status int)      { w.status = status }

// BenchmarkServiceToken is the service's CPU per GET /api/token for a
// caller with a lasting identity (without and with an identity store) and
// an anonymous one, with JSON logs (to io.Discard): the
// handler and the ACS client in process, ACS answering with a recorded
// emulator answer. cpu-µs/op is the process's CPU time (getrusage) per
// token, GC included; compare it before and after a change. (The same
// benchmark of the code before package tokenservice is in the history:
// examples/trusted-service/bench_test.go at the commit that added it.)
//
//	go test -run x -bench ServiceToken -count 6 ./tokenservice
func BenchmarkServiceToken(b *testing.B) {
	em, err := emulator.New(nil)
	if err != nil {
		b.Fatal(err)
	}
	acs, err := acsidentity.NewClientFromConnectionString("endpoint=http://127.0.0.1:10780/;accesskey="+emulator.DevelopmentKey,
		testClientOptions(&replayTransport{em: em}))
	if err != nil {
		b.Fatal(err)
	}
	newSvc := func(store tokenservice.IdentityStore) *tokenservice.Service {
		return newBareService(b, acs, &tokenservice.Options{
			AllowAnonymous: true, DevelopmentCallers: true, RateLimiter: tokenservice.NewMemoryRateLimiter(0, 1),
			Identities: store, Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)),
		})
	}
	svc, withStore := newSvc(nil), newSvc(tokenservice.NewMemoryIdentityStore())
	for _, bc := range []struct {
		name, target, caller string
		h                    http.Handler
	}{
		{"the server's handler", "/token", "bench-caller", svc},
		// As examples/trusted-service serves it.
		{"under StripPrefix", "/api/token", "bench-caller", http.StripPrefix("/api", svc)},
		// A known caller with an identity store: the identity cache
		// answers, no store call; one GetToken.
		{"with a store", "/api/token", "bench-caller", http.StripPrefix("/api", withStore)},
		// An anonymous caller: one CreateUserAndToken.
		{"anonymous", "/api/token", "", http.StripPrefix("/api", svc)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			r := httptest.NewRequest("GET", "http://127.0.0.1:7071"+bc.target+"?scopes=chat", nil)
			if bc.caller != "" {
				r.Header.Set(tokenservice.DevCallerHeader, bc.caller)
			}
			w := &discardWriter{h: http.Header{}}
			b.ReportAllocs()
			cpu := testutil.CPUTime()
			for b.Loop() {
				clear(w.h)
				w.status = 0
				bc.h.ServeHTTP(w, r)
				if w.status != http.StatusOK {
					b.Fatalf("status %d", w.status)
				}
			}
			b.ReportMetric(float64(testutil.CPUTime()-cpu)/1e3/float64(b.N), "cpu-µs/op")
		})
	}
}
