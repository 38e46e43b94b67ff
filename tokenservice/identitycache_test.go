package tokenservice

import (
	"strconv"
	"testing"
	"time"

	"github.com/acsgo/acsidentity/internal/testutil"
)

// TestIdentityCache: entries expire, the least recently used go first
// when the cache is full, and drop removes only the identity named.
func TestIdentityCache(t *testing.T) {
	t.Parallel()
	clock := testutil.NewClock(time.Unix(1_800_000_000, 0))
	c := newIdentityCache(3, time.Hour)
	c.now = clock.Now
	for i := range 3 {
		c.put("k"+strconv.Itoa(i), "id"+strconv.Itoa(i))
	}
	c.get("k0") // k1 is now the least recently used
	c.put("k3", "id3")
	if _, ok := c.get("k1"); ok {
		t.Fatal("k1 should have been evicted")
	}
	for _, k := range []string{"k0", "k2", "k3"} {
		if _, ok := c.get(k); !ok {
			t.Fatalf("%s was evicted", k)
		}
	}
	c.drop("k0", "another id")
	if id, ok := c.get("k0"); !ok || id != "id0" {
		t.Fatalf("drop of another identity removed k0's: %q %v", id, ok)
	}
	c.drop("k0", "id0")
	if _, ok := c.get("k0"); ok {
		t.Fatal("k0 was not dropped")
	}
	clock.Advance(time.Hour + time.Second)
	if _, ok := c.get("k2"); ok {
		t.Fatal("k2 did not expire")
	}
	if len(c.entries) != 1 || c.lru.Len() != 1 {
		t.Fatalf("%d entries, %d in the list; want 1 (k3, expired but not yet read)", len(c.entries), c.lru.Len())
	}
}
