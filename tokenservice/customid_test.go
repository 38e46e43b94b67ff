package tokenservice_test

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/acsgo/acsidentity"
	"github.com/acsgo/acsidentity/emulator"
	"github.com/acsgo/acsidentity/internal/testutil"
	"github.com/acsgo/acsidentity/tokenservice"
)

// multipleIdentities answers creates with a refused custom ID as the real
// service does once overlapping creates made several identities with it
// (and as the emulator's race mode does): 409 with error code
// MultipleIdentitiesForCustomId. Other requests go to the emulator.
type multipleIdentities struct {
	em      *emulator.Emulator
	refused func(customID string) bool
	refusal atomic.Int32
}

func (m *multipleIdentities) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/identities") {
		b, _ := io.ReadAll(r.Body)
		var body struct {
			CustomID string `json:"customId"`
		}
		json.Unmarshal(b, &body)
		if body.CustomID != "" && m.refused(body.CustomID) {
			m.refusal.Add(1)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusConflict)
			w.Write([]byte(`{"error":{"code":"MultipleIdentitiesForCustomId","message":"Multiple identities exist for the custom ID."}}`))
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(b))
	}
	m.em.ServeHTTP(w, r)
}

func clientOf(t testing.TB, h http.Handler) *acsidentity.Client {
	t.Helper()
	c, err := acsidentity.NewClientFromConnectionString("endpoint=http://127.0.0.1:10780/;accesskey="+emulator.DevelopmentKey, testClientOptions(handlerTransport{h}))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestCustomIDRecovery: without a store, a caller whose custom ID ACS
// refuses (MultipleIdentitiesForCustomId) still gets tokens, for the
// identity of the next custom ID of its sequence, on every instance; the
// move is logged at Error once per caller and instance.
func TestCustomIDRecovery(t *testing.T) {
	t.Parallel()
	em := newEmulator(t)
	acs := &multipleIdentities{em: em, refused: func(id string) bool { return !strings.Contains(id, ".r") }}
	var logs testutil.SyncBuffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	opts := func(l *slog.Logger) *tokenservice.Options {
		return &tokenservice.Options{AllowAnonymous: true, DevelopmentCallers: true, RateLimiter: noLimit, Logger: l}
	}
	a := newService(t, clientOf(t, acs), opts(log))
	b := newService(t, clientOf(t, acs), opts(discard))
	h := callerHeader("liz")

	id := wantToken(t, "token", serve(a, "GET", "/api/token", h, "")).User.CommunicationUserID
	live := liveIdentities(em)
	if len(live) != 1 || live[0].ID != id || !strings.HasSuffix(live[0].CustomID, ".r2") || !strings.HasPrefix(live[0].CustomID, "trusted-service.dev.v1.") {
		t.Fatalf("identities %+v, want %s with the custom ID of generation 2", live, id)
	}
	if got := wantToken(t, "token on another instance", serve(b, "GET", "/api/token", h, "")).User.CommunicationUserID; got != id {
		t.Fatalf("the other instance: %s, want %s", got, id)
	}
	var u struct {
		ID string `json:"communicationUserId"`
	}
	if readBody(t, serve(b, "GET", "/api/user", callerHeader("liz"), ""), &u); u.ID != id {
		t.Fatalf("GET /user: %s, want %s", u.ID, id)
	}
	// DELETE, then a new identity: the sequence is walked again, and not
	// logged again.
	if res := serve(a, "DELETE", "/api/user", h, ""); res.StatusCode != 204 {
		t.Fatalf("DELETE: %d", res.StatusCode)
	}
	if got := wantToken(t, "token after DELETE", serve(a, "GET", "/api/token", h, "")).User.CommunicationUserID; got == id {
		t.Fatal("a token for the deleted identity")
	}
	if n := strings.Count(logs.String(), "MultipleIdentitiesForCustomId"); n != 1 || !strings.Contains(logs.String(), `"level":"ERROR"`) ||
		!strings.Contains(logs.String(), `"custom_id_generation":2`) {
		t.Fatalf("want one Error line about the recovery, got %d:\n%s", n, logs.String())
	}
	// Another caller is logged on its own.
	wantToken(t, "another caller", serve(a, "GET", "/api/token", callerHeader("mia"), ""))
	if n := strings.Count(logs.String(), "MultipleIdentitiesForCustomId"); n != 2 {
		t.Fatalf("%d Error lines for two callers, want 2", n)
	}
}

// TestCustomIDRecoveryExhausted: a caller whose every custom ID of the
// sequence is refused gets 502, not a token of someone else's.
func TestCustomIDRecoveryExhausted(t *testing.T) {
	t.Parallel()
	em := newEmulator(t)
	acs := &multipleIdentities{em: em, refused: func(string) bool { return true }}
	svc := newService(t, clientOf(t, acs), nil)
	wantError(t, "token", serve(svc, "GET", "/api/token", callerHeader("ned"), ""), 502, tokenservice.CodeUpstreamError)
	if n := acs.refusal.Load(); n != 8 {
		t.Fatalf("%d creates refused, want 8 (the sequence)", n)
	}
	if n := len(em.Identities()); n != 0 {
		t.Fatalf("%d identities made", n)
	}
}

// TestCustomIDRecoveryRaceMode: against the emulator's race mode, two
// instances' overlapping first requests of one caller make two identities
// with one custom ID, which ACS refuses from then on; a third instance
// (or any whose cache does not know the caller) still gets the caller
// tokens, for the identity of the caller's next custom ID, and says so
// at Error.
func TestCustomIDRecoveryRaceMode(t *testing.T) {
	t.Parallel()
	// A wide window: the two creates overlap however loaded the machine.
	em, err := emulator.New(&emulator.Options{CustomIDRaces: true, CustomIDRaceWindow: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	newInstance := func(log *slog.Logger) http.Handler {
		return newService(t, inProcessACS(t, em), &tokenservice.Options{AllowAnonymous: true, DevelopmentCallers: true, RateLimiter: noLimit, Logger: log})
	}
	a, b := newInstance(discard), newInstance(discard)
	h := callerHeader("olga")
	var wg sync.WaitGroup
	users := make([]string, 2)
	for i, svc := range []http.Handler{a, b} {
		wg.Go(func() {
			if tb := wantTokenNoFatal(serve(svc, "GET", "/api/token", h, "")); tb.User != nil {
				users[i] = tb.User.CommunicationUserID
			}
		})
	}
	wg.Wait()
	if users[0] == "" || users[1] == "" {
		t.Fatalf("the racing requests: %q", users)
	}
	byCustomID := map[string]int{}
	for _, i := range liveIdentities(em) {
		byCustomID[i.CustomID]++
	}
	if len(byCustomID) != 1 {
		t.Fatalf("identities by custom ID: %v, want one custom ID", byCustomID)
	}
	for cid, n := range byCustomID {
		if n < 2 {
			t.Fatalf("custom ID %s has %d identities: the creates did not race", cid, n)
		}
	}
	var logs testutil.SyncBuffer
	c := newInstance(slog.New(slog.NewJSONHandler(&logs, nil)))
	id := wantToken(t, "a third instance", serve(c, "GET", "/api/token", h, "")).User.CommunicationUserID
	if id == users[0] || id == users[1] {
		t.Fatalf("the third instance used a raced identity %s", id)
	}
	if !strings.Contains(logs.String(), `"level":"ERROR"`) || !strings.Contains(logs.String(), "MultipleIdentitiesForCustomId") {
		t.Fatalf("no Error line about the recovery:\n%s", logs.String())
	}
	// The instances that raced keep serving the caller.
	for _, svc := range []http.Handler{a, b, c} {
		wantToken(t, "later", serve(svc, "GET", "/api/token", h, ""))
	}
	// A fourth instance agrees with the third.
	if got := wantToken(t, "a fourth instance", serve(newInstance(discard), "GET", "/api/token", h, "")).User.CommunicationUserID; got != id {
		t.Fatalf("the fourth instance: %s, the third: %s", got, id)
	}
}
