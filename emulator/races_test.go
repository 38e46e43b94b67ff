package emulator_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/acsgo/acsidentity"
	"github.com/acsgo/acsidentity/emulator"
)

// previewClient is a client of srv on the api-version with custom IDs.
func previewClient(t *testing.T, srv *emulator.Server) *acsidentity.Client {
	t.Helper()
	o := &acsidentity.ClientOptions{}
	o.APIVersion = "2025-03-02-preview"
	o.Retry = policy.RetryOptions{RetryDelay: time.Millisecond, MaxRetryDelay: 10 * time.Millisecond}
	c, err := acsidentity.NewClientFromConnectionString(srv.ConnectionString(), o)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// overlappingCreates sends n creates with customID at once (all released
// together once their goroutines run) and returns the IDs they answered
// and their errors.
func overlappingCreates(t *testing.T, c *acsidentity.Client, n int, customID string) ([]string, []error) {
	t.Helper()
	ids, errs := make([]string, n), make([]error, n)
	var ready, done sync.WaitGroup
	start := make(chan struct{})
	ready.Add(n)
	done.Add(n)
	for i := range n {
		go func() {
			defer done.Done()
			ready.Done()
			<-start
			resp, err := c.CreateUser(context.Background(), &acsidentity.CreateUserOptions{CustomID: customID})
			ids[i], errs[i] = resp.User.ID, err
		}()
	}
	ready.Wait()
	close(start)
	done.Wait()
	return ids, errs
}

// withCustomID returns the live identities that have customID.
func withCustomID(t *testing.T, e *emulator.Emulator, customID string) []string {
	t.Helper()
	var out []string
	for _, it := range e.Identities() {
		if it.CustomID == customID && !it.Deleted {
			out = append(out, it.ID)
		}
	}
	return out
}

// mustBeMultiple checks that err is the service error of a create whose
// custom ID names several identities: 409, code
// MultipleIdentitiesForCustomId, in the emulator's usual error body.
func mustBeMultiple(t *testing.T, what string, err error) {
	t.Helper()
	var re *azcore.ResponseError
	if !errors.As(err, &re) {
		t.Fatalf("%s: error %v, want an *azcore.ResponseError", what, err)
	}
	if re.StatusCode != http.StatusConflict || re.ErrorCode != "MultipleIdentitiesForCustomId" {
		t.Fatalf("%s: %d %s, want 409 MultipleIdentitiesForCustomId", what, re.StatusCode, re.ErrorCode)
	}
	if ct := re.RawResponse.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s: Content-Type %q, want application/json as on every error", what, ct)
	}
	b, _ := io.ReadAll(re.RawResponse.Body)
	var body map[string]map[string]string
	if err := json.Unmarshal(b, &body); err != nil {
		t.Fatalf("%s: body %s: %v", what, b, err)
	}
	e := body["error"]
	if len(body) != 1 || len(e) != 2 || e["code"] != "MultipleIdentitiesForCustomId" || e["message"] == "" {
		t.Errorf("%s: body %s, want {\"error\":{\"code\":\"MultipleIdentitiesForCustomId\",\"message\":...}}", what, b)
	}
}

