package tokenservice_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/acsgo/acsidentity"
	"github.com/acsgo/acsidentity/emulator"
	"github.com/acsgo/acsidentity/internal/testutil"
	"github.com/acsgo/acsidentity/tokenservice"
)

// gatedTransport passes requests to an in-process ACS (h) and counts the
// creates (POST /identities). Creates wait until release is closed, if it
// is set, so that requests that overlap in time reliably do.
type gatedTransport struct {
	h       http.Handler
	release chan struct{}
	creates atomic.Int32
	waiting atomic.Int32 // creates held at the gate
}

func (t *gatedTransport) Do(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/identities") {
		t.creates.Add(1)
		if t.release != nil {
			t.waiting.Add(1)
			select {
			case <-t.release:
			case <-r.Context().Done():
				return nil, r.Context().Err()
			}
		}
	}
	return handlerTransport{t.h}.Do(r)
}

// gaClient returns a client of ACS (through transport) on the default,
// GA, api-version, which has no custom IDs.
func gaClient(t testing.TB, transport policy.Transporter) *acsidentity.Client {
	t.Helper()
	o := testClientOptions(transport)
	o.APIVersion = ""
	c, err := acsidentity.NewClientFromConnectionString("endpoint=http://127.0.0.1:10780/;accesskey="+emulator.DevelopmentKey, o)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// liveIdentities returns the emulator's identities that are not deleted.
func liveIdentities(em *emulator.Emulator) []emulator.IdentityInfo {
	var out []emulator.IdentityInfo
	for _, i := range em.Identities() {
		if !i.Deleted {
			out = append(out, i)
		}
	}
	return out
}

// noLimit is a rate limiter that allows everything: these tests send many
// requests from one address.
var noLimit = tokenservice.NewMemoryRateLimiter(0, 1)

// callerHeader names a development caller.
func callerHeader(name string) map[string]string {
	return map[string]string{tokenservice.DevCallerHeader: name}
}

// eventually waits (generously) until cond holds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestSingleFlightPerCaller: in custom-ID mode, 20 overlapping first
// requests of one caller make one create; later requests make none.
func TestSingleFlightPerCaller(t *testing.T) {
	t.Parallel()
	em := newEmulator(t)
	tr := &gatedTransport{h: em, release: make(chan struct{})}
	acs, err := acsidentity.NewClientFromConnectionString("endpoint=http://127.0.0.1:10780/;accesskey="+emulator.DevelopmentKey, testClientOptions(tr))
	if err != nil {
		t.Fatal(err)
	}
	var entered atomic.Int32
	svc := newService(t, acs, &tokenservice.Options{AllowAnonymous: true, DevelopmentCallers: true, RateLimiter: noLimit})
	counted := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { entered.Add(1); svc.ServeHTTP(w, r) })

	const n = 20
	ids := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			res := serve(counted, "GET", "/api/token", callerHeader("frank"), "")
			if tb := wantTokenNoFatal(res); tb.User != nil {
				ids[i] = tb.User.CommunicationUserID
			}
		})
	}
	// Hold the first create until every request is in the service (and
	// past the cache, which is empty), then a little longer.
	eventually(t, "the requests to arrive", func() bool { return entered.Load() == n && tr.waiting.Load() >= 1 })
	time.Sleep(50 * time.Millisecond)
	close(tr.release)
	wg.Wait()
	for i, id := range ids {
		if id == "" || id != ids[0] {
			t.Fatalf("request %d: identity %q, request 0: %q", i, id, ids[0])
		}
	}
	if got := tr.creates.Load(); got != 1 {
		t.Fatalf("%d creates for one caller's overlapping requests, want 1", got)
	}
	for range 3 {
		wantToken(t, "later", serve(svc, "GET", "/api/token", callerHeader("frank"), ""))
	}
	if got := tr.creates.Load(); got != 1 {
		t.Fatalf("%d creates after later requests, want 1: a known caller's token is a GetToken", got)
	}
}

// wantTokenNoFatal decodes a token answer in a goroutine other than the
// test's (a zero tokenBody when it is not one).
func wantTokenNoFatal(res *http.Response) tokenBody {
	var tb tokenBody
	if res.StatusCode != http.StatusOK {
		return tb
	}
	json.NewDecoder(res.Body).Decode(&tb)
	return tb
}

