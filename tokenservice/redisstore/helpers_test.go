package redisstore

import (
	"context"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/acsgo/acsidentity/internal/testservers"
	"github.com/acsgo/acsidentity/tokenservice/internal/storetest"
	"github.com/redis/go-redis/v9"
)

// testID is a valid ACS user ID, a different one for each n.
var testID = storetest.ID

// newClient returns a client of the test Redis (skipping tb without one),
// closed when tb ends.
func newClient(tb testing.TB) *redis.Client {
	tb.Helper()
	opt, err := redis.ParseURL(testservers.RedisURL(tb))
	if err != nil {
		tb.Fatalf("%s: %v", testservers.RedisVar, err)
	}
	opt.ContextTimeoutEnabled = true
	c := redis.NewClient(opt)
	tb.Cleanup(func() { c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		tb.Fatalf("the test Redis at %s does not answer: %v", opt.Addr, err)
	}
	return c
}

// testPrefix returns a key prefix of tb's own, whose keys are deleted when
// tb ends.
func testPrefix(tb testing.TB, c *redis.Client) string {
	tb.Helper()
	prefix := "acsidentity-test:" + testservers.Unique(tb) + ":"
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		iter := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			c.Del(ctx, iter.Val())
		}
		if err := iter.Err(); err != nil {
			tb.Errorf("cleaning up %s*: %v", prefix, err)
		}
	})
	return prefix
}

// newTestStore returns a Store on the test Redis with a prefix of tb's own.
func newTestStore(tb testing.TB, c *redis.Client, ttl time.Duration) *Store {
	tb.Helper()
	s, err := New(c, &Options{KeyPrefix: testPrefix(tb, c), TTL: ttl})
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// offlineClient returns a client of an address nothing listens on, with a
// hook that counts the commands it is asked to send.
func offlineClient(tb testing.TB) (*redis.Client, *atomic.Int64) {
	tb.Helper()
	c := redis.NewClient(&redis.Options{Addr: storetest.ClosedAddr(tb), ContextTimeoutEnabled: true, MaxRetries: -1, DialTimeout: 5 * time.Second})
	tb.Cleanup(func() { c.Close() })
	var n atomic.Int64
	c.AddHook(countHook{&n})
	return c, &n
}

type countHook struct{ n *atomic.Int64 }

func (h countHook) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h countHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.n.Add(1)
		return next(ctx, cmd)
	}
}
func (h countHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// silentAddr returns the address of a loopback server that accepts
// connections and reads from them but never answers: a Redis that hangs.
func silentAddr(tb testing.TB) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	done := make(chan struct{})
	var conns []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				close(done)
				return
			}
			conns = append(conns, c)
			go func() {
				buf := make([]byte, 4096)
				for {
					if _, err := c.Read(buf); err != nil {
						return
					}
				}
			}()
		}
	}()
	tb.Cleanup(func() {
		l.Close()
		<-done
		for _, c := range conns {
			c.Close()
		}
	})
	return l.Addr().String()
}
