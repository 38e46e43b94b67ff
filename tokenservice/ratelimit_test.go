package tokenservice

import (
	"context"
	"testing"
	"time"

	"github.com/acsgo/acsidentity/internal/testutil"
)

type fakeClock = testutil.Clock

func newTestLimiter(perMinute float64, burst int, clock *fakeClock) *MemoryRateLimiter {
	l := NewMemoryRateLimiter(perMinute, burst)
	l.now = clock.Now
	return l
}

func allow(l *MemoryRateLimiter, key string) (bool, time.Duration) {
	ok, wait, err := l.Allow(context.Background(), key)
	if err != nil {
		panic(err)
	}
	return ok, wait
}

func TestLimiterTokenBucket(t *testing.T) {
	t.Parallel()
	clock := testutil.NewClock(time.Unix(1_800_000_000, 0))
	l := newTestLimiter(6, 3, clock) // one token every 10 s, burst 3

	for i := range 3 {
		if ok, _ := allow(l, "alice"); !ok {
			t.Fatalf("request %d within the burst was refused", i+1)
		}
	}
	ok, wait := allow(l, "alice")
	if ok || wait != 10*time.Second {
		t.Fatalf("fourth request = %v, wait %v; want refused, wait 10s", ok, wait)
	}
	if got := retryAfterValue(wait); got != "10" {
		t.Errorf("Retry-After = %s, want 10", got)
	}
	// Another caller has its own bucket.
	if ok, _ := allow(l, "bob"); !ok {
		t.Fatal("bob was refused because of alice")
	}
	clock.Advance(4 * time.Second)
	if ok, wait := allow(l, "alice"); ok || wait != 6*time.Second {
		t.Fatalf("after 4 s = %v, wait %v; want refused, wait 6s", ok, wait)
	}
	clock.Advance(6 * time.Second)
	if ok, _ := allow(l, "alice"); !ok {
		t.Fatal("after 10 s a token should have refilled")
	}
	if ok, _ := allow(l, "alice"); ok {
		t.Fatal("only one token should have refilled")
	}
	// A long idle time refills to the burst, no more.
	clock.Advance(time.Hour)
	for i := range 3 {
		if ok, _ := allow(l, "alice"); !ok {
			t.Fatalf("request %d after an hour was refused", i+1)
		}
	}
	if ok, _ := allow(l, "alice"); ok {
		t.Fatal("the bucket refilled beyond its burst")
	}
}

func TestLimiterSweepsIdleBuckets(t *testing.T) {
	t.Parallel()
	clock := testutil.NewClock(time.Unix(1_800_000_000, 0))
	l := newTestLimiter(60, 2, clock)
	allow(l, "a")
	allow(l, "b")
	clock.Advance(sweepEvery)
	allow(l, "c") // sweeps a and b, which have refilled
	l.mu.Lock()
	n := len(l.buckets)
	l.mu.Unlock()
	if n != 1 {
		t.Fatalf("buckets after the sweep = %d, want 1", n)
	}
}

func TestLimiterOff(t *testing.T) {
	t.Parallel()
	l := NewMemoryRateLimiter(0, 1)
	for range 100 {
		if ok, _ := allow(l, "a"); !ok {
			t.Fatal("a disabled limiter refused a request")
		}
	}
}

func TestRetryAfterValue(t *testing.T) {
	t.Parallel()
	for d, want := range map[time.Duration]string{0: "1", time.Millisecond: "1", time.Second: "1", 1500 * time.Millisecond: "2", time.Minute: "60"} {
		if got := retryAfterValue(d); got != want {
			t.Errorf("retryAfterValue(%v) = %s, want %s", d, got, want)
		}
	}
}
