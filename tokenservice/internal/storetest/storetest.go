// Package storetest holds the behaviour every tokenservice.IdentityStore
// must have, as test functions that each store's tests run on their own
// engine: the record's life (Record, Identity, Forget), a race of many
// replicas to record one caller, a race of losers to forget theirs, and
// input refused before any I/O.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/acsgo/acsidentity/tokenservice/internal/identityrecord"
)

// Store is tokenservice.IdentityStore, repeated here so that the stores'
// tests need not import tokenservice.
type Store interface {
	Identity(ctx context.Context, caller string) (string, error)
	Record(ctx context.Context, caller, id string) (string, error)
	Forget(ctx context.Context, caller, id string) error
}

// Resource is the ACS resource of the IDs the tests record.
const Resource = "6ec8b855-ada4-44d7-b3e9-6e76508c6ec9"

// ID returns a valid ACS user ID, a different one for each n.
func ID(n int) string {
	return fmt.Sprintf("8:acs:%s_00000000-0000-0000-0000-%012x", Resource, n)
}

// Lifecycle checks one caller's record through its life on s, which must
// hold no record of caller: none at first; the first Record wins and a
// second returns the first ID; Forget of another ID (a race loser's)
// leaves the record, Forget of its own removes it, and again is no error;
// a Record after that wins anew. It returns with ID(3) recorded.
func Lifecycle(t *testing.T, s Store, caller string) {
	t.Helper()
	ctx := context.Background()
	if id, err := s.Identity(ctx, caller); id != "" || err != nil {
		t.Fatalf("Identity before Record = %q, %v; want \"\", nil", id, err)
	}
	if got, err := s.Record(ctx, caller, ID(1)); got != ID(1) || err != nil {
		t.Fatalf("first Record = %q, %v; want %q (it won)", got, err, ID(1))
	}
	if got, err := s.Record(ctx, caller, ID(2)); got != ID(1) || err != nil {
		t.Fatalf("second Record = %q, %v; want the first ID %q", got, err, ID(1))
	}
	if id, err := s.Identity(ctx, caller); id != ID(1) || err != nil {
		t.Fatalf("Identity = %q, %v; want %q", id, err, ID(1))
	}
	for _, other := range []string{caller + "x", strings.ToUpper(caller)} {
		if other == caller {
			continue
		}
		if id, err := s.Identity(ctx, other); id != "" || err != nil {
			t.Fatalf("Identity of another caller %q = %q, %v; want none", other, id, err)
		}
	}
	if err := s.Forget(ctx, caller, ID(2)); err != nil {
		t.Fatal(err)
	}
	if id, _ := s.Identity(ctx, caller); id != ID(1) {
		t.Fatalf("after Forget of another ID, Identity = %q; want %q still", id, ID(1))
	}
	if err := s.Forget(ctx, caller, ID(1)); err != nil {
		t.Fatal(err)
	}
	if id, err := s.Identity(ctx, caller); id != "" || err != nil {
		t.Fatalf("after Forget, Identity = %q, %v; want none", id, err)
	}
	if err := s.Forget(ctx, caller, ID(1)); err != nil {
		t.Fatalf("Forget with no record = %v; want nil", err)
	}
	if got, err := s.Record(ctx, caller, ID(3)); got != ID(3) || err != nil {
		t.Fatalf("Record after Forget = %q, %v; want %q", got, err, ID(3))
	}
}

// RecordRace has 50 goroutines, spread over stores (one per replica, all on
// one engine), record different IDs for one caller at once, in 5 rounds of
// a caller each. Every call must get the same ID, the ID of exactly one of
// them, and the store must hold it.
func RecordRace(t *testing.T, stores []Store) {
	t.Helper()
	for round := range 5 {
		caller := "caller-" + string(rune('a'+round))
		const n = 50
		got := make([]string, n)
		errs := make([]error, n)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				<-start
				got[i], errs[i] = stores[i%len(stores)].Record(context.Background(), caller, ID(round*1000+i))
			})
		}
		close(start)
		wg.Wait()
		won := 0
		for i := range n {
			if errs[i] != nil {
				t.Fatalf("Record %d: %v", i, errs[i])
			}
			if got[i] != got[0] {
				t.Fatalf("Record %d got %q, Record 0 got %q: two winners", i, got[i], got[0])
			}
			if got[i] == ID(round*1000+i) {
				won++
			}
		}
		if won != 1 {
			t.Fatalf("%d calls got their own ID back; want exactly 1 winner", won)
		}
		if id, err := stores[0].Identity(context.Background(), caller); id != got[0] || err != nil {
			t.Fatalf("the store holds %q, %v; the winner was %q", id, err, got[0])
		}
	}
}

