// Command goload is the Go half of bench/js-vs-go.sh: it issues tokens
// (Client.GetToken, one pre-created user, one scope) with -c goroutines for
// -warmup (not counted) and then -d (counted), through an acsidentity.Client
// with default options, and prints one JSON line with the same fields as
// bench/js/load.mjs.
//
//	go run ./bench/goload -conn "$CONN" -user 8:acs:... -c 16 -d 10s
//	go run ./bench/goload -conn "$CONN" -create-user      # prints a new user's ID
//
// For https, trust the emulator's certificate with SSL_CERT_FILE (the
// client's default transport reads it), so that the client under test keeps
// azcore's default transport. -cpuprofile writes a CPU profile of the
// counted window only. -emu-pid reads the emulator's CPU time over the
// window from /proc (Linux).
package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptrace"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"

	"github.com/acsgo/acsidentity"
)

type result struct {
	SDK         string  `json:"sdk"`
	Concurrency int     `json:"concurrency"`
	Seconds     float64 `json:"seconds"`
	Ops         int64   `json:"ops"`
	Errors      int64   `json:"errors"`
	FirstError  string  `json:"first_error"`
	OpsPerS     float64 `json:"ops_per_s"`
	P50ms       float64 `json:"p50_ms"`
	P99ms       float64 `json:"p99_ms"`
	ClientCPU   float64 `json:"client_cpu_s"`
	ClientCPUOp float64 `json:"client_cpu_us_per_op"`
	EmuCPU      float64 `json:"emu_cpu_s"`
	EmuCPUOp    float64 `json:"emu_cpu_us_per_op"`
	NewConns    int64   `json:"new_conns"`
	ReusedConns int64   `json:"reused_conns"`
	Runtime     string  `json:"runtime"`
	TunedTransp bool    `json:"tuned_transport,omitempty"`
	HTTP1       bool    `json:"http1_only,omitempty"`
	GOMAXPROCS  int     `json:"gomaxprocs"`
	APIVersion  string  `json:"api_version"`
	ProfileFile string  `json:"cpuprofile,omitempty"`
}

