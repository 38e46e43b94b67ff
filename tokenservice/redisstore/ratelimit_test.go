package redisstore

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/acsgo/acsidentity/tokenservice"
	"github.com/redis/go-redis/v9"
)

var _ tokenservice.RateLimiter = (*RateLimiter)(nil)

func newTestLimiter(tb testing.TB, c *redis.Client, prefix string, perMinute float64, burst int) *RateLimiter {
	tb.Helper()
	l, err := NewRateLimiter(c, perMinute, burst, &RateLimiterOptions{KeyPrefix: prefix})
	if err != nil {
		tb.Fatal(err)
	}
	return l
}

func TestNewRateLimiterRefuses(t *testing.T) {
	t.Parallel()
	good := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", ContextTimeoutEnabled: true})
	defer good.Close()
	noCtx := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	defer noCtx.Close()
	nan := 0.0
	nan /= nan
	for _, tc := range []struct {
		name      string
		client    redis.UniversalClient
		perMinute float64
		opts      *RateLimiterOptions
		want      string
	}{
		{"nil client", nil, 60, nil, "the client is nil"},
		{"no context deadlines", noCtx, 60, nil, "set ContextTimeoutEnabled: true"},
		{"NaN rate", good, nan, nil, "perMinute is NaN"},
		{"long prefix", good, 60, &RateLimiterOptions{KeyPrefix: strings.Repeat("p", 300)}, "KeyPrefix is 300 bytes"},
	} {
		l, err := NewRateLimiter(tc.client, tc.perMinute, 5, tc.opts)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "redisstore: rate limiter: ") {
			t.Errorf("%s: NewRateLimiter = %v, %v; want an error saying %q", tc.name, l, err, tc.want)
		}
	}
	l, err := NewRateLimiter(good, 60, 0, nil)
	if err != nil || l.prefix != DefaultRateLimitKeyPrefix || l.burst != 1 || l.rate != 1 {
		t.Errorf("NewRateLimiter(client, 60, 0, nil) = %+v, %v; want the default prefix, burst 1, 1 token/s", l, err)
	}
}

// TestRateLimitAcrossReplicas is the test: three limiters, each on
// its own client (three replicas), one Redis. One key's 40 requests,
// round-robin over them within a second, are allowed exactly up to the
// burst, not three times it. The rate (1 a minute) is low enough that no
// token comes back during the test, however slow the machine.
func TestRateLimitAcrossReplicas(t *testing.T) {
	t.Parallel()
	clients := []*redis.Client{newClient(t), newClient(t), newClient(t)}
	prefix := testPrefix(t, clients[0])
	const burst = 10
	limiters := make([]*RateLimiter, len(clients))
	for i, c := range clients {
		limiters[i] = newTestLimiter(t, c, prefix, 1, burst)
	}
	ctx := context.Background()
	allowed := 0
	for i := range 40 {
		ok, retry, err := limiters[i%3].Allow(ctx, "caller:alice")
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			allowed++
			if i >= burst {
				t.Errorf("request %d allowed after the burst", i)
			}
			continue
		}
		// One token a minute, the bucket empty: the next token is up to a
		// minute away.
		if retry <= 0 || retry > time.Minute {
			t.Errorf("request %d refused with Retry-After %v; want (0, 1m]", i, retry)
		}
	}
	if allowed != burst {
		t.Fatalf("%d of 40 requests allowed over three replicas; want the burst, %d", allowed, burst)
	}
	// Another key has its own bucket.
	if ok, _, err := limiters[1].Allow(ctx, "caller:bob"); !ok || err != nil {
		t.Fatalf("another key: Allow = %v, %v; want allowed", ok, err)
	}
}

// TestRateLimitAcrossReplicasDefaults: the same with tokenservice's default
// rate (30 a minute, burst 10). A token comes back every 2s, so 40
// requests within 2s get exactly the burst; a machine slow enough to take
// longer may see one more per 2s it took, and no more.
// tokenservice's default rate limit (its documented 30 a minute in bursts
// of 10).
const defaultPerMinute, defaultBurst = 30, 10

func TestRateLimitAcrossReplicasDefaults(t *testing.T) {
	t.Parallel()
	clients := []*redis.Client{newClient(t), newClient(t), newClient(t)}
	prefix := testPrefix(t, clients[0])
	limiters := make([]*RateLimiter, len(clients))
	for i, c := range clients {
		limiters[i] = newTestLimiter(t, c, prefix, defaultPerMinute, defaultBurst)
	}
	ctx := context.Background()
	allowed := 0
	start := time.Now()
	for i := range 40 {
		ok, _, err := limiters[i%3].Allow(ctx, "anonymous:2001:db8::/64")
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			allowed++
		}
	}
	took := time.Since(start)
	refill := int(took.Seconds() * defaultPerMinute / 60)
	if allowed < defaultBurst || allowed > defaultBurst+refill {
		t.Fatalf("%d of 40 requests allowed in %v over three replicas; want %d (the burst) plus at most %d refilled", allowed, took, defaultBurst, refill)
	}
	t.Logf("%d of 40 allowed in %v", allowed, took)
}