// ForgetRace has 30 losers of a race Forget their IDs at once: the
// winner's record stays.
func ForgetRace(t *testing.T, s Store) {
	t.Helper()
	ctx := context.Background()
	if _, err := s.Record(ctx, "caller", ID(0)); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := 1; i <= 30; i++ {
		wg.Go(func() {
			if err := s.Forget(ctx, "caller", ID(i)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if id, err := s.Identity(ctx, "caller"); id != ID(0) || err != nil {
		t.Fatalf("Identity = %q, %v; want the winner %q", id, err, ID(0))
	}
}

// Refused is a call that a store refuses before any I/O: the error wraps
// Err and contains Want, in which %s stands for the operation (record,
// forget, identity).
type Refused struct {
	Caller, ID, Want string
	Err              error
}

// RefusedCases are the refusals every store shares; prefix is the store's
// package name ("redisstore").
func RefusedCases(prefix string) []Refused {
	return []Refused{
		{"", ID(1), prefix + ": %s: invalid caller key: it is empty", identityrecord.ErrInvalidCaller},
		{strings.Repeat("c", 300), ID(1), "is 300 bytes; at most 256", identityrecord.ErrInvalidCaller},
		{"a\tb", ID(1), "byte 1 is 0x09", identityrecord.ErrInvalidCaller},
		{"a\x00b", ID(1), "byte 1 is 0x00", identityrecord.ErrInvalidCaller},
		{"ok", "", prefix + ": %s: invalid ACS user ID: it is empty", identityrecord.ErrInvalidID},
		{"ok", "8:orgid:someone", "does not start with 8:acs:", identityrecord.ErrInvalidID},
		{"ok", "4:+14255550123", "does not start with 8:acs:", identityrecord.ErrInvalidID},
		{"ok", "8:acs:" + Resource + "_tenant_user", "more than one _", identityrecord.ErrInvalidID},
		{"ok", "8:acs:" + Resource + "_x'; DROP TABLE y; --", "other than letters", identityrecord.ErrInvalidID},
	}
}

// Refuses checks that s refuses each case with an error that says why and
// never quotes a long caller whole. That nothing reached the server is
// the caller's to check (a command counter, a closed database).
func Refuses(t *testing.T, s Store, cases []Refused) {
	t.Helper()
	ctx := context.Background()
	for _, tc := range cases {
		ops := map[string]error{
			"record": func() error { _, err := s.Record(ctx, tc.Caller, tc.ID); return err }(),
			"forget": s.Forget(ctx, tc.Caller, tc.ID),
		}
		if errors.Is(tc.Err, identityrecord.ErrInvalidCaller) {
			_, ops["identity"] = s.Identity(ctx, tc.Caller)
		}
		for op, err := range ops {
			want := strings.Replace(tc.Want, "%s", op, 1)
			if !errors.Is(err, tc.Err) || !strings.Contains(err.Error(), want) {
				t.Errorf("%s(%q, %q) = %v; want an error saying %q", op, identityrecord.Short(tc.Caller), tc.ID, err, want)
			}
			if err != nil && len(tc.Caller) > 64 && strings.Contains(err.Error(), tc.Caller) {
				t.Errorf("%s: the error quotes the whole %d-byte caller", op, len(tc.Caller))
			}
		}
	}
}

// Down checks that every operation of s, whose server refuses connections,
// fails with an error that names the store (prefix, as "redisstore") and
// the operation and says the connection was refused.
func Down(t *testing.T, s Store, prefix string) {
	t.Helper()
	ctx := context.Background()
	for op, err := range map[string]error{
		"identity": func() error { _, err := s.Identity(ctx, "caller"); return err }(),
		"record":   func() error { _, err := s.Record(ctx, "caller", ID(1)); return err }(),
		"forget":   s.Forget(ctx, "caller", ID(1)),
	} {
		if err == nil || !strings.HasPrefix(err.Error(), prefix+": "+op+": ") || !strings.Contains(err.Error(), "refused") {
			t.Errorf("%s with the server down = %v; want a wrapped connection-refused error", op, err)
		}
	}
}

// ClosedAddr returns a loopback address that refuses connections.
func ClosedAddr(tb testing.TB) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}
