package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/acsgo/acsidentity/emulator"
	"github.com/acsgo/acsidentity/internal/testservers"
)

// The multi-replica tests: three processes of the service on one
// emulator, which races creates with one custom ID as the real service
// does (Options.CustomIDRaces), and one Redis or PostgreSQL.

const (
	replicaCount      = 3
	replicaCallers    = 30
	requestsPerCaller = 20
)

// startReplicas starts n service processes on the emulator srv with env
// (and JSON logs), each on a free loopback port, and waits until they
// answer.
func startReplicas(t *testing.T, srv *emulator.Server, n int, env map[string]string) []*handlerProc {
	t.Helper()
	procs := make([]*handlerProc, n)
	for i := range procs {
		e := map[string]string{envConnectionString: srv.ConnectionString(), envLogFormat: "json"}
		for k, v := range env {
			e[k] = v
		}
		port := freePort(t)
		p := launch(t, e, "-addr", "127.0.0.1:"+port)
		p.base = "http://127.0.0.1:" + port
		p.waitReady()
		procs[i] = p
	}
	return procs
}

// racingEmulator starts an emulator whose creates with one custom ID race.
func racingEmulator(t *testing.T) *emulator.Server {
	t.Helper()
	srv, err := emulator.Start(&emulator.Options{CustomIDRaces: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}

// replicaClient keeps enough connections for every request in flight.
var replicaClient = &http.Client{Timeout: 2 * time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: replicaCallers * requestsPerCaller}}

// tokenAnswer is what a replica answered to one GET /api/token.
type tokenAnswer struct {
	status int
	user   string
	body   string
}

// getToken asks base for caller's token.
func getToken(base, caller string) tokenAnswer {
	r, _ := http.NewRequest("GET", base+"/api/token?scopes=chat", nil)
	r.Header.Set("X-Caller-Id", caller)
	resp, err := replicaClient.Do(r)
	if err != nil {
		return tokenAnswer{body: err.Error()}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var tb struct {
		User struct {
			ID string `json:"communicationUserId"`
		} `json:"user"`
	}
	json.Unmarshal(b, &tb)
	return tokenAnswer{status: resp.StatusCode, user: tb.User.ID, body: string(b)}
}

// firstRequests sends each of callers requestsPerCaller overlapping first
// requests, spread round-robin over the replicas, all at once, and
// returns the answers by caller.
func firstRequests(procs []*handlerProc, callers []string) map[string][]tokenAnswer {
	answers := make(map[string][]tokenAnswer, len(callers))
	for _, c := range callers {
		answers[c] = make([]tokenAnswer, requestsPerCaller)
	}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for ci, c := range callers {
		for i := range requestsPerCaller {
			p := procs[(ci+i)%len(procs)]
			wg.Go(func() {
				<-start
				answers[c][i] = getToken(p.base, c)
			})
		}
	}
	close(start)
	wg.Wait()
	return answers
}

// replicaCallerNames are names of development callers unique to this test
// and run, so that tests sharing a store do not meet.
func replicaCallerNames(t *testing.T) []string {
	prefix := testservers.Unique(t)
	names := make([]string, replicaCallers)
	for i := range names {
		names[i] = prefix + "-" + strconv.Itoa(i)
	}
	return names
}

// checkOneIdentityEach: every answer is a token, each caller's are all for
// one identity, the callers' identities differ, and they are exactly the
// live identities of the emulator.
func checkOneIdentityEach(t *testing.T, srv *emulator.Server, answers map[string][]tokenAnswer) map[string]string {
	t.Helper()
	ids := map[string]string{}
	owner := map[string]string{}
	for c, as := range answers {
		for i, a := range as {
			if a.status != http.StatusOK || a.user == "" {
				t.Fatalf("caller %s, request %d: %d %s", c, i, a.status, a.body)
			}
			if ids[c] == "" {
				ids[c] = a.user
			} else if a.user != ids[c] {
				t.Fatalf("caller %s got two identities: %s and %s", c, ids[c], a.user)
			}
		}
		if o, ok := owner[ids[c]]; ok {
			t.Fatalf("callers %s and %s share identity %s", o, c, ids[c])
		}
		owner[ids[c]] = c
	}
	live := 0
	for _, i := range srv.Emulator.Identities() {
		if i.Deleted {
			continue
		}
		live++
		if _, ok := owner[i.ID]; !ok {
			t.Errorf("identity %s (custom ID %q) is left over in ACS", i.ID, i.CustomID)
		}
	}
	if live != len(answers) {
		t.Errorf("%d live identities in ACS for %d callers", live, len(answers))
	}
	return ids
}

// testReplicasWithStore: 30 callers x 20 overlapping first requests over
// three replicas sharing the identity store at storeURL.
func testReplicasWithStore(t *testing.T, storeURL string) {
	srv := racingEmulator(t)
	procs := startReplicas(t, srv, replicaCount, map[string]string{envIdentityStore: storeURL, envRatePerMinute: "0"})
	callers := replicaCallerNames(t)
	ids := checkOneIdentityEach(t, srv, firstRequests(procs, callers))
	// Later requests, on every replica, return the same identity.
	for _, c := range callers {
		for _, p := range procs {
			if a := getToken(p.base, c); a.status != http.StatusOK || a.user != ids[c] {
				t.Fatalf("a later request of %s: %d %s, want %s", c, a.status, a.body, ids[c])
			}
		}
	}
	// A replica started afterwards knows them from the store alone.
	late := startReplicas(t, srv, 1, map[string]string{envIdentityStore: storeURL, envRatePerMinute: "0"})[0]
	for _, c := range callers {
		if a := getToken(late.base, c); a.status != http.StatusOK || a.user != ids[c] {
			t.Fatalf("%s on a new replica: %d %s, want %s", c, a.status, a.body, ids[c])
		}
	}
	for _, p := range append(procs, late) {
		if strings.Contains(p.logs.String(), `"level":"ERROR"`) {
			t.Errorf("a replica logged an error:\n%s", p.logs.String())
		}
	}
}

func TestReplicasRedis(t *testing.T) {
	t.Parallel()
	testReplicasWithStore(t, testservers.RedisURL(t))
}

func TestReplicasPostgres(t *testing.T) {
	t.Parallel()
	testReplicasWithStore(t, testservers.PostgresURL(t))
}

// TestReplicasCustomIDs: without a store, in custom-ID mode, on an ACS
// that races creates with one custom ID, no caller is locked out: every
// request gets a token, on the replicas that raced and on one started
// afterwards, which meets ACS's MultipleIdentitiesForCustomId for the
// callers whose creates raced and moves them on.
func TestReplicasCustomIDs(t *testing.T) {
	t.Parallel()
	handlerBinary(t)
	srv := racingEmulator(t)
	env := map[string]string{envRatePerMinute: "0"}
	procs := startReplicas(t, srv, replicaCount, env)
	callers := replicaCallerNames(t)
	for c, as := range firstRequests(procs, callers) {
		for i, a := range as {
			if a.status != http.StatusOK || a.user == "" {
				t.Fatalf("caller %s, request %d: %d %s", c, i, a.status, a.body)
			}
		}
	}
	// The callers whose creates raced: a custom ID (of any generation)
	// with several identities.
	raced := map[string]bool{}
	seen := map[string]string{}
	generation := regexp.MustCompile(`\.r[0-9]+$`)
	for _, i := range srv.Emulator.Identities() {
		if prev, ok := seen[i.CustomID]; ok && prev != i.ID {
			raced[generation.ReplaceAllString(i.CustomID, "")] = true
		}
		seen[i.CustomID] = i.ID
	}
	if len(raced) == 0 {
		t.Fatal("no caller's creates raced: the test did not reproduce the real service's race")
	}
	t.Logf("%d of %d callers' creates raced", len(raced), len(callers))
	late := startReplicas(t, srv, 1, env)[0]
	for _, c := range callers {
		for _, p := range append(procs, late) {
			if a := getToken(p.base, c); a.status != http.StatusOK {
				t.Fatalf("a later request of %s: %d %s", c, a.status, a.body)
			}
		}
	}
	// The process's log reaches the buffer through a pipe, after the
	// answer it logged for may have: wait for the lines, a while.
	var recovered []string
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		recovered = regexp.MustCompile(`MultipleIdentitiesForCustomId`).FindAllString(late.logs.String(), -1)
		if len(recovered) >= len(raced) || time.Now().After(deadline) {
			break
		}
	}
	if len(recovered) != len(raced) {
		t.Errorf("the new replica logged %d recoveries for %d raced callers:\n%s", len(recovered), len(raced), late.logs.String())
	}
	// Once moved, a caller's next requests on the new replica keep its identity.
	for _, c := range callers {
		a, b := getToken(late.base, c), getToken(late.base, c)
		if a.status != http.StatusOK || a.user != b.user {
			t.Fatalf("%s on the new replica: %s then %s", c, a.body, b.body)
		}
	}
}

// TestReplicasRateLimit: one caller's 40 requests, round-robin over three
// replicas that share a Redis rate limiter (30 a minute, burst 10), within
// about a second, are allowed up to the burst, not three times it.
func TestReplicasRateLimit(t *testing.T) {
	t.Parallel()
	raw := testservers.RedisURL(t)
	// A database of this test's own, its one bucket (every development
	// caller's is the client address's, 127.0.0.1) emptied first.
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/13"
	opts, err := redis.ParseURL(u.String())
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opts)
	defer rdb.Close()
	if err := rdb.FlushDB(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	srv := racingEmulator(t)
	procs := startReplicas(t, srv, replicaCount, map[string]string{envRateLimitStore: u.String(), envRatePerMinute: "30", envRateBurst: "10"})
	caller := testservers.Unique(t)
	allowed, limited := 0, 0
	start := time.Now()
	for i := range 40 {
		switch a := getToken(procs[i%len(procs)].base, caller); a.status {
		case http.StatusOK:
			allowed++
		case http.StatusTooManyRequests:
			limited++
		default:
			t.Fatalf("request %d: %d %s", i, a.status, a.body)
		}
	}
	elapsed := time.Since(start)
	// 30 a minute refills one token every 2 s.
	most := 10 + int(elapsed/(2*time.Second))
	if allowed < 10 || allowed > most {
		t.Fatalf("%d of 40 requests allowed in %v over %d replicas, want 10 (at most %d)", allowed, elapsed, len(procs), most)
	}
	if allowed+limited != 40 {
		t.Fatalf("%d allowed + %d limited != 40", allowed, limited)
	}
}

// TestStoreSQLiteAcrossRestart: with TRUSTED_SERVICE_IDENTITY_STORE=sqlite:PATH
// a caller keeps its identity across a restart of the service, made
// without a custom ID (the GA api-version), and DELETE /api/user forgets
// it.
func TestStoreSQLiteAcrossRestart(t *testing.T) {
	t.Parallel()
	handlerBinary(t)
	srv := racingEmulator(t)
	env := map[string]string{envIdentityStore: "sqlite:" + t.TempDir() + "/ids.db", envRatePerMinute: "0"}
	first := startReplicas(t, srv, 1, env)[0]
	a := getToken(first.base, "alice")
	if a.status != http.StatusOK {
		t.Fatalf("token: %d %s", a.status, a.body)
	}
	if err := first.stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	second := startReplicas(t, srv, 1, env)[0]
	if b := getToken(second.base, "alice"); b.status != http.StatusOK || b.user != a.user {
		t.Fatalf("after a restart: %d %s, want %s", b.status, b.body, a.user)
	}
	for _, i := range srv.Emulator.Identities() {
		if i.CustomID != "" {
			t.Errorf("identity %s has custom ID %q: with a store none is used", i.ID, i.CustomID)
		}
	}
	r, _ := http.NewRequest("DELETE", second.base+"/api/user", nil)
	r.Header.Set("X-Caller-Id", "alice")
	resp, err := replicaClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("DELETE: %d", resp.StatusCode)
	}
	r, _ = http.NewRequest("GET", second.base+"/api/user", nil)
	r.Header.Set("X-Caller-Id", "alice")
	if resp, err = replicaClient.Do(r); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("GET /api/user after DELETE: %d, want 404", resp.StatusCode)
	}
}
