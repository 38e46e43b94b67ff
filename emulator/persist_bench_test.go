package emulator

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/acsgo/acsidentity/emulator/internal/datafile"
	"github.com/acsgo/acsidentity/internal/hmacauth"
)

// BenchmarkCreatePersisted measures a create (no custom ID, no token)
// with a data file that holds 1,000, 10,000 or 100,000 identities, through
// ServeHTTP with signed requests and no network: its latency one at a
// time (c=1) and with 16 in flight (c=16, where saves are shared), the
// process's CPU per create and the bytes it wrote per create. The file is
// on the test's temporary directory, so fsync costs what that disk costs.
//
//	go test -run x -bench CreatePersisted -benchtime 200x -count 3 ./emulator
func BenchmarkCreatePersisted(b *testing.B) {
	for _, n := range []int{1_000, 10_000, 100_000} {
		for _, conc := range []int{1, 16} {
			b.Run(fmt.Sprintf("identities=%d/c=%d", n, conc), func(b *testing.B) {
				benchmarkCreatePersisted(b, n, conc)
			})
		}
	}
}

func benchmarkCreatePersisted(b *testing.B, n, conc int) {
	e, _ := openBenchState(b, n)
	raw, _ := base64.StdEncoding.DecodeString(DevelopmentKey)
	key := hmacauth.NewKey(raw)
	const target = "http://127.0.0.1:10780/identities?api-version=2023-10-01"
	body := `{}`
	hash := hmacauth.ContentHash([]byte(body))
	create := func() {
		r := httptest.NewRequest("POST", target, strings.NewReader(body))
		date := time.Now().UTC().Format(http.TimeFormat)
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set(hmacauth.DateHeader, date)
		r.Header.Set(hmacauth.ContentHashHeader, hash)
		r.Header.Set("Authorization", hmacauth.AuthorizationPrefix+key.Signature("POST", r.URL.RequestURI(), date, r.Host, hash))
		w := httptest.NewRecorder()
		e.ServeHTTP(w, r)
		if w.Code != http.StatusCreated {
			b.Errorf("status %d %s", w.Code, w.Body)
		}
	}
	create() // the first save after opening may differ
	b.ReportAllocs()
	b.ResetTimer()
	cpu0, wrote0 := cpuTime(), bytesWritten()
	var next sync.Mutex
	left := b.N
	var wg sync.WaitGroup
	for range conc {
		wg.Go(func() {
			for {
				next.Lock()
				if left == 0 {
					next.Unlock()
					return
				}
				left--
				next.Unlock()
				create()
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
	if w := bytesWritten(); w >= 0 && wrote0 >= 0 {
		b.ReportMetric(float64(w-wrote0)/float64(b.N), "written-B/op")
	}
}

// openBenchState opens an emulator on a new data file of n identities,
// closed when the benchmark ends, and returns it and the file's path.
func openBenchState(b *testing.B, n int) (*Emulator, string) {
	path := filepath.Join(b.TempDir(), "state.json")
	writeBenchState(b, path, n)
	e, err := New(&Options{DataFile: path})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { e.Close() })
	return e, path
}

// writeBenchState writes a data file holding n identities, one in four
// with a token issued and one in eight with a custom ID.
func writeBenchState(b *testing.B, path string, n int) {
	b.Helper()
	seed := make([]byte, 32)
	rand.Read(seed)
	st := datafile.State{ResourceID: DevelopmentResourceID, SigningKey: seed}
	now := time.Now().UTC()
	prefix := "8:acs:" + DevelopmentResourceID + "_"
	for i := range n {
		si := datafile.Identity{ID: prefix + newUnique(), Created: now.Add(-time.Duration(n-i) * time.Second)}
		if i%4 == 0 {
			si.LastIssued = now
		}
		if i%8 == 0 {
			si.CustomID = fmt.Sprintf("bench-user-%d", i)
		}
		st.Identities = append(st.Identities, si)
	}
	data, _, err := datafile.Encode(&st)
	if err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkFullCopy measures what a compaction writes in the background
// with a data file of 1,000, 10,000 or 100,000 identities: a full copy of
// the state, encoded, written and synced (ns/op and CPU), and how long it
// holds every store lock to copy the state (frozen-µs/op), which is all
// the requests wait for. A compaction comes once the journal outgrows the
// copy, so per saved change it costs about this divided by the number of
// changes in a copy's size (about 245 bytes each).
//
//	go test -run x -bench FullCopy -benchtime 20x -count 3 ./emulator
func BenchmarkFullCopy(b *testing.B) {
	for _, n := range []int{1_000, 10_000, 100_000} {
		b.Run(fmt.Sprintf("identities=%d", n), func(b *testing.B) {
			e, path := openBenchState(b, n)
			p := e.persist
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := cpuTime()
			var frozen time.Duration
			for range b.N {
				t0 := time.Now()
				e.copyState()
				frozen += time.Since(t0)
				if _, err := p.WriteCopy(); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			fi, _ := os.Stat(path)
			b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
			b.ReportMetric(float64(frozen.Microseconds())/float64(b.N), "frozen-µs/op")
			b.ReportMetric(float64(fi.Size()), "file-B")
		})
	}
}
