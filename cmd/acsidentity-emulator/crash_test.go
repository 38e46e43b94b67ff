package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/acsgo/acsidentity"
)

var killRounds = flag.Int("kill-rounds", 12, "rounds of TestKillRounds; the bar for a change to persistence is -kill-rounds 100")

// crashState is what acknowledged responses promise about the state
// after any crash.
type crashState struct {
	mu        sync.Mutex
	live      map[string]bool // created and not deleted, as acknowledged
	deleted   map[string]bool // deletion acknowledged
	uncertain map[string]bool // an operation on it was cut by the kill
	revoked   []string        // tokens issued, then revoked, both acknowledged
	checkNext map[string]bool // live identities the last round touched
	// revokedLast are the identities the last round revoked (or tried
	// to). After a restart they get the first tokens: if a revocation
	// was saved above the saved token sequence, the first tokens issued
	// are the ones that would count as revoked.
	revokedLast []string
}

// TestKillRounds kills the command with SIGKILL while 8 workers create,
// issue, revoke and delete concurrently against a data file, round after
// round. After every restart each acknowledged identity is there, each
// acknowledged deletion too, no token revoked before the kill is valid,
// and a token issued after the restart is valid, also for identities
// revoked before the kill.
func TestKillRounds(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary")
	}
	bin := buildCommand(t)
	data := filepath.Join(t.TempDir(), "state.json")
	s := &crashState{live: map[string]bool{}, deleted: map[string]bool{}, uncertain: map[string]bool{}, checkNext: map[string]bool{}}
	var midCopy, torn int // kills in the middle of writing a copy of the state, and of a journal line
	for round := range *killRounds {
		args := []string{"-addr", "127.0.0.1:0", "-data", data}
		if round%2 == 1 {
			// Compact again and again, so that kills land in the middle
			// of compactions too.
			args = append(args, "-journal-limit", "2048")
		}
		cmd, conn := startCommand(t, bin, args...)
		c := noRetryClient(t, conn)
		s.check(t, round, c, conn, s.checkNext)
		if t.Failed() {
			return
		}
		s.checkNext, s.revokedLast = map[string]bool{}, nil
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() { s.work(c, stop) })
		}
		time.Sleep(time.Duration(30+rand.IntN(170)) * time.Millisecond)
		if err := cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		close(stop)
		cmd.Wait()
		wg.Wait()
		checkSavedSequence(t, round, data)
		if copies, _ := filepath.Glob(filepath.Join(filepath.Dir(data), ".state.json.tmp-*")); len(copies) > 0 {
			midCopy++
		}
		if b, err := os.ReadFile(data); err == nil && len(b) > 0 && b[len(b)-1] != '\n' {
			torn++
		}
	}
	_, conn := startCommand(t, bin, "-addr", "127.0.0.1:0", "-data", data)
	all := map[string]bool{}
	for id := range s.live {
		all[id] = true
	}
	s.check(t, *killRounds, noRetryClient(t, conn), conn, all)
	t.Logf("%d kill -9 rounds: %d identities live, %d deleted, %d revoked tokens checked, %d operations cut by a kill; %d kills while a copy of the state was being written, %d in the middle of a journal line",
		*killRounds, len(s.live), len(s.deleted), len(s.revoked), len(s.uncertain), midCopy, torn)
}