// TestStoreReplicasRace: two instances on a GA api-version share a store;
// overlapping first requests of one caller, spread over both, make two
// identities, and the instance whose Record loses deletes its own: every
// request gets the recorded identity, and one identity is left in ACS.
func TestStoreReplicasRace(t *testing.T) {
	t.Parallel()
	em := newEmulator(t)
	tr := &gatedTransport{h: em, release: make(chan struct{})}
	store := tokenservice.NewMemoryIdentityStore()
	replicas := []http.Handler{
		newService(t, gaClient(t, tr), &tokenservice.Options{AllowAnonymous: true, DevelopmentCallers: true, Identities: store, RateLimiter: noLimit, Logger: discard}),
		newService(t, gaClient(t, tr), &tokenservice.Options{AllowAnonymous: true, DevelopmentCallers: true, Identities: store, RateLimiter: noLimit, Logger: discard}),
	}
	const n = 20
	ids := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			tb := wantTokenNoFatal(serve(replicas[i%2], "GET", "/api/token", callerHeader("grace"), ""))
			if tb.User != nil {
				ids[i] = tb.User.CommunicationUserID
			}
		})
	}
	// One create per instance (single flight), both in flight at once.
	eventually(t, "a create on each instance", func() bool { return tr.waiting.Load() == 2 })
	close(tr.release)
	wg.Wait()
	for i, id := range ids {
		if id == "" || id != ids[0] {
			t.Fatalf("request %d: identity %q, request 0: %q", i, id, ids[0])
		}
	}
	live := liveIdentities(em)
	if len(live) != 1 || live[0].ID != ids[0] || live[0].CustomID != "" {
		t.Fatalf("identities left in ACS: %+v, want only %s, without a custom ID", live, ids[0])
	}
	if got := tr.creates.Load(); got != 2 {
		t.Fatalf("%d creates, want 2 (one per instance)", got)
	}
	if store.Len() != 1 {
		t.Fatalf("%d records, want 1", store.Len())
	}
}

// TestStoreUserAndDelete: with a store, GET /user answers 404 until the
// caller's first token (it never makes an identity); DELETE /user deletes
// in ACS and forgets the record, and the next token is for a new identity.
func TestStoreUserAndDelete(t *testing.T) {
	t.Parallel()
	em := newEmulator(t)
	store := tokenservice.NewMemoryIdentityStore()
	svc := newService(t, inProcessClientGA(t, em), &tokenservice.Options{AllowAnonymous: true, DevelopmentCallers: true, Identities: store, RateLimiter: noLimit})
	h := callerHeader("heidi")

	wantError(t, "GET /user before a token", serve(svc, "GET", "/api/user", h, ""), 404, tokenservice.CodeIdentityNotFound)
	if res := serve(svc, "DELETE", "/api/user", h, ""); res.StatusCode != 204 {
		t.Fatalf("DELETE /user without a record: %d", res.StatusCode)
	}
	if n := len(em.Identities()); n != 0 {
		t.Fatalf("GET and DELETE made %d identities", n)
	}
	first := wantToken(t, "token", serve(svc, "GET", "/api/token", h, "")).User.CommunicationUserID
	var u struct {
		ID string `json:"communicationUserId"`
	}
	res := serve(svc, "GET", "/api/user", h, "")
	if readBody(t, res, &u); res.StatusCode != 200 || u.ID != first {
		t.Fatalf("GET /user: %d %q, want %s", res.StatusCode, u.ID, first)
	}
	// Another instance finds the record.
	other := newService(t, inProcessClientGA(t, em), &tokenservice.Options{AllowAnonymous: true, DevelopmentCallers: true, Identities: store, RateLimiter: noLimit})
	if got := wantToken(t, "token elsewhere", serve(other, "GET", "/api/token", h, "")).User.CommunicationUserID; got != first {
		t.Fatalf("the other instance's token is for %s, want %s", got, first)
	}
	if res := serve(svc, "DELETE", "/api/user", h, ""); res.StatusCode != 204 {
		t.Fatalf("DELETE /user: %d %s", res.StatusCode, readBody(t, res, nil))
	}
	if live := liveIdentities(em); len(live) != 0 || store.Len() != 0 {
		t.Fatalf("after DELETE: identities %+v, %d records", live, store.Len())
	}
	// The other instance still has the deleted identity in its cache: ACS
	// answers 404, and the caller gets a new identity.
	second := wantToken(t, "token after DELETE", serve(other, "GET", "/api/token", h, "")).User.CommunicationUserID
	if second == first {
		t.Fatal("the token after DELETE is for the deleted identity")
	}
	if got, _ := store.Identity(context.Background(), recordKey(t, store)); got != second {
		t.Fatalf("record %q, want %s", got, second)
	}
	if got := wantToken(t, "token on the first instance", serve(svc, "GET", "/api/token", h, "")).User.CommunicationUserID; got != second {
		t.Fatalf("the first instance's token is for %s, want %s", got, second)
	}
}

