package sqlstore

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/acsgo/acsidentity/internal/testutil"
)

// The figures these give are a round trip to the database on loopback
// (PostgreSQL) or in process (SQLite) plus database/sql's and the driver's
// work: what a store adds to a token request.

func benchEngines(b *testing.B, bench func(b *testing.B, s *Store)) {
	for _, e := range engines {
		if e.name == "postgres-serializable" {
			continue // a correctness variant: the same statements
		}
		b.Run(e.name, func(b *testing.B) {
			bench(b, newTestStore(b, e.open(b)))
		})
	}
}

func BenchmarkIdentityMiss(b *testing.B) {
	benchEngines(b, func(b *testing.B, s *Store) {
		ctx := context.Background()
		b.ReportAllocs()
		defer reportCPU(b, testutil.CPUTime())
		defer reportCPU(b, testutil.CPUTime())
		for b.Loop() {
			if id, err := s.Identity(ctx, "nobody-here"); id != "" || err != nil {
				b.Fatal(id, err)
			}
		}
	})
}

func BenchmarkIdentityHit(b *testing.B) {
	benchEngines(b, func(b *testing.B, s *Store) {
		ctx := context.Background()
		if _, err := s.Record(ctx, "caller", testID(1)); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		defer reportCPU(b, testutil.CPUTime())
		defer reportCPU(b, testutil.CPUTime())
		for b.Loop() {
			if id, err := s.Identity(ctx, "caller"); id != testID(1) || err != nil {
				b.Fatal(id, err)
			}
		}
	})
}

// BenchmarkRecord records a new caller each time (the winner's path: one
// INSERT).
func BenchmarkRecord(b *testing.B) {
	benchEngines(b, func(b *testing.B, s *Store) {
		ctx := context.Background()
		b.ReportAllocs()
		defer reportCPU(b, testutil.CPUTime())
		defer reportCPU(b, testutil.CPUTime())
		i := 0
		for b.Loop() {
			i++
			if _, err := s.Record(ctx, "caller-"+strconv.Itoa(i), testID(i)); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkRecordLost records for a caller that has a record (the loser's
// path: an INSERT that does nothing, then a SELECT).
func BenchmarkRecordLost(b *testing.B) {
	benchEngines(b, func(b *testing.B, s *Store) {
		ctx := context.Background()
		if _, err := s.Record(ctx, "caller", testID(1)); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		defer reportCPU(b, testutil.CPUTime())
		defer reportCPU(b, testutil.CPUTime())
		for b.Loop() {
			if id, err := s.Record(ctx, "caller", testID(2)); id != testID(1) || err != nil {
				b.Fatal(id, err)
			}
		}
	})
}

// reportCPU reports this process's CPU time per operation since start: the
// client side's cost, which a loaded machine moves far less than the
// wall-clock ns/op (the server's CPU is another process's).
func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64(testutil.CPUTime()-start)/1e3/float64(b.N), "cpu-µs/op")
}
