package emulator

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestThrottle(t *testing.T) {
	t.Parallel()
	clk := newClock() // 21:39:39.32: the window ends at 21:40:00
	srv, c := start(t, &Options{Throttle: true, Now: clk.Now})
	id := c.createUser("2023-10-01")
	revoke := req{method: "POST", path: idPath(id, "/:revokeAccessTokens", "2023-10-01")}
	var ok, limited atomic.Int64
	var wg sync.WaitGroup
	work := make(chan struct{})
	for range 8 {
		wg.Go(func() {
			for range work {
				switch r := c.send(revoke); r.status {
				case 204:
					ok.Add(1)
				case 429:
					limited.Add(1)
				default:
					t.Errorf("status %d", r.status)
				}
			}
		})
	}
	for range 510 {
		work <- struct{}{}
	}
	close(work)
	wg.Wait()
	if ok.Load() != 500 || limited.Load() != 10 {
		t.Fatalf("%d allowed, %d throttled; want 500 and 10", ok.Load(), limited.Load())
	}
	r := c.send(revoke)
	mustStatus(t, r, 429)
	if got := r.header.Get("Retry-After"); got != "21" {
		t.Errorf("Retry-After %q, want 21", got)
	}
	if r.errorBody(t).Code != "TooManyRequests" {
		t.Errorf("body %s", r.body)
	}
	// Other buckets are independent.
	r2, _ := c.issue(id, "2023-10-01", "chat")
	mustStatus(t, r2, 200)
	// A new window allows requests again.
	clk.Add(21 * time.Second)
	mustStatus(t, c.send(revoke), 204)
	_ = srv
}

func TestThrottleBuckets(t *testing.T) {
	t.Parallel()
	th := newThrottler()
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for range 1000 {
		if _, ok := th.allow("createUserAndToken", now); !ok {
			t.Fatal("throttled early")
		}
	}
	if wait, ok := th.allow("createUserAndToken", now.Add(10*time.Second)); ok || wait != 20*time.Second {
		t.Errorf("1001st: %v %v", wait, ok)
	}
	if _, ok := th.allow("create", now); !ok {
		t.Error("create shares createUserAndToken's bucket")
	}
	if _, ok := th.allow("", now); !ok {
		t.Error("unthrottled class throttled")
	}
	for range 500 {
		th.allow("exchangeTokens", now)
	}
	if _, ok := th.allow("exchangeTokens", now); ok {
		t.Error("exchangeTokens not limited to 500")
	}
}