func main() {
	var (
		conn       = flag.String("conn", os.Getenv("ACS_CONNECTION_STRING"), "connection string (default $ACS_CONNECTION_STRING)")
		userID     = flag.String("user", os.Getenv("USER_ID"), "identity to issue tokens for (default $USER_ID; empty: create one first)")
		createOnly = flag.Bool("create-user", false, "create a user, print its ID and exit")
		c          = flag.Int("c", 1, "concurrent goroutines")
		d          = flag.Duration("d", 10*time.Second, "counted duration")
		warmup     = flag.Duration("warmup", 2*time.Second, "uncounted warm-up before -d")
		scope      = flag.String("scope", "chat", "token scope")
		emuPid     = flag.Int("emu-pid", 0, "emulator PID whose CPU time over the window is read from /proc (0: none)")
		clkTck     = flag.Float64("clk-tck", 100, "clock ticks per second of /proc/PID/stat")
		cpuprofile = flag.String("cpuprofile", "", "write a CPU profile of the counted window to `file`")
		tuned      = flag.Bool("tuned-transport", false, "diagnosis only: use a transport with MaxIdleConnsPerHost = -c instead of azcore's default (10)")
		http1      = flag.Bool("http1", false, "diagnosis only: like -tuned-transport, and never HTTP/2 (HTTP/1.1 over TLS too)")
		apiVersion = flag.String("api-version", "", "api-version (default: the client's default)")
	)
	flag.Parse()
	if *conn == "" {
		fatalf("set -conn or ACS_CONNECTION_STRING")
	}
	if *c < 1 || *d <= 0 || *warmup < 0 {
		fatalf("-c must be >= 1 and -d > 0")
	}
	opts := &acsidentity.ClientOptions{}
	opts.APIVersion = *apiVersion
	if *tuned || *http1 {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = *c
		if *http1 {
			tr.ForceAttemptHTTP2 = false
			tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
			tr.TLSClientConfig = &tls.Config{NextProtos: []string{"http/1.1"}, MinVersion: tls.VersionTLS12}
		}
		opts.ClientOptions = azcore.ClientOptions{Transport: &http.Client{Transport: tr}, APIVersion: *apiVersion}
	}
	client, err := acsidentity.NewClientFromConnectionString(*conn, opts)
	if err != nil {
		fatalf("%v", err)
	}
	ctx := context.Background()
	if *createOnly || *userID == "" {
		u, err := client.CreateUser(ctx, nil)
		if err != nil {
			fatalf("creating the user: %v", err)
		}
		if *createOnly {
			fmt.Println(u.User.ID)
			return
		}
		*userID = u.User.ID
	}
	user := acsidentity.CommunicationUserIdentifier{ID: *userID}
	scopes := []acsidentity.TokenScope{acsidentity.TokenScope(*scope)}

	// Connection accounting: a new connection per request would mean the
	// transport's idle pool is too small for the concurrency.
	var newConns, reusedConns atomic.Int64
	trace := &httptrace.ClientTrace{
		GotConn: func(info httptrace.GotConnInfo) {
			if info.Reused {
				reusedConns.Add(1)
			} else {
				newConns.Add(1)
			}
		},
	}
	tctx := httptrace.WithClientTrace(ctx, trace)

	const (
		warm int32 = iota
		measure
		stop
	)
	var phase atomic.Int32
	var ops, errs atomic.Int64
	var firstErr atomic.Value
	lats := make([][]time.Duration, *c)
	var wg sync.WaitGroup
	for w := 0; w < *c; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			var l []time.Duration
			for {
				p := phase.Load()
				if p == stop {
					break
				}
				t := time.Now()
				resp, err := client.GetToken(tctx, user, scopes, nil)
				el := time.Since(t)
				if err == nil && (resp.Token == "" || resp.ExpiresOn.IsZero()) {
					err = fmt.Errorf("empty token")
				}
				if p != measure || phase.Load() != measure {
					continue
				}
				if err != nil {
					errs.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				ops.Add(1)
				l = append(l, el)
			}
			lats[w] = l
		}(w)
	}
	time.Sleep(*warmup)

	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			fatalf("%v", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fatalf("%v", err)
		}
	}
	newConns.Store(0)
	reusedConns.Store(0)
	cpu0 := selfCPU()
	emu0 := procCPU(*emuPid, *clkTck)
	t0 := time.Now()
	phase.Store(measure)
	time.Sleep(*d)
	phase.Store(stop)
	secs := time.Since(t0).Seconds()
	cpu1 := selfCPU()
	emu1 := procCPU(*emuPid, *clkTck)
	nNew, nReused := newConns.Load(), reusedConns.Load()
	if *cpuprofile != "" {
		pprof.StopCPUProfile()
	}
	wg.Wait()

	var all []time.Duration
	for _, l := range lats {
		all = append(all, l...)
	}
	slices.Sort(all)
	q := func(x float64) float64 {
		if len(all) == 0 {
			return 0
		}
		i := int(x * float64(len(all)))
		if i >= len(all) {
			i = len(all) - 1
		}
		return float64(all[i]) / 1e6
	}
	r := result{
		SDK:         "go",
		Concurrency: *c,
		Seconds:     secs,
		Ops:         ops.Load(),
		Errors:      errs.Load(),
		OpsPerS:     float64(ops.Load()) / secs,
		P50ms:       q(0.5),
		P99ms:       q(0.99),
		ClientCPU:   cpu1 - cpu0,
		EmuCPU:      emu1 - emu0,
		NewConns:    nNew,
		ReusedConns: nReused,
		Runtime:     runtime.Version(),
		TunedTransp: *tuned || *http1,
		HTTP1:       *http1,
		GOMAXPROCS:  runtime.GOMAXPROCS(0),
		APIVersion:  client.APIVersion(),
		ProfileFile: *cpuprofile,
	}
	if v, ok := firstErr.Load().(string); ok {
		r.FirstError = v
	}
	if r.Ops > 0 {
		r.ClientCPUOp = r.ClientCPU * 1e6 / float64(r.Ops)
		r.EmuCPUOp = r.EmuCPU * 1e6 / float64(r.Ops)
	}
	if *emuPid == 0 {
		r.EmuCPU, r.EmuCPUOp = -1, -1
	}
	if !selfCPUMeasured {
		r.ClientCPU, r.ClientCPUOp = -1, -1
	}
	out, _ := json.Marshal(r)
	fmt.Println(string(out))
}

// procCPU is a process's user+system CPU seconds from /proc/PID/stat.
func procCPU(pid int, clkTck float64) float64 {
	if pid == 0 {
		return 0
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / clkTck
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "goload: "+format+"\n", args...)
	os.Exit(1)
}
