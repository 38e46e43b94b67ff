package redisstore

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/acsgo/acsidentity/internal/testutil"
)

// The figures these give are a round trip to a Redis on loopback plus the
// client's own work: what a store adds to a token request.

func BenchmarkIdentityMiss(b *testing.B) {
	s := newTestStore(b, newClient(b), 0)
	ctx := context.Background()
	b.ReportAllocs()
	defer reportCPU(b, testutil.CPUTime())
	for b.Loop() {
		if id, err := s.Identity(ctx, "nobody-here"); id != "" || err != nil {
			b.Fatal(id, err)
		}
	}
}

func BenchmarkIdentityHit(b *testing.B) {
	s := newTestStore(b, newClient(b), 0)
	ctx := context.Background()
	if _, err := s.Record(ctx, "caller", testID(1)); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	defer reportCPU(b, testutil.CPUTime())
	for b.Loop() {
		if id, err := s.Identity(ctx, "caller"); id != testID(1) || err != nil {
			b.Fatal(id, err)
		}
	}
}

// BenchmarkRecord records a new caller each time (the winner's path).
func BenchmarkRecord(b *testing.B) {
	s := newTestStore(b, newClient(b), 0)
	ctx := context.Background()
	b.ReportAllocs()
	defer reportCPU(b, testutil.CPUTime())
	i := 0
	for b.Loop() {
		i++
		if _, err := s.Record(ctx, "caller-"+strconv.Itoa(i), testID(i)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRecordLost records for a caller that has a record (the loser's
// path: SET NX GET answers the earlier ID).
func BenchmarkRecordLost(b *testing.B) {
	s := newTestStore(b, newClient(b), 0)
	ctx := context.Background()
	if _, err := s.Record(ctx, "caller", testID(1)); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	defer reportCPU(b, testutil.CPUTime())
	for b.Loop() {
		if id, err := s.Record(ctx, "caller", testID(2)); id != testID(1) || err != nil {
			b.Fatal(id, err)
		}
	}
}

func BenchmarkRateLimiterAllow(b *testing.B) {
	c := newClient(b)
	l := newTestLimiter(b, c, testPrefix(b, c), 1e9, 1<<30)
	ctx := context.Background()
	b.ReportAllocs()
	defer reportCPU(b, testutil.CPUTime())
	for b.Loop() {
		if ok, _, err := l.Allow(ctx, "caller:bench"); !ok || err != nil {
			b.Fatal(ok, err)
		}
	}
}

// reportCPU reports this process's CPU time per operation since start: the
// client side's cost, which a loaded machine moves far less than the
// wall-clock ns/op (the server's CPU is another process's).
func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64(testutil.CPUTime()-start)/1e3/float64(b.N), "cpu-µs/op")
}
