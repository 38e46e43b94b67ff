// Command emulator-memory measures the emulator's heap per identity: it
// creates -n identities (default 1,000,000) through the emulator's HTTP
// handler in process (emulator.New, ServeHTTP with an httptest recorder and
// requests HMAC-signed with the development key, as a client signs them),
// forces a GC before and after, and prints the growth of the live heap
// (runtime.MemStats HeapAlloc) and of the in-use heap spans (HeapInuse)
// divided by -n.
//
//	go run ./bench/emulator-memory             # 1,000,000 identities
//	go run ./bench/emulator-memory -n 100000 -custom-id
//
// -custom-id creates every identity with a distinct custom ID (api-version
// 2025-03-02-preview), which the emulator also indexes.
package main

import (
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/acsgo/acsidentity/emulator"
	"github.com/acsgo/acsidentity/internal/hmacauth"
)

func main() {
	n := flag.Int("n", 1_000_000, "identities to create")
	workers := flag.Int("workers", runtime.GOMAXPROCS(0), "goroutines creating identities")
	customID := flag.Bool("custom-id", false, "give every identity a distinct custom ID (api-version 2025-03-02-preview)")
	jsonOut := flag.Bool("json", false, "also print the result as one JSON line")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the creates to `file`")
	flag.Parse()
	if *n < 1 || *workers < 1 {
		fmt.Fprintln(os.Stderr, "emulator-memory: -n and -workers must be >= 1")
		os.Exit(2)
	}

	raw, err := base64.StdEncoding.DecodeString(emulator.DevelopmentKey)
	if err != nil {
		fatal(err)
	}
	key := hmacauth.NewKey(raw)
	version := "2025-06-30"
	if *customID {
		version = "2025-03-02-preview"
	}
	const host = "127.0.0.1:10780"
	path, query := "/identities", "api-version="+version

	// create makes identity i and checks the answer.
	create := func(e *emulator.Emulator, i int) error {
		body := "{}"
		if *customID {
			body = `{"customId":"emulator-memory-` + strconv.Itoa(i) + `"}`
		}
		hash := hmacauth.ContentHash([]byte(body))
		date := time.Now().UTC().Format(http.TimeFormat)
		r := httptest.NewRequest(http.MethodPost, path+"?"+query, strings.NewReader(body))
		r.Host = host
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set(hmacauth.DateHeader, date)
		r.Header.Set(hmacauth.ContentHashHeader, hash)
		r.Header.Set("Authorization", key.Authorization(http.MethodPost, path, query, date, host, hash))
		w := httptest.NewRecorder()
		e.ServeHTTP(w, r)
		if w.Code != http.StatusCreated {
			return fmt.Errorf("identity %d: status %d: %.300s", i, w.Code, w.Body.String())
		}
		return nil
	}

	e, err := emulator.New(nil)
	if err != nil {
		fatal(err)
	}
	defer e.Close()
	// One create first, so that pools and lazily made state are not
	// counted as per-identity cost.
	if err := create(e, -1); err != nil {
		fatal(err)
	}
	before := settledMemStats()

	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fatal(err)
		}
		defer f.Close()
	}
	start := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	var firstErr atomic.Value
	for w := 0; w < *workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= *n || firstErr.Load() != nil {
					return
				}
				if err := create(e, i); err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if *cpuprofile != "" {
		pprof.StopCPUProfile()
	}
	if err, ok := firstErr.Load().(error); ok {
		fatal(err)
	}
	after := settledMemStats()
	runtime.KeepAlive(e)

	perAlloc := float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / float64(*n)
	perInuse := float64(int64(after.HeapInuse)-int64(before.HeapInuse)) / float64(*n)
	fmt.Printf("emulator-memory: %d identities (custom IDs: %v) created through Emulator.ServeHTTP in %.1fs (%.0f creates/s, %d goroutines, GOMAXPROCS %d, %s)\n",
		*n, *customID, elapsed.Seconds(), float64(*n)/elapsed.Seconds(), *workers, runtime.GOMAXPROCS(0), runtime.Version())
	fmt.Printf("  HeapAlloc  %8.1f MiB -> %8.1f MiB: %6.0f bytes/identity (live objects)\n", mib(before.HeapAlloc), mib(after.HeapAlloc), perAlloc)
	fmt.Printf("  HeapInuse  %8.1f MiB -> %8.1f MiB: %6.0f bytes/identity (in-use spans, incl. size-class rounding)\n", mib(before.HeapInuse), mib(after.HeapInuse), perInuse)
	fmt.Printf("  Sys        %8.1f MiB -> %8.1f MiB (from the OS, incl. GC headroom)\n", mib(before.Sys), mib(after.Sys))
	if *jsonOut {
		b, _ := json.Marshal(map[string]any{
			"identities": *n, "custom_id": *customID, "seconds": elapsed.Seconds(), "creates_per_s": float64(*n) / elapsed.Seconds(),
			"heap_alloc_before": before.HeapAlloc, "heap_alloc_after": after.HeapAlloc, "bytes_per_identity_alloc": perAlloc,
			"heap_inuse_before": before.HeapInuse, "heap_inuse_after": after.HeapInuse, "bytes_per_identity_inuse": perInuse,
			"go": runtime.Version(),
		})
		fmt.Println(string(b))
	}
}

// settledMemStats runs the GC until the heap stops shrinking and returns
// the statistics.
func settledMemStats() runtime.MemStats {
	var m runtime.MemStats
	for i := 0; i < 3; i++ {
		runtime.GC()
	}
	debug.FreeOSMemory()
	runtime.ReadMemStats(&m)
	return m
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "emulator-memory:", err)
	os.Exit(1)
}
