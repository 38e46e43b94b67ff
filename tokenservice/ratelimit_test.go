package tokenservice

import (
	"context"
	"strconv"
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

func TestLimiterDropsIdleBuckets(t *testing.T) {
	t.Parallel()
	clock := testutil.NewClock(time.Unix(1_800_000_000, 0))
	l := newTestLimiter(60, 2, clock) // refills in 2 s: a period of a minute
	allow(l, "a")
	allow(l, "a") // a's bucket is empty
	allow(l, "b")
	clock.Advance(sweepEvery)
	allow(l, "c") // a and b move to the older generation
	if n := l.keys(); n != 3 {
		t.Fatalf("keys after one period = %d, want 3", n)
	}
	clock.Advance(sweepEvery / 2)
	allow(l, "b") // b is used again: it stays
	clock.Advance(sweepEvery / 2)
	allow(l, "d") // a, idle for a whole period, is dropped
	if n := l.keys(); n != 3 {
		t.Fatalf("keys after two periods = %d, want 3 (b, c, d)", n)
	}
	clock.Advance(2 * sweepEvery)
	allow(l, "e")
	if n := l.keys(); n != 1 {
		t.Fatalf("keys after two idle periods = %d, want 1", n)
	}
}

// TestLimiterKeepsBucketsUntilFull: a bucket is dropped only once it has
// refilled, however slow the rate: dropping it earlier would give its key
// a full burst back.
func TestLimiterKeepsBucketsUntilFull(t *testing.T) {
	t.Parallel()
	clock := testutil.NewClock(time.Unix(1_800_000_000, 0))
	l := newTestLimiter(1, 5, clock) // one a minute: an empty bucket refills in 5 minutes
	for range 5 {
		allow(l, "a")
	}
	for range 4 { // four minutes: rotations at every one, none drops a
		clock.Advance(sweepEvery)
		allow(l, "other")
	}
	if ok, _ := allow(l, "a"); !ok {
		t.Fatal("a should have 4 tokens after 4 minutes")
	}
	for range 3 {
		allow(l, "a")
	}
	if ok, _ := allow(l, "a"); ok {
		t.Fatal("a got more than it refilled: its bucket was dropped before it was full")
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

// BenchmarkLimiterMillionKeys is Allow with 1,000,000 keys in the limiter,
// through the moments where generations are dropped: drop-max-µs is the
// slowest Allow that dropped a generation (the clean-up of the limiter
// before generations stalled every caller for 1.58 s at this size), and
// max-µs the slowest of all, which on a busy machine is the scheduler's
// or the garbage collector's doing, not the limiter's.
//
//	go test -run x -bench LimiterMillionKeys -benchtime 200000x ./tokenservice
func BenchmarkLimiterMillionKeys(b *testing.B) {
	const keys = 1_000_000
	clock := testutil.NewClock(time.Unix(1_800_000_000, 0))
	l := newTestLimiter(30, 10, clock)
	names := make([]string, keys)
	for i := range names {
		names[i] = "anonymous:10." + strconv.Itoa(i>>16) + "." + strconv.Itoa(i>>8&255) + "." + strconv.Itoa(i&255)
		allow(l, names[i])
	}
	ctx := context.Background()
	var worst, worstDrop time.Duration
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		drop := i%(keys/4) == 0
		if drop {
			// A quarter of the keys later, a period has passed: this
			// Allow drops a generation of up to a million buckets.
			clock.Advance(l.period)
		}
		start := time.Now()
		l.Allow(ctx, names[i%keys])
		d := time.Since(start)
		worst = max(worst, d)
		if drop {
			worstDrop = max(worstDrop, d)
		}
		i++
	}
	b.ReportMetric(float64(worst.Microseconds()), "max-µs")
	b.ReportMetric(float64(worstDrop.Microseconds()), "drop-max-µs")
}