// recordKey returns the key of the store's only record.
func recordKey(t *testing.T, s *tokenservice.MemoryIdentityStore) string {
	t.Helper()
	keys := tokenservice.MemoryStoreKeys(s)
	if len(keys) != 1 {
		t.Fatalf("%d records, want 1", len(keys))
	}
	return keys[0]
}

// TestStoreStaleRecord: a recorded identity ACS no longer has (deleted
// behind the service's back, or a crash between DeleteUser and Forget) is
// replaced, on an instance that did not know it as on one that did.
func TestStoreStaleRecord(t *testing.T) {
	t.Parallel()
	em := newEmulator(t)
	acs := inProcessClientGA(t, em)
	store := tokenservice.NewMemoryIdentityStore()
	opts := func() *tokenservice.Options {
		return &tokenservice.Options{AllowAnonymous: true, DevelopmentCallers: true, Identities: store, RateLimiter: noLimit}
	}
	svc := newService(t, acs, opts())
	h := callerHeader("ivan")
	first := wantToken(t, "token", serve(svc, "GET", "/api/token", h, "")).User.CommunicationUserID
	if _, err := acs.DeleteUser(context.Background(), acsidentity.CommunicationUserIdentifier{ID: first}, nil); err != nil {
		t.Fatal(err)
	}
	fresh := newService(t, acs, opts()) // knows the caller only from the store
	second := wantToken(t, "token on a fresh instance", serve(fresh, "GET", "/api/token", h, "")).User.CommunicationUserID
	if second == first {
		t.Fatal("a token for a deleted identity")
	}
	if got := wantToken(t, "token on the first instance", serve(svc, "GET", "/api/token", h, "")).User.CommunicationUserID; got != second {
		t.Fatalf("the first instance: %s, want %s", got, second)
	}
	if live := liveIdentities(em); len(live) != 1 || store.Len() != 1 {
		t.Fatalf("identities %+v, %d records; want one of each", live, store.Len())
	}
}

// TestCustomIDModeDeletedIdentity: without a store, an identity deleted
// elsewhere (another instance's DELETE) is replaced on the next token.
func TestCustomIDModeDeletedIdentity(t *testing.T) {
	t.Parallel()
	em := newEmulator(t)
	acs := inProcessACS(t, em)
	svc, other := newService(t, acs, nil), newService(t, acs, nil)
	h := callerHeader("judy")
	first := wantToken(t, "token", serve(svc, "GET", "/api/token", h, "")).User.CommunicationUserID
	if res := serve(other, "DELETE", "/api/user", h, ""); res.StatusCode != 204 {
		t.Fatalf("DELETE on the other instance: %d", res.StatusCode)
	}
	second := wantToken(t, "token after DELETE", serve(svc, "GET", "/api/token", h, "")).User.CommunicationUserID
	if second == first {
		t.Fatal("a token for a deleted identity")
	}
}

// faultyStore is an IdentityStore whose calls fail, hang until their
// deadline, or answer a fixed record, as a broken shared store would.
type faultyStore struct {
	*tokenservice.MemoryIdentityStore
	mode   string // "fail", "hang", "corrupt", "fail-record", "corrupt-record", "panic"
	record string // what "corrupt" and "corrupt-record" answer
}

var errStoreDown = errors.New("dial tcp 127.0.0.1:6379: connect: connection refused")

func (s *faultyStore) Identity(ctx context.Context, caller string) (string, error) {
	switch s.mode {
	case "fail":
		return "", errStoreDown
	case "hang":
		<-ctx.Done()
		return "", ctx.Err()
	case "corrupt":
		return s.record, nil
	case "panic":
		panic("a bug in the store")
	}
	return s.MemoryIdentityStore.Identity(ctx, caller)
}

