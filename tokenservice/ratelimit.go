package tokenservice

import (
	"context"
	"math"
	"sync"
	"time"
)

// RateLimiter limits how often each caller may ask for tokens, so that one
// client cannot spend the ACS resource's shared quota (1000 token issues per
// 30 seconds). The Service asks it once per authenticated request, with a
// key per caller: "caller:<custom ID>" for a caller with a lasting identity,
// "anonymous:<client address>" (an IPv6 address's /64) for the others (X-Caller-Id development
// callers included: a header a caller chooses must not buy a fresh
// allowance). CORS preflights are not counted.
//
// The default, NewMemoryRateLimiter, counts in the memory of one instance.
// Behind several instances each would allow the full rate; give them one
// limiter over a shared store instead: redisstore.NewRateLimiter (package
// github.com/acsgo/acsidentity/tokenservice/redisstore), or a gateway's
// counters.
type RateLimiter interface {
	// Allow counts one request against key's allowance. It reports whether
	// the request may go ahead, and if not, how long the caller should wait
	// (Retry-After). An error (the shared store cannot be reached) refuses
	// the request with 503 RateLimitUnavailable.
	Allow(ctx context.Context, key string) (ok bool, retryAfter time.Duration, err error)
}

// MemoryRateLimiter is a set of token buckets in memory, one per key: each
// holds up to burst tokens, refills at a steady rate, and a request takes
// one.
//
// Buckets of keys that went quiet are dropped without a sweep that could
// stall callers: the buckets live in two generations, and every period
// (a minute, or the time an empty bucket takes to refill if longer) the
// older generation is dropped whole and the current one becomes the older.
// A key's bucket moves to the current generation when it is used, so a
// bucket dropped was idle for a whole period: full again, the same as no
// bucket. Each Allow does a bounded amount of work, whatever the number of
// keys (BenchmarkLimiterMillionKeys).
type MemoryRateLimiter struct {
	rate   float64 // tokens per second; 0: no limit
	burst  float64
	period time.Duration // of a generation
	now    func() time.Time

	mu      sync.Mutex
	cur     map[string]*bucket // used in this period
	prev    map[string]*bucket // used in the period before, not since
	rotated time.Time          // when cur began
}

type bucket struct {
	tokens float64
	last   time.Time
}

// sweepEvery is the shortest period of a generation of buckets.
const sweepEvery = time.Minute

// NewMemoryRateLimiter returns a limiter that allows each key perMinute
// requests a minute, in bursts of up to burst (at least 1). perMinute 0
// (or less) allows everything.
func NewMemoryRateLimiter(perMinute float64, burst int) *MemoryRateLimiter {
	l := &MemoryRateLimiter{rate: max(perMinute, 0) / 60, burst: float64(max(burst, 1)), period: sweepEvery, now: time.Now, cur: make(map[string]*bucket)}
	if l.rate > 0 {
		// An empty bucket must be full again before it may be dropped.
		refill := time.Duration(math.Ceil(l.burst / l.rate * float64(time.Second)))
		l.period = max(l.period, refill)
	}
	return l
}

// Allow takes a token from key's bucket. When the bucket is empty it
// returns false and how long until a token is available. It never fails.
func (l *MemoryRateLimiter) Allow(_ context.Context, key string) (bool, time.Duration, error) {
	if l.rate == 0 {
		return true, 0, nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if since := now.Sub(l.rotated); since >= l.period {
		l.rotate(since)
		l.rotated = now
	}
	b, ok := l.cur[key]
	if !ok {
		if b, ok = l.prev[key]; ok {
			delete(l.prev, key)
		} else {
			b = &bucket{tokens: l.burst, last: now}
		}
		l.cur[key] = b
	}
	if elapsed := now.Sub(b.last); elapsed > 0 {
		b.tokens = math.Min(l.burst, b.tokens+elapsed.Seconds()*l.rate)
		b.last = now
	}
	if b.tokens >= 1 {
		b.tokens--
		return true, 0, nil
	}
	// Rounded up to the millisecond, which also absorbs float error.
	ms := math.Ceil((1 - b.tokens) / l.rate * 1e3)
	return false, time.Duration(ms) * time.Millisecond, nil
}

// rotate starts a generation, since the current one began: the older
// generation is dropped (its buckets were idle for a whole period), and
// the current one becomes the older, or is dropped as well when it is
// itself a period old. Dropping a map is one assignment; the garbage
// collector frees it concurrently.
func (l *MemoryRateLimiter) rotate(since time.Duration) {
	if since >= 2*l.period {
		l.prev = nil
	} else {
		l.prev = l.cur
	}
	l.cur = make(map[string]*bucket)
}

// keys returns how many keys have a bucket.
func (l *MemoryRateLimiter) keys() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.cur) + len(l.prev)
}
