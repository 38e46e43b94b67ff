package tokenservice

import (
	"container/list"
	"sync"
	"time"
)

// Bounds of the identity cache: how many callers it remembers, and for how
// long. An entry that is wrong (the identity was deleted, by DELETE /user
// on another instance say) costs one token request a 404 from ACS, after
// which the caller's identity is looked up again; the expiry only bounds
// the memory of callers who went away.
const (
	identityCacheSize = 100_000
	identityCacheTTL  = time.Hour
)

// identityCache remembers callers' ACS identities (caller key → ACS user
// ID), so that a known caller's token is one GetToken: least recently used
// entries go first when it is full, and every entry expires.
type identityCache struct {
	size int
	ttl  time.Duration
	now  func() time.Time

	mu      sync.Mutex
	entries map[string]*list.Element // of *cacheEntry
	lru     list.List                // front: most recently used
}

type cacheEntry struct {
	key, id string
	expires time.Time
}

func newIdentityCache(size int, ttl time.Duration) *identityCache {
	return &identityCache{size: size, ttl: ttl, now: time.Now, entries: make(map[string]*list.Element)}
}

// get returns the identity of key, if it is known and has not expired.
func (c *identityCache) get(key string) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.entries[key]
	if !ok {
		return "", false
	}
	e := el.Value.(*cacheEntry)
	if c.now().After(e.expires) {
		c.lru.Remove(el)
		delete(c.entries, key)
		return "", false
	}
	c.lru.MoveToFront(el)
	return e.id, true
}

// put remembers id as key's identity.
func (c *identityCache) put(key, id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	expires := c.now().Add(c.ttl)
	if el, ok := c.entries[key]; ok {
		e := el.Value.(*cacheEntry)
		e.id, e.expires = id, expires
		c.lru.MoveToFront(el)
		return
	}
	for c.lru.Len() >= c.size {
		oldest := c.lru.Back()
		c.lru.Remove(oldest)
		delete(c.entries, oldest.Value.(*cacheEntry).key)
	}
	c.entries[key] = c.lru.PushFront(&cacheEntry{key: key, id: id, expires: expires})
}

// drop forgets key's identity if it is id ("": whatever it is).
func (c *identityCache) drop(key, id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.entries[key]; ok && (id == "" || el.Value.(*cacheEntry).id == id) {
		c.lru.Remove(el)
		delete(c.entries, key)
	}
}