func (s *faultyStore) Forget(ctx context.Context, caller, id string) error {
	if s.mode == "fail-forget" {
		return errStoreDown
	}
	return s.MemoryIdentityStore.Forget(ctx, caller, id)
}

func (s *faultyStore) Record(ctx context.Context, caller, id string) (string, error) {
	switch s.mode {
	case "fail-record":
		return "", errStoreDown
	case "corrupt-record":
		return s.record, nil
	}
	return s.MemoryIdentityStore.Record(ctx, caller, id)
}

// TestStoreFaults: a store that is down, slow or corrupt gives an error
// answer and an Error log line, never a token and never a panic; an
// identity made before a failed Record is deleted.
func TestStoreFaults(t *testing.T) {
	t.Parallel()
	cases := []struct {
		mode, record string
		status       int
		code         string
		retryAfter   string
	}{
		{"fail", "", 503, tokenservice.CodeIdentityStoreUnavailable, "5"},
		{"hang", "", 503, tokenservice.CodeIdentityStoreUnavailable, "5"},
		{"fail-record", "", 503, tokenservice.CodeIdentityStoreUnavailable, "5"},
		{"corrupt", "not an ACS ID", 500, tokenservice.CodeInternalError, ""},
		{"corrupt", "8:orgid:6bc8b0d2-3e0e-4a7b-9c1f-8e7d6c5b4a39", 500, tokenservice.CodeInternalError, ""},
		{"corrupt-record", "{\"id\": 1}", 500, tokenservice.CodeInternalError, ""},
		{"panic", "", 500, tokenservice.CodeInternalError, ""},
	}
	for _, c := range cases {
		t.Run(c.mode+" "+c.record, func(t *testing.T) {
			t.Parallel()
			em := newEmulator(t)
			var logs testutil.SyncBuffer
			store := &faultyStore{MemoryIdentityStore: tokenservice.NewMemoryIdentityStore(), mode: c.mode, record: c.record}
			svc := newService(t, inProcessClientGA(t, em), &tokenservice.Options{AllowAnonymous: true, DevelopmentCallers: true, Identities: store, RateLimiter: noLimit,
				ACSTimeout: 300 * time.Millisecond, Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
			res := serve(svc, "GET", "/api/token", callerHeader("kim"), "")
			if got := res.Header.Get("Retry-After"); got != c.retryAfter {
				t.Errorf("Retry-After %q, want %q", got, c.retryAfter)
			}
			wantError(t, "token", res, c.status, c.code)
			if !strings.Contains(logs.String(), `"level":"ERROR"`) || !strings.Contains(logs.String(), "identity") {
				t.Errorf("no Error log line about the store:\n%s", logs.String())
			}
			if strings.HasPrefix(c.mode, "fail") {
				if !strings.Contains(logs.String(), "connection refused") {
					t.Errorf("the log does not say what the store said:\n%s", logs.String())
				}
			}
			if live := liveIdentities(em); len(live) != 0 {
				t.Errorf("identities left in ACS: %+v", live)
			}
		})
	}
}

// TestStoreIdentityNotForOtherCallers: each caller's record is its own:
// callers on two instances sharing a store never get each other's
// identity, and development callers and Authenticate's callers with the
// same name have different records.
func TestStoreIdentityNotForOtherCallers(t *testing.T) {
	t.Parallel()
	em := newEmulator(t)
	store := tokenservice.NewMemoryIdentityStore()
	auth := func(r *http.Request) (tokenservice.Caller, error) {
		if id := r.Header.Get("X-Test-User"); id != "" {
			return tokenservice.Caller{ID: id}, nil
		}
		return tokenservice.Caller{}, tokenservice.ErrNoCredentials
	}
	a := newService(t, inProcessClientGA(t, em), &tokenservice.Options{Authenticate: auth, AllowAnonymous: true, DevelopmentCallers: true, Identities: store, RateLimiter: noLimit})
	b := newService(t, inProcessClientGA(t, em), &tokenservice.Options{Authenticate: auth, AllowAnonymous: true, DevelopmentCallers: true, Identities: store, RateLimiter: noLimit})
	seen := map[string]string{}
	for i := range 10 {
		for _, who := range []struct{ kind, name string }{{"dev", fmt.Sprint("u", i)}, {"auth", fmt.Sprint("u", i)}} {
			h := callerHeader(who.name)
			if who.kind == "auth" {
				h = map[string]string{"X-Test-User": who.name}
			}
			id1 := wantToken(t, "a", serve(a, "GET", "/api/token", h, "")).User.CommunicationUserID
			id2 := wantToken(t, "b", serve(b, "GET", "/api/token", h, "")).User.CommunicationUserID
			if id1 != id2 {
				t.Fatalf("%v: %s on one instance, %s on the other", who, id1, id2)
			}
			if prev, ok := seen[id1]; ok {
				t.Fatalf("%v has the identity of %s", who, prev)
			}
			seen[id1] = who.kind + ":" + who.name
		}
	}
	for _, k := range tokenservice.MemoryStoreKeys(store) {
		if strings.Contains(k, "u1") || len(k) > 256 {
			t.Fatalf("a record key shows the caller ID or is too long: %q", k)
		}
	}
}

func inProcessClientGA(t testing.TB, em *emulator.Emulator) *acsidentity.Client {
	return gaClient(t, handlerTransport{em})
}

// TestNewAcceptsGAWithStore: New refuses lasting identities on a GA
// api-version without a store, and accepts them with one.
func TestNewAcceptsGAWithStore(t *testing.T) {
	t.Parallel()
	acs := gaClient(t, handlerTransport{newEmulator(t)})
	auth := func(*http.Request) (tokenservice.Caller, error) { return tokenservice.Caller{ID: "a"}, nil }
	if _, err := tokenservice.New(acs, &tokenservice.Options{Authenticate: auth, Logger: discard}); err == nil || !strings.Contains(err.Error(), "Options.Identities") {
		t.Fatalf("New without a store on a GA api-version: %v", err)
	}
	if _, err := tokenservice.New(acs, &tokenservice.Options{Authenticate: auth, Identities: tokenservice.NewMemoryIdentityStore(), Logger: discard}); err != nil {
		t.Fatalf("New with a store on a GA api-version: %v", err)
	}
}

// TestStoreFaultsUser: GET and DELETE /user with a store that is down get
// 503; a DELETE whose Forget fails (the identity deleted in ACS, the record
// left) is an error, and the caller's next token gets a new identity all
// the same, as does the DELETE's retry.
func TestStoreFaultsUser(t *testing.T) {
	t.Parallel()
	em := newEmulator(t)
	store := &faultyStore{MemoryIdentityStore: tokenservice.NewMemoryIdentityStore()}
	svc := newService(t, inProcessClientGA(t, em), &tokenservice.Options{AllowAnonymous: true, DevelopmentCallers: true, Identities: store, RateLimiter: noLimit})
	h := callerHeader("pia")
	first := wantToken(t, "token", serve(svc, "GET", "/api/token", h, "")).User.CommunicationUserID

	fresh := newService(t, inProcessClientGA(t, em), &tokenservice.Options{AllowAnonymous: true, DevelopmentCallers: true, Identities: store, RateLimiter: noLimit})
	store.mode = "fail"
	wantError(t, "GET /user, store down", serve(fresh, "GET", "/api/user", h, ""), 503, tokenservice.CodeIdentityStoreUnavailable)
	wantError(t, "DELETE /user, store down", serve(fresh, "DELETE", "/api/user", h, ""), 503, tokenservice.CodeIdentityStoreUnavailable)
	if live := liveIdentities(em); len(live) != 1 {
		t.Fatalf("identities after refused DELETEs: %+v", live)
	}

	store.mode = "fail-forget"
	wantError(t, "DELETE /user, Forget fails", serve(svc, "DELETE", "/api/user", h, ""), 503, tokenservice.CodeIdentityStoreUnavailable)
	if live := liveIdentities(em); len(live) != 0 {
		t.Fatalf("the identity was not deleted in ACS: %+v", live)
	}
	store.mode = ""
	// The record names a deleted identity: the next token replaces it.
	second := wantToken(t, "token after the half-done DELETE", serve(fresh, "GET", "/api/token", h, "")).User.CommunicationUserID
	if second == first {
		t.Fatal("a token for the deleted identity")
	}
	if res := serve(svc, "DELETE", "/api/user", h, ""); res.StatusCode != 204 {
		t.Fatalf("DELETE again: %d", res.StatusCode)
	}
	if live := liveIdentities(em); len(live) != 0 || store.Len() != 0 {
		t.Fatalf("after DELETE: identities %+v, %d records", live, store.Len())
	}
}
