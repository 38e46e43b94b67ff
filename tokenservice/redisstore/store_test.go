package redisstore

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/acsgo/acsidentity/tokenservice/internal/storetest"
	"github.com/redis/go-redis/v9"
)

// identityStore is the interface tokenservice defines for identity stores;
// a copy here proves Store satisfies it without importing tokenservice.
type identityStore interface {
	Identity(ctx context.Context, caller string) (string, error)
	Record(ctx context.Context, caller, id string) (string, error)
	Forget(ctx context.Context, caller, id string) error
}

var _ identityStore = (*Store)(nil)

func TestNewRefuses(t *testing.T) {
	t.Parallel()
	good := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", ContextTimeoutEnabled: true})
	defer good.Close()
	noCtx := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	defer noCtx.Close()
	noCtxCluster := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{"127.0.0.1:1"}})
	defer noCtxCluster.Close()
	for _, tc := range []struct {
		name   string
		client redis.UniversalClient
		opts   *Options
		want   string
	}{
		{"nil client", nil, nil, "the client is nil"},
		{"typed nil client", (*redis.Client)(nil), nil, "the client is nil"},
		{"no context deadlines", noCtx, nil, "set ContextTimeoutEnabled: true"},
		{"cluster without context deadlines", noCtxCluster, nil, "set ContextTimeoutEnabled: true"},
		{"long prefix", good, &Options{KeyPrefix: strings.Repeat("p", 257)}, "KeyPrefix is 257 bytes"},
		{"negative TTL", good, &Options{TTL: -time.Second}, "Options.TTL is -1s"},
		{"sub-second TTL", good, &Options{TTL: 500 * time.Millisecond}, "at least 1s"},
	} {
		s, err := New(tc.client, tc.opts)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "redisstore: ") {
			t.Errorf("%s: New = %v, %v; want an error saying %q", tc.name, s, err, tc.want)
		}
	}
	if s, err := New(good, nil); err != nil || s.prefix != DefaultKeyPrefix || s.ttl != 0 {
		t.Errorf("New(client, nil) = %+v, %v; want the default prefix and no TTL", s, err)
	}
}

// TestRefusedBeforeAnyCommand: bad callers and IDs are refused with an
// error naming the fault, and nothing reaches Redis.
func TestRefusedBeforeAnyCommand(t *testing.T) {
	t.Parallel()
	c, sent := offlineClient(t)
	s, err := New(c, nil)
	if err != nil {
		t.Fatal(err)
	}
	storetest.Refuses(t, s, storetest.RefusedCases("redisstore"))
	if n := sent.Load(); n != 0 {
		t.Errorf("%d commands were sent for refused input; want none", n)
	}
}

func TestRecordIdentityForget(t *testing.T) {
	t.Parallel()
	c := newClient(t)
	s := newTestStore(t, c, 0)
	const caller = "oidc:https://login.example/|user-1"
	storetest.Lifecycle(t, s, caller)
	// The record is where the documentation says, with no expiry.
	ctx := context.Background()
	if v, err := c.Get(ctx, s.prefix+caller).Result(); v != testID(3) || err != nil {
		t.Fatalf("GET %s = %q, %v", s.prefix+caller, v, err)
	}
	if ttl := c.PTTL(ctx, s.prefix+caller).Val(); ttl != -1 {
		t.Errorf("PTTL = %v; want -1 (no expiry)", ttl)
	}
}

// TestRecordRace: 50 goroutines on three clients (three replicas) record
// different IDs for one caller at once: one winner, whose ID all get.
func TestRecordRace(t *testing.T) {
	t.Parallel()
	for _, old := range []bool{false, true} {
		name := "SET NX GET"
		if old {
			name = "SET NX then GET (Redis before 7)"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			clients := []*redis.Client{newClient(t), newClient(t), newClient(t)}
			prefix := testPrefix(t, clients[0])
			stores := make([]storetest.Store, len(clients))
			for i, c := range clients {
				s, err := New(c, &Options{KeyPrefix: prefix})
				if err != nil {
					t.Fatal(err)
				}
				s.oldServer.Store(old)
				stores[i] = s
			}
			storetest.RecordRace(t, stores)
		})
	}
}

// TestForgetRace: Forget by the losers of a race never removes the
// winner's record.
func TestForgetRace(t *testing.T) {
	t.Parallel()
	storetest.ForgetRace(t, newTestStore(t, newClient(t), 0))
}

