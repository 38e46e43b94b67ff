package oidc

import (
	"crypto/sha256"
	"sync"
	"time"
)

// DefaultCacheSize is Config.CacheSize's default.
const DefaultCacheSize = 10000

// cacheMaxAge bounds how long a verified token is remembered, whatever its
// exp: a key the issuer withdraws stops being trusted within this time.
const cacheMaxAge = 5 * time.Minute

// sweepEvery is how often expired entries are dropped.
const sweepEvery = time.Minute

// tokenCache remembers the claims of verified tokens, keyed by a SHA-256
// of the raw token (the token itself is not kept), each until the token's
// exp or for cacheMaxAge, whichever comes first, and at most max of them.
// Only tokens that verified are kept: a bad token is checked every time.
type tokenCache struct {
	max int // 0: no cache
	now func() time.Time

	mu        sync.Mutex
	entries   map[[sha256.Size]byte]cacheEntry
	lastSweep time.Time
}

type cacheEntry struct {
	claims *Claims
	until  time.Time
}

func newTokenCache(max int, now func() time.Time) *tokenCache {
	return &tokenCache{max: max, now: now, entries: make(map[[sha256.Size]byte]cacheEntry)}
}

// get returns the claims of raw if it verified before and its entry has
// not ended.
func (c *tokenCache) get(raw string) (*Claims, bool) {
	if c.max <= 0 {
		return nil, false
	}
	key := sha256.Sum256([]byte(raw))
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	if !ok {
		return nil, false
	}
	if !now.Before(e.until) {
		delete(c.entries, key)
		return nil, false
	}
	return e.claims, true
}

// put remembers that raw verified, with claims. When the cache is full,
// ended entries go first, then an arbitrary one (Go's map order is
// random).
func (c *tokenCache) put(raw string, claims *Claims) {
	if c.max <= 0 {
		return
	}
	now := c.now()
	until := now.Add(cacheMaxAge)
	if claims.ExpiresAt.Before(until) {
		until = claims.ExpiresAt
	}
	if !now.Before(until) {
		return
	}
	key := sha256.Sum256([]byte(raw))
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= c.max && now.Sub(c.lastSweep) >= sweepEvery {
		c.lastSweep = now
		for k, e := range c.entries {
			if !now.Before(e.until) {
				delete(c.entries, k)
			}
		}
	}
	for k := range c.entries {
		if len(c.entries) < c.max {
			break
		}
		delete(c.entries, k)
	}
	c.entries[key] = cacheEntry{claims: claims, until: until}
}

// len is the number of entries, for tests.
func (c *tokenCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}
