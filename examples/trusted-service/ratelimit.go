package main

import (
	"math"
	"sync"
	"time"
)

// limiter is a set of token buckets, one per caller: each holds up to burst
// tokens, refills at rate tokens per second, and a request takes one. It
// keeps one client from spending the ACS resource's shared quota (1000
// token issues per 30 seconds, api.md §7).
type limiter struct {
	rate  float64 // tokens per second; 0 disables the limit
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

// newLimiter returns a limiter of perMinute requests per minute with the
// given burst. now is the clock (time.Now in production).
func newLimiter(perMinute float64, burst int, now func() time.Time) *limiter {
	return &limiter{rate: perMinute / 60, burst: float64(burst), now: now, buckets: make(map[string]*bucket)}
}

// allow takes a token from key's bucket. When the bucket is empty it
// returns false and how long until a token is available.
func (l *limiter) allow(key string) (bool, time.Duration) {
	if l == nil || l.rate <= 0 {
		return true, 0
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
		return true, 0
	}
	// Rounded up to the millisecond, which also absorbs float error.
	ms := math.Ceil((1 - b.tokens) / l.rate * 1e3)
	return false, time.Duration(ms) * time.Millisecond
}

// sweep drops the buckets that have refilled completely: they are the same
// as no bucket.
func (l *limiter) sweep(now time.Time) {
	l.lastSweep = now
	for k, b := range l.buckets {
		if b.tokens+now.Sub(b.last).Seconds()*l.rate >= l.burst {
			delete(l.buckets, k)
		}
	}
}

// retryAfterSeconds rounds a wait up to whole seconds for Retry-After (at
// least 1).
func retryAfterSeconds(d time.Duration) int {
	s := int(math.Ceil(d.Seconds()))
	return max(s, 1)
}