// TestCorruptRecord: a value that is not an ACS user ID, or a key of
// another type, gives an error that does not quote it; never a panic,
// never the value.
func TestCorruptRecord(t *testing.T) {
	t.Parallel()
	c := newClient(t)
	ctx := context.Background()
	for _, old := range []bool{false, true} {
		s := newTestStore(t, c, 0)
		s.oldServer.Store(old)
		const junk = "<script>alert(1)</script>\x00\xff"
		c.Set(ctx, s.prefix+"junk", junk, 0)
		c.HSet(ctx, s.prefix+"hash", "f", "v")

		id, err := s.Identity(ctx, "junk")
		if id != "" || !errors.Is(err, ErrCorruptRecord) || !strings.HasPrefix(err.Error(), "redisstore: identity: corrupt record") || strings.Contains(err.Error(), "script") {
			t.Errorf("Identity of a corrupt record = %q, %v; want a corrupt-record error that does not quote it", id, err)
		}
		id, err = s.Record(ctx, "junk", testID(1))
		if id != "" || !errors.Is(err, ErrCorruptRecord) || strings.Contains(err.Error(), "script") {
			t.Errorf("Record over a corrupt record = %q, %v; want a corrupt-record error", id, err)
		}
		if v := c.Get(ctx, s.prefix+"junk").Val(); v != junk {
			t.Errorf("the corrupt record was changed to %q", v)
		}
		for op, err := range map[string]error{
			"identity": func() error { _, err := s.Identity(ctx, "hash"); return err }(),
			"record":   func() error { _, err := s.Record(ctx, "hash", testID(1)); return err }(),
			"forget":   s.Forget(ctx, "hash", testID(1)),
		} {
			if err == nil || !strings.HasPrefix(err.Error(), "redisstore: "+op+": ") || !strings.Contains(err.Error(), "WRONGTYPE") {
				t.Errorf("%s on a hash key = %v; want the server's WRONGTYPE error, wrapped", op, err)
			}
		}
	}
}

// TestTTL: a record made with a TTL expires; Identity restarts its TTL.
func TestTTL(t *testing.T) {
	t.Parallel()
	c := newClient(t)
	s := newTestStore(t, c, time.Hour)
	ctx := context.Background()
	key := s.prefix + "caller"
	for _, old := range []bool{false, true} {
		s.oldServer.Store(old)
		c.Del(ctx, key)
		if _, err := s.Record(ctx, "caller", testID(1)); err != nil {
			t.Fatal(err)
		}
		if ttl := c.PTTL(ctx, key).Val(); ttl <= 59*time.Minute || ttl > time.Hour {
			t.Errorf("old=%v: PTTL after Record = %v; want about an hour", old, ttl)
		}
	}
	c.PExpire(ctx, key, time.Minute)
	if id, err := s.Identity(ctx, "caller"); id != testID(1) || err != nil {
		t.Fatalf("Identity = %q, %v", id, err)
	}
	if ttl := c.PTTL(ctx, key).Val(); ttl <= 59*time.Minute {
		t.Errorf("PTTL after Identity = %v; want the TTL restarted (about an hour)", ttl)
	}
	// A record that expired is no record.
	c.PExpire(ctx, key, time.Millisecond)
	deadline := time.Now().Add(30 * time.Second)
	for c.Exists(ctx, key).Val() == 1 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if id, err := s.Identity(ctx, "caller"); id != "" || err != nil {
		t.Fatalf("Identity after expiry = %q, %v; want none", id, err)
	}
}

// TestServerDown: with Redis unreachable every operation fails with an
// error that names the store and the operation.
func TestServerDown(t *testing.T) {
	t.Parallel()
	c, _ := offlineClient(t)
	s, err := New(c, nil)
	if err != nil {
		t.Fatal(err)
	}
	storetest.Down(t, s, "redisstore")
}

// TestDeadline: a Redis that accepts connections but never answers holds
// no operation past its context's deadline.
func TestDeadline(t *testing.T) {
	t.Parallel()
	// ReadTimeout 20s, 3 retries: a store that ignored the deadline would
	// take a minute.
	c := redis.NewClient(&redis.Options{Addr: silentAddr(t), ContextTimeoutEnabled: true, ReadTimeout: 20 * time.Second})
	defer c.Close()
	s, err := New(c, nil)
	if err != nil {
		t.Fatal(err)
	}
	for op, call := range map[string]func(context.Context) error{
		"identity": func(ctx context.Context) error { _, err := s.Identity(ctx, "caller"); return err },
		"record":   func(ctx context.Context) error { _, err := s.Record(ctx, "caller", testID(1)); return err },
		"forget":   func(ctx context.Context) error { return s.Forget(ctx, "caller", testID(1)) },
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		start := time.Now()
		err := call(ctx)
		took := time.Since(start)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) || !strings.HasPrefix(err.Error(), "redisstore: "+op+": ") {
			t.Errorf("%s on a silent server = %v; want a wrapped context.DeadlineExceeded", op, err)
		}
		if took > 15*time.Second {
			t.Errorf("%s took %v with a 200ms deadline", op, took)
		}
	}
}

// TestSyntaxErrorDetected: the error a server gives for SET options it does
// not take together is what isSyntaxError recognises (Redis before 7 gives
// it for NX with GET; here NX with XX provokes it).
func TestSyntaxErrorDetected(t *testing.T) {
	t.Parallel()
	c := newClient(t)
	prefix := testPrefix(t, c)
	err := c.Do(context.Background(), "SET", prefix+"k", "v", "NX", "XX").Err()
	if !isSyntaxError(err) {
		t.Fatalf("SET NX XX = %v; isSyntaxError says no", err)
	}
	if isSyntaxError(context.Canceled) || isSyntaxError(redis.Nil) {
		t.Fatal("isSyntaxError says yes to an error that is not a syntax error")
	}
}