// TestCustomIDRaces: with CustomIDRaces, 10 overlapping creates with one
// custom ID make several identities, as on the real service; from then on
// a create with it, with or without a token, answers 409
// MultipleIdentitiesForCustomId, also after a restart, while each of the
// identities answers get, token, revoke and delete. Once deletes leave
// one, creates return it again.
func TestCustomIDRaces(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	data := filepath.Join(t.TempDir(), "state.json")
	open := func(races bool) *emulator.Server {
		t.Helper()
		srv, err := emulator.Start(&emulator.Options{DataFile: data, CustomIDRaces: races})
		if err != nil {
			t.Fatal(err)
		}
		return srv
	}
	srv := open(true)
	defer func() { srv.Close() }()
	c := previewClient(t, srv)

	got, errs := overlappingCreates(t, c, 10, "racer")
	made := withCustomID(t, srv.Emulator, "racer")
	if len(made) < 2 {
		t.Fatalf("10 overlapping creates made %d identities (%q), want 2 or more", len(made), made)
	}
	t.Logf("10 overlapping creates made %d identities", len(made))
	for i, err := range errs {
		if err != nil {
			// A create that looked after the first ones were made.
			mustBeMultiple(t, "an overlapping create", err)
		} else if !slices.Contains(made, got[i]) {
			t.Errorf("create %d answered %s, which is not one of %q", i, got[i], made)
		}
	}
	checkMultiple := func(srv *emulator.Server) {
		t.Helper()
		c := previewClient(t, srv)
		_, err := c.CreateUser(ctx, &acsidentity.CreateUserOptions{CustomID: "racer"})
		mustBeMultiple(t, "create", err)
		_, err = c.CreateUserAndToken(ctx, []acsidentity.TokenScope{acsidentity.TokenScopeChat}, &acsidentity.CreateUserAndTokenOptions{CustomID: "racer"})
		mustBeMultiple(t, "create with a token", err)
		// The inspection endpoint shows them with their custom ID.
		resp, err := http.Get(srv.URL + emulator.IdentitiesPath)
		if err != nil {
			t.Fatal(err)
		}
		var page struct{ Value []emulator.IdentityRecord }
		json.NewDecoder(resp.Body).Decode(&page)
		resp.Body.Close()
		var listed []string
		for _, r := range page.Value {
			if r.CustomID == "racer" {
				listed = append(listed, r.ID)
			}
		}
		if slices.Sort(listed); !slices.Equal(listed, made) {
			t.Errorf("%s lists %q with the custom ID, want %q", emulator.IdentitiesPath, listed, made)
		}
	}
	checkMultiple(srv)
	// Another custom ID is not affected.
	if _, err := c.CreateUser(ctx, &acsidentity.CreateUserOptions{CustomID: "calm"}); err != nil {
		t.Fatal(err)
	}

	// The data file keeps them, and a restart answers as before, also
	// without CustomIDRaces: the state has several identities for the
	// custom ID, whichever way new creates behave.
	// The first restart replays them from the journal; the second loads
	// them from the full copy of the state that the first one wrote.
	srv.Close()
	srv = open(false)
	if again := withCustomID(t, srv.Emulator, "racer"); !slices.Equal(again, made) {
		t.Fatalf("after a restart the custom ID names %q, want %q", again, made)
	}
	if st := srv.Emulator.DataFileStatus(); st.ChangesReplayed == 0 {
		t.Errorf("the first restart replayed no change: %+v", st)
	}
	checkMultiple(srv)
	srv.Close()
	srv = open(true)
	if st := srv.Emulator.DataFileStatus(); st.ChangesReplayed != 0 {
		t.Errorf("the second restart replayed %d changes, want a full copy", st.ChangesReplayed)
	}
	checkMultiple(srv)

	// A seed entry with the custom ID makes nothing and names the oldest
	// of them, or the one its ID names.
	oldest, _ := srv.Emulator.Identity(made[0])
	for _, id := range made {
		if r, _ := srv.Emulator.Identity(id); r.CreatedOn.Before(oldest.CreatedOn) || r.CreatedOn.Equal(oldest.CreatedOn) && r.ID < oldest.ID {
			oldest = r
		}
	}
	last := made[len(made)-1]
	seeded, err := srv.Emulator.Seed([]emulator.SeedIdentity{{CustomID: "racer"}, {ID: last, CustomID: "racer"}})
	if err != nil || len(seeded) != 2 || seeded[0].ID != oldest.ID || seeded[1].ID != last {
		t.Fatalf("seeding the custom ID: %+v, %v; want %s, then %s", seeded, err, oldest.ID, last)
	}
	other := "8:acs:" + emulator.DevelopmentResourceID + "_00000000-0000-4000-8000-00000000aaaa"
	if _, err := srv.Emulator.Seed([]emulator.SeedIdentity{{ID: other, CustomID: "racer"}}); err == nil || !strings.Contains(err.Error(), "already names") {
		t.Fatalf("seeding the custom ID with another ID: %v", err)
	}
	if again := withCustomID(t, srv.Emulator, "racer"); !slices.Equal(again, made) {
		t.Fatalf("after seeding the custom ID names %q, want %q", again, made)
	}

	c = previewClient(t, srv)
	for _, id := range made {
		user := acsidentity.CommunicationUserIdentifier{ID: id}
		got, err := c.GetUser(ctx, user, nil)
		if err != nil || got.CustomID != "racer" {
			t.Fatalf("get %s: %+v, %v", id, got, err)
		}
		tok, err := c.GetToken(ctx, user, []acsidentity.TokenScope{acsidentity.TokenScopeVoIP}, nil)
		if err != nil {
			t.Fatalf("token for %s: %v", id, err)
		}
		if _, err := c.RevokeTokens(ctx, user, nil); err != nil {
			t.Fatalf("revoke %s: %v", id, err)
		}
		if st := srv.Emulator.Introspect(tok.Token); st.Status != emulator.StatusRevoked {
			t.Fatalf("a token of %s after a revoke is %q", id, st.Status)
		}
	}
	for i, id := range made[1:] {
		if _, err := c.DeleteUser(ctx, acsidentity.CommunicationUserIdentifier{ID: id}, nil); err != nil {
			t.Fatalf("delete %s: %v", id, err)
		}
		_, err := c.CreateUser(ctx, &acsidentity.CreateUserOptions{CustomID: "racer"})
		if left := len(made) - 1 - i; left > 1 {
			mustBeMultiple(t, "a create with two or more left", err)
		} else if err != nil {
			t.Fatalf("a create with one left: %v", err)
		}
	}
	// One is left: creates return it, with a token too, also after a
	// restart.
	for _, srv := range []*emulator.Server{srv, nil} {
		if srv == nil {
			srv = open(true)
			defer srv.Close()
		}
		c := previewClient(t, srv)
		one, err := c.CreateUserAndToken(ctx, []acsidentity.TokenScope{acsidentity.TokenScopeChat}, &acsidentity.CreateUserAndTokenOptions{CustomID: "racer"})
		if err != nil || one.User.ID != made[0] {
			t.Fatalf("create with one left: %v, %v, want %s", one.User.ID, err, made[0])
		}
		if st := srv.Emulator.Introspect(one.Token); st.Status != emulator.StatusValid || st.User != made[0] {
			t.Fatalf("its token is %+v", st)
		}
		if srv == nil {
			break
		}
		srv.Close()
	}
}