// TestRateLimitConcurrent: 60 requests at once over three replicas take
// exactly the burst.
func TestRateLimitConcurrent(t *testing.T) {
	t.Parallel()
	clients := []*redis.Client{newClient(t), newClient(t), newClient(t)}
	prefix := testPrefix(t, clients[0])
	const burst = 7
	var allowed atomic.Int64
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range 60 {
		l := newTestLimiter(t, clients[i%3], prefix, 1, burst)
		wg.Go(func() {
			<-start
			ok, _, err := l.Allow(context.Background(), "anonymous:192.0.2.1")
			if err != nil {
				t.Error(err)
			}
			if ok {
				allowed.Add(1)
			}
		})
	}
	close(start)
	wg.Wait()
	if n := allowed.Load(); n != burst {
		t.Fatalf("%d of 60 concurrent requests allowed; want the burst, %d", n, burst)
	}
}

// TestRateLimitRefills: a refused request's Retry-After is when the next
// token is there. Waiting longer only adds tokens, so this holds however
// slow the machine.
func TestRateLimitRefills(t *testing.T) {
	t.Parallel()
	c := newClient(t)
	l := newTestLimiter(t, c, testPrefix(t, c), 600, 2) // 10 a second
	ctx := context.Background()
	for i := range 2 {
		if ok, _, err := l.Allow(ctx, "k"); !ok || err != nil {
			t.Fatalf("request %d: %v, %v; want allowed", i, ok, err)
		}
	}
	var retry time.Duration
	for {
		ok, r, err := l.Allow(ctx, "k")
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			retry = r
			break
		}
		// Only a slow machine lets a token back in between.
	}
	if retry <= 0 || retry > 100*time.Millisecond {
		t.Fatalf("Retry-After %v; want (0, 100ms] at 10 tokens a second", retry)
	}
	time.Sleep(retry)
	if ok, r, err := l.Allow(ctx, "k"); !ok || err != nil {
		t.Fatalf("after waiting Retry-After: Allow = %v, %v, %v; want allowed", ok, r, err)
	}
}

// TestRateLimitKeyExpires: a bucket's key lives until the bucket would be
// full again, and no longer. One token every 10s, so that a slow machine
// cannot let the key expire between the requests and the checks.
func TestRateLimitKeyExpires(t *testing.T) {
	t.Parallel()
	c := newClient(t)
	prefix := testPrefix(t, c)
	l := newTestLimiter(t, c, prefix, 6, 5)
	ctx := context.Background()
	if _, _, err := l.Allow(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	// One token taken: full again within 10s.
	if ttl := c.PTTL(ctx, prefix+"k").Val(); ttl <= 0 || ttl > 10*time.Second {
		t.Fatalf("PTTL after one request = %v; want (0, 10s]", ttl)
	}
	for range 4 {
		if _, _, err := l.Allow(ctx, "k"); err != nil {
			t.Fatal(err)
		}
	}
	// Five taken: full again within 50s, and not before 40s unless the
	// requests took 10s.
	if ttl := c.PTTL(ctx, prefix+"k").Val(); ttl <= 40*time.Second || ttl > 50*time.Second {
		t.Fatalf("PTTL after five requests = %v; want (40s, 50s]", ttl)
	}
}

// TestRateLimitUnlimited: perMinute 0 allows everything and asks nothing of
// Redis; errors from Redis are wrapped.
func TestRateLimitUnlimitedAndDown(t *testing.T) {
	t.Parallel()
	c, sent := offlineClient(t)
	l, err := NewRateLimiter(c, 0, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	for range 100 {
		if ok, _, err := l.Allow(context.Background(), "k"); !ok || err != nil {
			t.Fatalf("unlimited: Allow = %v, %v", ok, err)
		}
	}
	if n := sent.Load(); n != 0 {
		t.Fatalf("an unlimited limiter sent %d commands", n)
	}
	l, err = NewRateLimiter(c, 60, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	ok, _, err := l.Allow(context.Background(), "k")
	if ok || err == nil || !strings.HasPrefix(err.Error(), "redisstore: rate limiter: ") || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("Redis down: Allow = %v, %v; want a wrapped connection-refused error", ok, err)
	}
	for _, key := range []string{"", strings.Repeat("k", 1025)} {
		if ok, _, err := l.Allow(context.Background(), key); ok || err == nil || !strings.Contains(err.Error(), "it must be 1 to 1024") {
			t.Errorf("Allow(%d-byte key) = %v, %v; want refused", len(key), ok, err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	s := redis.NewClient(&redis.Options{Addr: silentAddr(t), ContextTimeoutEnabled: true, ReadTimeout: 20 * time.Second})
	defer s.Close()
	l, _ = NewRateLimiter(s, 60, 1, nil)
	if _, _, err := l.Allow(ctx, "k"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("silent Redis: Allow = %v; want context.DeadlineExceeded", err)
	}
}
