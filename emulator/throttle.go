package emulator

import (
	"sync"
	"time"
)

// throttleWindow is the service's limit window (api.md §7).
const throttleWindow = 30 * time.Second

// throttleLimits are the service's per-30-second limits by bucket.
var throttleLimits = map[string]int{
	"create":             1000,
	"delete":             500,
	"issueToken":         1000,
	"revoke":             500,
	"createUserAndToken": 1000,
	"exchangeTokens":     500,
}

// throttler counts requests per bucket in fixed 30-second windows aligned
// to the clock.
type throttler struct {
	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	start time.Time
	n     int
}

func newThrottler() *throttler {
	t := &throttler{buckets: map[string]*bucket{}}
	for k := range throttleLimits {
		t.buckets[k] = &bucket{}
	}
	return t
}

// allow counts one request in class and reports whether it is within the
// limit; if not, it returns how long until the window ends.
func (t *throttler) allow(class string, now time.Time) (time.Duration, bool) {
	limit, ok := throttleLimits[class]
	if !ok {
		return 0, true
	}
	start := now.Truncate(throttleWindow)
	t.mu.Lock()
	defer t.mu.Unlock()
	b := t.buckets[class]
	if !b.start.Equal(start) {
		b.start, b.n = start, 0
	}
	if b.n >= limit {
		return start.Add(throttleWindow).Sub(now), false
	}
	b.n++
	return 0, true
}
