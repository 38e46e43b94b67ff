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
// "anonymous:<client address>" for the others (X-Caller-Id development
// callers included: a header a caller chooses must not buy a fresh
// allowance). CORS preflights are not counted.
//
// The default, NewMemoryRateLimiter, counts in the memory of one instance.
// Behind several instances each would allow the full rate; give them one
// limiter over a shared store (Redis, a gateway's counters) instead.
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
type MemoryRateLimiter struct {
	rate  float64 // tokens per second; 0: no limit
	burst float64
	now   func() time.Time

	mu        sync.Mutex
	buckets   map[string]*bucket
	lastSweep time.Time
}

type bucket struct {
	tokens float64
	last   time.Time
}

// sweepEvery is how often full (idle) buckets are dropped, so the map does
// not grow with every caller ever seen.
const sweepEvery = time.Minute

// NewMemoryRateLimiter returns a limiter that allows each key perMinute
// requests a minute, in bursts of up to burst (at least 1). perMinute 0
// (or less) allows everything.
func NewMemoryRateLimiter(perMinute float64, burst int) *MemoryRateLimiter {
	return &MemoryRateLimiter{rate: max(perMinute, 0) / 60, burst: float64(max(burst, 1)), now: time.Now, buckets: make(map[string]*bucket)}
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
	if now.Sub(l.lastSweep) >= sweepEvery {
		l.sweep(now)
	}
	b, ok := l.buckets[key]
	if !ok {
		b = &bucket{tokens: l.burst, last: now}
		l.buckets[key] = b
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

// sweep drops the buckets that have refilled completely: they are the same
// as no bucket.
func (l *MemoryRateLimiter) sweep(now time.Time) {
	l.lastSweep = now
	for k, b := range l.buckets {
		if b.tokens+now.Sub(b.last).Seconds()*l.rate >= l.burst {
			delete(l.buckets, k)
		}
	}
}
