package oidc

// What an attacker tried on the first version of the service: a key fetch
// convoy, and key IDs large enough to flood the log.

import (
	"bufio"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/acsgo/acsidentity"
	"github.com/acsgo/acsidentity/emulator"
	"github.com/acsgo/acsidentity/internal/testutil"
	"github.com/acsgo/acsidentity/tokenservice"
)

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestJWKSNoConvoy: with the minimum refresh interval below the fetch
// timeout and an issuer that hangs, requests that arrive during a fetch
// share it and fail when it times out, instead of each running its own
// fetch after the one before (the first version: ten requests, nine
// fetches, the last answered after 90 s). After the failure, requests fail
// at once until a retry is due. The clock is synctest's: the times below
// are exact, not measured.
func TestJWKSNoConvoy(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var fetches atomic.Int32
		hang := roundTripFunc(func(r *http.Request) (*http.Response, error) {
			fetches.Add(1)
			<-r.Context().Done() // until the fetch times out
			return nil, r.Context().Err()
		})
		a, err := New(Config{Issuer: testIssuer, Audiences: []string{testAudience}, JWKSURL: "https://idp.example/keys",
			MinRefresh: time.Second, Transport: hang, Logger: discard})
		if err != nil {
			t.Fatal(err)
		}
		bearer := "Bearer " + newTestKey(t, "key-1", "EdDSA").Sign(t, goodClaims(time.Now(), "alice"), nil)
		authenticate := func() (time.Duration, error) {
			start := time.Now()
			r := httptest.NewRequest("GET", "/token", nil)
			r.Header.Set("Authorization", bearer)
			_, err := a.Authenticate(r)
			return time.Since(start), err
		}

		// Ten requests, 0.9 s apart: all arrive while the first fetch
		// hangs, most of them more than MinRefresh after it started.
		const n = 10
		took := make([]time.Duration, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				time.Sleep(time.Duration(i) * 900 * time.Millisecond)
				took[i], errs[i] = authenticate()
			})
		}
		wg.Wait()
		if got := fetches.Load(); got != 1 {
			t.Errorf("%d requests started %d fetches, want 1", n, got)
		}
		for i := range n {
			if ae := authErr(t, errs[i]); ae.Status != http.StatusServiceUnavailable {
				t.Errorf("request %d: %v, want 503", i, errs[i])
			}
			if took[i] > jwksFetchTimeout {
				t.Errorf("request %d took %v, more than one fetch (%v)", i, took[i], jwksFetchTimeout)
			}
		}

		// Right after the failed fetch: no new fetch, an answer at once.
		if d, err := authenticate(); d != 0 || authErr(t, err).Status != http.StatusServiceUnavailable || fetches.Load() != 1 {
			t.Errorf("right after the failure: %v after %v, %d fetches; want 503 at once and no fetch", err, d, fetches.Load())
		}
		// Once MinRefresh has passed since it ended, one retry.
		time.Sleep(time.Second)
		wg.Go(func() { authenticate() })
		wg.Go(func() { authenticate() })
		wg.Wait()
		if got := fetches.Load(); got != 2 {
			t.Errorf("after MinRefresh, two requests: %d fetches in all, want 2", got)
		}
	})
}

// TestUnknownKIDLogBounded: a token's key ID is the caller's to choose, up
// to the 16 KiB a token may have; the service's log line about it stays
// short.
func TestUnknownKIDLogBounded(t *testing.T) {
	t.Parallel()
	k := newTestKey(t, "key-1", "EdDSA")
	a, err := New(Config{Issuer: testIssuer, Audiences: []string{testAudience}, JWKSURL: testutil.NewIDP(t, k).JWKSURL(), MinRefresh: -1, Logger: discard})
	if err != nil {
		t.Fatal(err)
	}
	em, err := emulator.Start(nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { em.Close() })
	client, err := acsidentity.NewClientFromConnectionString(em.ConnectionString(), tokenservice.NewClientOptions())
	if err != nil {
		t.Fatal(err)
	}
	var logs testutil.SyncBuffer
	svc, err := tokenservice.New(client, &tokenservice.Options{Authenticate: a.Authenticate, Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	kid := strings.Repeat("K", 10<<10)
	for _, hdr := range []map[string]any{
		{"kid": kid},                         // unknown key
		{"alg": strings.Repeat("A", 10<<10)}, // unknown algorithm
		{"typ": kid},                         // a strange type
		{"crit": []string{kid}},              // a critical header
	} {
		r := httptest.NewRequest("GET", "http://127.0.0.1/token", nil)
		r.Header.Set("Authorization", "Bearer "+k.Sign(t, goodClaims(time.Now(), "alice"), hdr))
		w := httptest.NewRecorder()
		svc.ServeHTTP(w, r)
		if w.Code != http.StatusUnauthorized {
			t.Errorf("header %.40v: %d, want 401", hdr, w.Code)
		}
	}
	sc := bufio.NewScanner(strings.NewReader(logs.String()))
	sc.Buffer(nil, 1<<20)
	lines := 0
	for sc.Scan() {
		lines++
		if len(sc.Bytes()) > 1024 {
			t.Errorf("a log line of %d bytes: %.300s…", len(sc.Bytes()), sc.Bytes())
		}
	}
	if lines < 4 {
		t.Errorf("%d log lines for 4 requests:\n%.2000s", lines, logs.String())
	}
	if strings.Contains(logs.String(), strings.Repeat("K", 100)) {
		t.Error("the log has a 100-byte run of the key ID")
	}
}