func noRetryClient(t *testing.T, conn string) *acsidentity.Client {
	t.Helper()
	o := &acsidentity.ClientOptions{ClientOptions: azcore.ClientOptions{
		APIVersion: "2025-03-02-preview",
		Retry:      policy.RetryOptions{MaxRetries: -1, TryTimeout: 30 * time.Second},
	}}
	c, err := acsidentity.NewClientFromConnectionString(conn, o)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// check verifies the promises after a restart; fresh tokens are issued
// for the identities in fresh.
func (s *crashState) check(t *testing.T, round int, c *acsidentity.Client, conn string, fresh map[string]bool) {
	t.Helper()
	ctx := context.Background()
	order := slices.Clone(s.revokedLast)
	slices.Reverse(order) // the latest first
	for id := range fresh {
		order = append(order, id)
	}
	issued := map[string]bool{}
	for _, id := range order {
		if issued[id] || s.deleted[id] && !s.uncertain[id] {
			continue
		}
		issued[id] = true
		u := acsidentity.CommunicationUserIdentifier{ID: id}
		if _, err := c.GetUser(ctx, u, nil); err != nil {
			if !s.uncertain[id] { // a cut create or delete may or may not have happened
				t.Errorf("round %d: acknowledged identity %s lost: %v", round, id, err)
			}
			continue
		}
		tok, err := c.GetToken(ctx, u, []acsidentity.TokenScope{acsidentity.TokenScopeChat}, nil)
		if err != nil {
			t.Errorf("round %d: issuing for %s: %v", round, id, err)
			continue
		}
		if got := introspect(t, conn, tok.Token); got != "valid" {
			t.Errorf("round %d: a token issued after the restart for %s is %q, want valid", round, id, got)
		}
	}
	for id := range s.deleted {
		if s.uncertain[id] {
			continue
		}
		if _, err := c.GetUser(ctx, acsidentity.CommunicationUserIdentifier{ID: id}, nil); err == nil {
			t.Errorf("round %d: deleted identity %s came back", round, id)
		}
	}
	for _, tok := range s.revoked {
		if got := introspect(t, conn, tok); got != "revoked" && got != "deleted" {
			t.Errorf("round %d: a token revoked before a kill is %q", round, got)
		}
	}
}

// work runs random operations on identities of its own until stop, or
// until the kill cuts one.
func (s *crashState) work(c *acsidentity.Client, stop <-chan struct{}) {
	ctx := context.Background()
	var mine []string
	scopes := []acsidentity.TokenScope{acsidentity.TokenScopeChat}
	cut := func(id string) {
		s.mu.Lock()
		if id != "" {
			s.uncertain[id] = true
		}
		s.mu.Unlock()
	}
	for {
		select {
		case <-stop:
			return
		default:
		}
		if len(mine) < 3 || rand.IntN(4) == 0 {
			r, err := c.CreateUser(ctx, &acsidentity.CreateUserOptions{CustomID: fmt.Sprintf("crash-%x", rand.Uint64())})
			if err != nil {
				return // whatever it made is unknown, and nobody refers to it
			}
			id := r.User.ID
			mine = append(mine, id)
			s.mu.Lock()
			s.live[id], s.checkNext[id] = true, true
			s.mu.Unlock()
			continue
		}
		i := rand.IntN(len(mine))
		id := mine[i]
		u := acsidentity.CommunicationUserIdentifier{ID: id}
		switch n := rand.IntN(10); {
		case n < 5: // issue, then revoke
			tok, err := c.GetToken(ctx, u, scopes, nil)
			if err != nil {
				cut(id)
				return
			}
			if n < 2 {
				continue
			}
			s.mu.Lock()
			s.revokedLast = append(s.revokedLast, id)
			s.mu.Unlock()
			if _, err := c.RevokeTokens(ctx, u, nil); err != nil {
				cut(id)
				return
			}
			s.mu.Lock()
			s.revoked = append(s.revoked, tok.Token)
			s.checkNext[id] = true
			s.mu.Unlock()
		case n < 9:
			if _, err := c.GetToken(ctx, u, scopes, nil); err != nil {
				cut(id)
				return
			}
		default:
			if _, err := c.DeleteUser(ctx, u, nil); err != nil {
				cut(id)
				return
			}
			mine = append(mine[:i], mine[i+1:]...)
			s.mu.Lock()
			delete(s.live, id)
			s.deleted[id] = true
			s.mu.Unlock()
		}
	}
}

// checkSavedSequence reads the data file as the kill left it: no identity
// may be revoked above the saved token sequence, or the first tokens
// issued after a restart would count as revoked. In format 4 the file is
// a copy of the state and then a journal of changes, each with the token
// sequence when it was made: the check holds after every change.
func checkSavedSequence(t *testing.T, round int, data string) {
	t.Helper()
	b, err := os.ReadFile(data)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	var file struct {
		Format int              `json:"format"`
		State  *json.RawMessage `json:"state"` // format 1 has no envelope
	}
	if err := dec.Decode(&file); err != nil {
		t.Fatalf("round %d: the data file is not JSON: %v", round, err)
	}
	state := b[:dec.InputOffset()]
	if file.State != nil {
		state = *file.State
	}
	type saved struct {
		ID         string `json:"id"`
		RevokedSeq uint64 `json:"revokedSeq"`
	}
	var st struct {
		TokenSeq   uint64  `json:"tokenSeq"`
		Identities []saved `json:"identities"`
	}
	if err := json.Unmarshal(state, &st); err != nil {
		t.Fatalf("round %d: %v", round, err)
	}
	seq := st.TokenSeq
	check := func(where string, it saved) {
		if it.RevokedSeq > seq {
			t.Errorf("round %d: %s has %s revoked at %d, above the saved token sequence %d", round, where, it.ID, it.RevokedSeq, seq)
		}
	}
	for _, it := range st.Identities {
		check("the saved state", it)
	}
	// The sequence only grows, so each line can only break the check for
	// the identity it changes.
	lines := bytes.Split(b[dec.InputOffset():], []byte("\n"))
	for i, l := range lines {
		if len(bytes.TrimSpace(l)) == 0 || i == len(lines)-1 { // the last may be cut short
			continue
		}
		var line struct {
			Change struct {
				TokenSeq uint64 `json:"tokenSeq"`
				Identity *saved `json:"identity"`
			} `json:"change"`
		}
		if err := json.Unmarshal(l, &line); err != nil {
			t.Fatalf("round %d: journal line %d: %v", round, i, err)
		}
		seq = max(seq, line.Change.TokenSeq)
		if it := line.Change.Identity; it != nil {
			check(fmt.Sprintf("journal line %d", i), *it)
		}
	}
	if file.Format != 4 {
		t.Errorf("round %d: the data file is format %d, want 4", round, file.Format)
	}
}
