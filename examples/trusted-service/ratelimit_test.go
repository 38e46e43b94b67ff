package main

import (
	"testing"
	"time"
)

func TestLimiterTokenBucket(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{t: time.Unix(1_800_000_000, 0)}
	l := newLimiter(6, 3, clock.now) // one token every 10 s, burst 3

	for i := range 3 {
		if ok, _ := l.allow("alice"); !ok {
			t.Fatalf("request %d within the burst was refused", i+1)
		}
	}
	ok, wait := l.allow("alice")
	if ok || wait != 10*time.Second {
		t.Fatalf("fourth request = %v, wait %v; want refused, wait 10s", ok, wait)
	}
	if got := retryAfterSeconds(wait); got != 10 {
		t.Errorf("Retry-After = %d, want 10", got)
	}
	// Another caller has its own bucket.
	if ok, _ := l.allow("bob"); !ok {
		t.Fatal("bob was refused because of alice")
	}
	clock.advance(4 * time.Second)
	if ok, wait := l.allow("alice"); ok || wait != 6*time.Second {
		t.Fatalf("after 4 s = %v, wait %v; want refused, wait 6s", ok, wait)
	}
	clock.advance(6 * time.Second)
	if ok, _ := l.allow("alice"); !ok {
		t.Fatal("after 10 s a token should have refilled")
	}
	if ok, _ := l.allow("alice"); ok {
		t.Fatal("only one token should have refilled")
	}
	// A long idle time refills to the burst, no more.
	clock.advance(time.Hour)
	for i := range 3 {
		if ok, _ := l.allow("alice"); !ok {
			t.Fatalf("request %d after an hour was refused", i+1)
		}
	}
	if ok, _ := l.allow("alice"); ok {
		t.Fatal("the bucket refilled beyond its burst")
	}
}

func TestLimiterSweepsIdleBuckets(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{t: time.Unix(1_800_000_000, 0)}
	l := newLimiter(60, 2, clock.now)
	l.allow("a")
	l.allow("b")
	clock.advance(sweepEvery)
	l.allow("c") // sweeps a and b, which have refilled
	l.mu.Lock()
	n := len(l.buckets)
	l.mu.Unlock()
	if n != 1 {
		t.Fatalf("buckets after the sweep = %d, want 1", n)
	}
}

func TestLimiterOff(t *testing.T) {
	t.Parallel()
	l := newLimiter(0, 1, time.Now)
	for range 100 {
		if ok, _ := l.allow("a"); !ok {
			t.Fatal("a disabled limiter refused a request")
		}
	}
}

func TestRetryAfterSeconds(t *testing.T) {
	t.Parallel()
	for d, want := range map[time.Duration]int{0: 1, time.Millisecond: 1, time.Second: 1, 1500 * time.Millisecond: 2, time.Minute: 60} {
		if got := retryAfterSeconds(d); got != want {
			t.Errorf("retryAfterSeconds(%v) = %d, want %d", d, got, want)
		}
	}
}

// TestDevCallerCannotEscapeTheRateLimit checks that with the embedded
// emulator, a new X-Caller-Id on each request does not buy a fresh bucket:
// the bucket is the client address's.
func TestDevCallerCannotEscapeTheRateLimit(t *testing.T) {
	t.Parallel()
	h := corsFixture(t, nil, &authenticator{allowAnonymous: true, devCallers: true})
	if res := serve(h, "GET", "/api/token", map[string]string{devCallerHeader: "alice"}); res.StatusCode != 200 {
		t.Fatalf("first request: %d", res.StatusCode)
	}
	for _, id := range []string{"alice", "bob", "carol-1", ""} {
		if res := serve(h, "GET", "/api/token", map[string]string{devCallerHeader: id}); res.StatusCode != 429 {
			t.Errorf("X-Caller-Id %q after the bucket emptied: %d, want 429", id, res.StatusCode)
		}
	}
}