// TestCustomIDAtomicByDefault: without CustomIDRaces the same 10
// overlapping creates make one identity, which every one of them answers.
func TestCustomIDAtomicByDefault(t *testing.T) {
	t.Parallel()
	srv, err := emulator.Start(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	got, errs := overlappingCreates(t, previewClient(t, srv), 10, "calm")
	made := withCustomID(t, srv.Emulator, "calm")
	if len(made) != 1 {
		t.Fatalf("10 overlapping creates made %q, want one identity", made)
	}
	for i := range got {
		if errs[i] != nil || got[i] != made[0] {
			t.Errorf("create %d: %s, %v, want %s", i, got[i], errs[i], made[0])
		}
	}
}

// TestCustomIDRaceWindowWaitsAlone: while a create waits out its race
// window, creates with another custom ID, with a custom ID that names an
// identity already and without one go on without waiting for it.
func TestCustomIDRaceWindowWaitsAlone(t *testing.T) {
	t.Parallel()
	const window = 4 * time.Second
	srv, err := emulator.Start(&emulator.Options{CustomIDRaces: true, CustomIDRaceWindow: window,
		Seed: []emulator.SeedIdentity{{CustomID: "known"}}})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	c := previewClient(t, srv)
	ctx := context.Background()
	slow := make(chan error, 1)
	go func() {
		_, err := c.CreateUser(ctx, &acsidentity.CreateUserOptions{CustomID: "slow"})
		slow <- err
	}()
	// Creates that do not wait run back to back for as long as the slow
	// one waits, so some run during its window; none may wait for it.
	var longest time.Duration
	n := 0
	for done := false; !done; {
		for _, opts := range []*acsidentity.CreateUserOptions{nil, {CustomID: "known"}} {
			start := time.Now()
			if _, err := c.CreateUser(ctx, opts); err != nil {
				t.Fatal(err)
			}
			longest = max(longest, time.Since(start))
			n++
		}
		select {
		case err := <-slow:
			if err != nil {
				t.Fatal(err)
			}
			done = true
		default:
		}
	}
	if longest >= window/2 {
		t.Errorf("a create that does not wait took %v while another waited out a %v window", longest, window)
	}
	if n < 4 {
		t.Errorf("only %d creates ran during the window", n)
	}
}

// TestCustomIDRaceWindowNegative: a negative window is refused, naming
// the option.
func TestCustomIDRaceWindowNegative(t *testing.T) {
	t.Parallel()
	_, err := emulator.New(&emulator.Options{CustomIDRaces: true, CustomIDRaceWindow: -time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "CustomIDRaceWindow is -1ms") {
		t.Errorf("a negative window: %v", err)
	}
}
