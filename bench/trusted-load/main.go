// Command trusted-load drives the trusted token service example
// (examples/trusted-service) with N concurrent callers for M seconds and
// reports tokens/s, latency percentiles and errors; with a service it
// started itself it also samples the service process (goroutines, RSS, OS
// threads, open file descriptors, CPU) at the start and end of each round,
// and runs -rounds rounds back to back so that growth across rounds shows.
//
//	go run ./bench/trusted-load                   # builds and starts an emulator process and the service on free loopback ports
//	go run ./bench/trusted-load -n 16 -d 10s -rounds 2
//	go run ./bench/trusted-load -emulator embedded   # the service's own in-process emulator, X-Caller-Id callers
//	go run ./bench/trusted-load -url http://127.0.0.1:7071 -pid 1234
//
// By default (-emulator process) the ACS Identity emulator runs in its own
// process (cmd/acsidentity-emulator), which the service reaches through
// COMMUNICATION_SERVICES_CONNECTION_STRING: the service's CPU per token is
// then the service's alone, and the emulator's is reported beside it. The
// callers authenticate as the service's users would (-auth bearer):
// trusted-load is their OIDC issuer (an RS256 key and a JWKS on loopback,
// both made at start) and gives caller i a bearer token for subject
// trusted-load-<i>, so each caller has a lasting identity and every token of
// a caller must be for the same identity (checked). -auth anonymous sends
// no credentials and starts the service with TRUSTED_SERVICE_ALLOW_ANONYMOUS:
// every call then makes a new identity (the emulator's state grows).
//
// With -emulator embedded the service gets no ACS configuration, so it
// embeds the emulator in its own process (its CPU is then service and
// emulator together), and callers send X-Caller-Id: trusted-load-<i>
// (-auth dev), which with an emulator on loopback names a lasting identity.
//
// -identity-store URL starts the service with
// TRUSTED_SERVICE_IDENTITY_STORE: identities are recorded in that store
// (on the default GA api-version) instead of in ACS custom IDs.
//
// The service's per-caller rate limit is turned off
// (TRUSTED_SERVICE_RATE_PER_MINUTE=0), else a load test measures the
// limiter. A service given with -url must be started the same way, or every
// caller past the first few gets 429 (all callers of this tool come from one
// address, and share one bucket):
//
//	TRUSTED_SERVICE_RATE_PER_MINUTE=0 go run ./examples/trusted-service
//
// trusted-load stops after the warm-up, saying so, if the service answers
// 429.
//
// Goroutines are read from the profiler the service serves with
// -debug-addr (started here on a free loopback port); RSS, OS threads, file
// descriptors and CPU from /proc.
//
// Loopback only. Exits 1 if any request failed.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

const maxDuration = 120 * time.Second

func main() {
	var (
		n         = flag.Int("n", 16, "concurrent callers")
		d         = flag.Duration("d", 10*time.Second, "duration of each round (at most 2m)")
		warmup    = flag.Duration("warmup", 1*time.Second, "uncounted warm-up before the first round")
		rounds    = flag.Int("rounds", 2, "rounds, back to back (1 to 5)")
		rawURL    = flag.String("url", "", "base URL of a running service (loopback only); empty: build and start examples/trusted-service")
		pid       = flag.Int("pid", 0, "with -url: the service's PID, to sample it")
		scopes    = flag.String("scopes", "chat", "scopes query parameter")
		method    = flag.String("method", "GET", "GET or POST (POST sends {\"scopes\":[...]})")
		emuMode   = flag.String("emulator", "process", "process: the emulator in its own process (cmd/acsidentity-emulator); embedded: the service's in-process emulator")
		auth      = flag.String("auth", "", "how callers authenticate: bearer (trusted-load's OIDC issuer; default with -emulator process), dev (X-Caller-Id; default with -emulator embedded) or anonymous (a new identity per call)")
		ephemeral = flag.Bool("ephemeral", false, "the same as -auth anonymous")
		jsonOut   = flag.Bool("json", false, "also print one JSON line per round")
		store     = flag.String("identity-store", "", "start the service with TRUSTED_SERVICE_IDENTITY_STORE=`URL` (redis://..., postgres://..., sqlite:PATH): identities recorded in a store, on the default GA api-version")
		cpuProf   = flag.String("cpuprofile", "", "write a CPU profile of the service during round 1 to `file` (from its -debug-addr profiler; services started here only)")
	)
	flag.Parse()
	if *n < 1 || *n > 1024 {
		fatalf("-n must be 1 to 1024")
	}
	if *d <= 0 || *d > maxDuration {
		fatalf("-d must be > 0 and at most %s", maxDuration)
	}
	if *rounds < 1 || *rounds > 5 {
		fatalf("-rounds must be 1 to 5")
	}
	if *method != "GET" && *method != "POST" {
		fatalf("-method must be GET or POST")
	}
	if *emuMode != "process" && *emuMode != "embedded" {
		fatalf("-emulator must be process or embedded")
	}
	if *ephemeral {
		*auth = "anonymous"
	}
	if *auth == "" {
		*auth = map[string]string{"process": "bearer", "embedded": "dev"}[*emuMode]
	}
	switch {
	case *auth != "bearer" && *auth != "dev" && *auth != "anonymous":
		fatalf("-auth must be bearer, dev or anonymous")
	case *rawURL != "" && *store != "":
		fatalf("-identity-store needs a service started here (leave out -url)")
	case *rawURL != "" && *auth == "bearer":
		fatalf("-auth bearer needs a service started here (leave out -url)")
	}

	base := *rawURL
	servicePID := *pid
	debugURL := ""
	var svc *service
	var emu *emulatorProc
	var idp *issuer
	if base == "" {
		root, err := moduleRoot()
		if err != nil {
			fatalf("%v", err)
		}
		env := serviceEnv()
		if *emuMode == "process" {
			if emu, err = startEmulator(root); err != nil {
				fatalf("%v", err)
			}
			defer emu.stop()
			env = append(env, "COMMUNICATION_SERVICES_CONNECTION_STRING="+emu.connectionString)
		}
		switch *auth {
		case "bearer":
			if idp, err = startIssuer(); err != nil {
				fatalf("%v", err)
			}
			defer idp.stop()
			env = append(env, idp.env()...)
		case "anonymous":
			env = append(env, "TRUSTED_SERVICE_ALLOW_ANONYMOUS=true")
		}
		if *store != "" {
			env = append(env, "TRUSTED_SERVICE_IDENTITY_STORE="+*store)
		}
		svc, err = startService(root, env)
		if err != nil {
			fatalf("%v", err)
		}
		defer svc.stop()
		base, servicePID, debugURL = svc.url, svc.cmd.Process.Pid, svc.debugURL
	} else if err := checkLoopback(base); err != nil {
		fatalf("%v", err)
	}
	base = strings.TrimRight(base, "/")

	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = *n
	tr.MaxIdleConns = *n * 2
	tr.Proxy = nil
	hc := &http.Client{Transport: tr, Timeout: 30 * time.Second}

	fmt.Printf("trusted-load: %d callers, %s per round, %d round(s), %s %s/api/token?scopes=%s, callers: %s, lasting identities: %v\n",
		*n, *d, *rounds, *method, base, *scopes, *auth, *auth != "anonymous")
	if svc != nil {
		where := "embedded emulator"
		if emu != nil {
			where = fmt.Sprintf("emulator process pid %d", emu.pid())
		}
		fmt.Printf("service: %s (pid %d, %s, rate limit off, started by trusted-load)\n", svc.bin, servicePID, where)
	}

	ld := &loader{hc: hc, base: base, scopes: *scopes, method: *method, auth: *auth, users: make([]string, *n), bearers: make([]string, *n)}
	if idp != nil {
		for i := range ld.bearers {
			tok, err := idp.token(i)
			if err != nil {
				fatalf("signing a bearer token: %v", err)
			}
			ld.bearers[i] = "Bearer " + tok
		}
	}
	emuPID := 0
	if emu != nil {
		emuPID = emu.pid()
	}
	if *warmup > 0 {
		if w := ld.run(*n, *warmup); w.Throttled > 0 {
			fatalf("%s", throttledHelp(w.Throttled))
		}
	}
	var results []roundResult
	for r := 1; r <= *rounds; r++ {
		before, emuBefore := sample(servicePID, debugURL), sample(emuPID, "")
		var prof chan error
		if r == 1 && *cpuProf != "" {
			prof = make(chan error, 1)
			go func() { prof <- profile(debugURL, *d, *cpuProf) }()
		}
		res := ld.run(*n, *d)
		if prof != nil {
			if err := <-prof; err != nil {
				fatalf("-cpuprofile: %v", err)
			}
			fmt.Printf("CPU profile of the service in round 1: %s (go tool pprof -top %s)\n", *cpuProf, *cpuProf)
		}
		after, emuAfter := sample(servicePID, debugURL), sample(emuPID, "")
		res.Round, res.Before, res.After = r, before, after
		res.ServiceCPUs, res.EmbeddedEmulator = after.CPUs-before.CPUs, emu == nil
		if emu != nil {
			res.EmulatorCPUs = emuAfter.CPUs - emuBefore.CPUs
		}
		results = append(results, res)
		printRound(res)
		if *jsonOut {
			b, _ := json.Marshal(res)
			fmt.Println(string(b))
		}
	}
	if servicePID != 0 && len(results) > 1 {
		first, last := results[0].After, results[len(results)-1].After
		fmt.Printf("growth from the end of round 1 to the end of round %d: RSS %+.1f MiB, goroutines %+d, threads %+d, fds %+d\n",
			len(results), float64(last.RSSKiB-first.RSSKiB)/1024, last.Goroutines-first.Goroutines, last.Threads-first.Threads, last.FDs-first.FDs)
	}
	if svc != nil {
		svc.stop()
		if svc.exitErr != nil {
			fmt.Printf("service stopped with: %v\n", svc.exitErr)
		} else {
			fmt.Println("service stopped cleanly (SIGTERM, exit 0)")
		}
	}
	total := int64(0)
	for _, r := range results {
		total += r.Errors
	}
	if total > 0 {
		fmt.Fprintf(os.Stderr, "trusted-load: %d request(s) failed; first: %s\n", total, results[0].FirstError+firstNonEmpty(results))
		throttled := int64(0)
		for _, r := range results {
			throttled += r.Throttled
		}
		if throttled > 0 {
			fmt.Fprintln(os.Stderr, "trusted-load:", throttledHelp(throttled))
		}
		os.Exit(1)
	}
}

// errThrottled is a 429 from the service's own per-caller rate limit.
var errThrottled = errors.New("status 429: the service's per-caller rate limit")

// throttledHelp says what to do about 429s from the service.
func throttledHelp(n int64) string {
	return fmt.Sprintf("the service answered 429 Too Many Requests %d time(s): its per-caller rate limit "+
		"(30 a minute, burst 10, by default) is on, and every caller of this tool shares one bucket "+
		"(they come from one address). Start the service for a load test with the limit off:\n"+
		"\tTRUSTED_SERVICE_RATE_PER_MINUTE=0 go run ./examples/trusted-service\n"+
		"or leave out -url to let trusted-load start one", n)
}

func firstNonEmpty(rs []roundResult) string {
	for _, r := range rs[1:] {
		if r.FirstError != "" {
			return r.FirstError
		}
	}
	return ""
}

// loader sends the requests.
type loader struct {
	hc      *http.Client
	base    string
	scopes  string
	method  string
	auth    string   // bearer, dev or anonymous
	bearers []string // with bearer: caller i's Authorization header
	mu      sync.Mutex
	users   []string // the identity each lasting caller got first
}

type roundResult struct {
	Round       int      `json:"round"`
	Callers     int      `json:"callers"`
	Seconds     float64  `json:"seconds"`
	Tokens      int64    `json:"tokens"`
	Errors      int64    `json:"errors"`
	Throttled   int64    `json:"throttled"` // of Errors, 429s from the service's rate limit
	FirstError  string   `json:"first_error,omitempty"`
	TokensPerS  float64  `json:"tokens_per_s"`
	P50ms       float64  `json:"p50_ms"`
	P90ms       float64  `json:"p90_ms"`
	P99ms       float64  `json:"p99_ms"`
	MaxMs       float64  `json:"max_ms"`
	Before      procStat `json:"before"`
	After       procStat `json:"after"`
	ServiceCPUs float64  `json:"service_cpu_s"`
	// EmulatorCPUs is the emulator process's CPU in the round (0 with the
	// embedded emulator, whose CPU is the service's).
	EmulatorCPUs     float64 `json:"emulator_cpu_s"`
	EmbeddedEmulator bool    `json:"embedded_emulator"`
}

func (l *loader) run(n int, d time.Duration) roundResult {
	var stop atomic.Bool
	var tokens, errs, throttled atomic.Int64
	var firstErr atomic.Value
	lats := make([][]time.Duration, n)
	var wg sync.WaitGroup
	t0 := time.Now()
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			var l0 []time.Duration
			for !stop.Load() {
				t := time.Now()
				err := l.call(i)
				el := time.Since(t)
				if err != nil {
					errs.Add(1)
					if errors.Is(err, errThrottled) {
						throttled.Add(1)
					}
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				tokens.Add(1)
				l0 = append(l0, el)
			}
			lats[i] = l0
		}(i)
	}
	time.Sleep(d)
	stop.Store(true)
	wg.Wait()
	secs := time.Since(t0).Seconds() // includes the last requests in flight
	var all []time.Duration
	for _, x := range lats {
		all = append(all, x...)
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
	r := roundResult{Callers: n, Seconds: secs, Tokens: tokens.Load(), Errors: errs.Load(), Throttled: throttled.Load(),
		TokensPerS: float64(tokens.Load()) / secs, P50ms: q(0.5), P90ms: q(0.9), P99ms: q(0.99), MaxMs: q(1)}
	if v, ok := firstErr.Load().(string); ok {
		r.FirstError = v
	}
	return r
}

type tokenResponse struct {
	User *struct {
		CommunicationUserID string `json:"communicationUserId"`
	} `json:"user"`
	Token     string `json:"token"`
	ExpiresOn string `json:"expiresOn"`
}

// call asks for one token as caller i and checks the answer.
func (l *loader) call(i int) error {
	var body io.Reader
	target := l.base + "/api/token"
	if l.method == "POST" {
		sc, _ := json.Marshal(strings.Split(l.scopes, ","))
		body = strings.NewReader(`{"scopes":` + string(sc) + `}`)
	} else {
		target += "?scopes=" + url.QueryEscape(l.scopes)
	}
	req, err := http.NewRequest(l.method, target, body)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	switch l.auth {
	case "dev":
		req.Header.Set("X-Caller-Id", "trusted-load-"+strconv.Itoa(i))
	case "bearer":
		req.Header.Set("Authorization", l.bearers[i])
	}
	resp, err := l.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return err
	}
	if resp.StatusCode == http.StatusTooManyRequests {
		return errThrottled
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d: %.200s", resp.StatusCode, b)
	}
	var tr tokenResponse
	if err := json.Unmarshal(b, &tr); err != nil {
		return fmt.Errorf("bad JSON: %v", err)
	}
	if tr.User == nil || !strings.HasPrefix(tr.User.CommunicationUserID, "8:acs:") {
		return errors.New("the answer has no user.communicationUserId of the form 8:acs:<id>")
	}
	if strings.Count(tr.Token, ".") != 2 {
		return errors.New("token is not a JWT")
	}
	exp, err := time.Parse(time.RFC3339, tr.ExpiresOn)
	if err != nil || !exp.After(time.Now()) {
		return fmt.Errorf("bad expiresOn %q", tr.ExpiresOn)
	}
	if l.auth != "anonymous" {
		l.mu.Lock()
		first := l.users[i]
		if first == "" {
			l.users[i] = tr.User.CommunicationUserID
		}
		l.mu.Unlock()
		if first != "" && first != tr.User.CommunicationUserID {
			return fmt.Errorf("caller %d got identity %s, before %s", i, tr.User.CommunicationUserID, first)
		}
	}
	return nil
}

// procStat is what /proc says about the service.
type procStat struct {
	// Goroutines is read from the service's -debug-addr profiler; 0 when
	// the service was not started here.
	Goroutines int     `json:"goroutines"`
	RSSKiB     int64   `json:"rss_kib"`
	HWMKiB     int64   `json:"rss_peak_kib"`
	Threads    int     `json:"threads"`
	FDs        int     `json:"fds"`
	CPUs       float64 `json:"cpu_s"`
}

func sample(pid int, debugURL string) procStat {
	var s procStat
	if pid == 0 {
		return s
	}
	s.Goroutines = goroutines(debugURL)
	p := "/proc/" + strconv.Itoa(pid)
	if b, err := os.ReadFile(p + "/status"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			k, v, ok := strings.Cut(line, ":")
			if !ok {
				continue
			}
			f := strings.Fields(v)
			if len(f) == 0 {
				continue
			}
			x, _ := strconv.ParseInt(f[0], 10, 64)
			switch k {
			case "VmRSS":
				s.RSSKiB = x
			case "VmHWM":
				s.HWMKiB = x
			case "Threads":
				s.Threads = int(x)
			}
		}
	}
	if ents, err := os.ReadDir(p + "/fd"); err == nil {
		s.FDs = len(ents)
	}
	if b, err := os.ReadFile(p + "/stat"); err == nil {
		st := string(b)
		f := strings.Fields(st[strings.LastIndexByte(st, ')')+2:])
		if len(f) > 12 {
			ut, _ := strconv.ParseFloat(f[11], 64)
			stt, _ := strconv.ParseFloat(f[12], 64)
			s.CPUs = (ut + stt) / 100 // USER_HZ is 100 on Linux
		}
	}
	return s
}

// profile writes a CPU profile of d from the service's profiler to file.
// The profile's last moments overlap the end of the round by the time a
// request takes.
func profile(debugURL string, d time.Duration, file string) error {
	if debugURL == "" {
		return errors.New("the service has no profiler (only a service started here has)")
	}
	secs := max(1, int(d.Seconds()))
	resp, err := http.Get(debugURL + "/debug/pprof/profile?seconds=" + strconv.Itoa(secs))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("the profiler answered %s", resp.Status)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	return os.WriteFile(file, b, 0o644)
}

// goroutines reads "goroutine profile: total N" from net/http/pprof.
func goroutines(debugURL string) int {
	if debugURL == "" {
		return 0
	}
	resp, err := http.Get(debugURL + "/debug/pprof/goroutine?debug=1")
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	line, _ := bufio.NewReader(resp.Body).ReadString('\n')
	n, _ := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(line, "goroutine profile: total ")))
	return n
}

func printRound(r roundResult) {
	fmt.Printf("round %d: %d tokens in %.1fs = %.0f tokens/s; latency p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, max %.1f ms; errors %d\n",
		r.Round, r.Tokens, r.Seconds, r.TokensPerS, r.P50ms, r.P90ms, r.P99ms, r.MaxMs, r.Errors)
	if r.FirstError != "" {
		fmt.Printf("         first error: %s\n", r.FirstError)
	}
	if r.Before.RSSKiB > 0 {
		cpu := r.After.CPUs - r.Before.CPUs
		what := "service only"
		if r.EmbeddedEmulator {
			what = "service + embedded emulator"
		}
		fmt.Printf("         service: RSS %.1f -> %.1f MiB (peak %.1f), goroutines %d -> %d, threads %d -> %d, fds %d -> %d, CPU %.1f s = %.0f µs/token (%s)\n",
			float64(r.Before.RSSKiB)/1024, float64(r.After.RSSKiB)/1024, float64(r.After.HWMKiB)/1024,
			r.Before.Goroutines, r.After.Goroutines, r.Before.Threads, r.After.Threads, r.Before.FDs, r.After.FDs, cpu, cpu*1e6/float64(max(r.Tokens, 1)), what)
		if !r.EmbeddedEmulator {
			fmt.Printf("         emulator process: CPU %.1f s = %.0f µs/token\n", r.EmulatorCPUs, r.EmulatorCPUs*1e6/float64(max(r.Tokens, 1)))
		}
	}
}

// service is the trusted service binary, started here.
type service struct {
	bin      string
	url      string
	debugURL string // net/http/pprof of the service (-debug-addr)
	cmd      *exec.Cmd
	tmp      string
	done     chan struct{}
	exitErr  error
	once     sync.Once
}

// build builds the command in pkg (relative to the module root) into a new
// temporary directory, which the caller removes.
func build(root, pkg, name string) (bin, tmp string, err error) {
	if tmp, err = os.MkdirTemp("", "trusted-load-"); err != nil {
		return "", "", err
	}
	bin = filepath.Join(tmp, name)
	cmd := exec.Command("go", "build", "-o", bin, pkg)
	cmd.Dir = root
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		os.RemoveAll(tmp)
		return "", "", fmt.Errorf("building %s: %w", pkg, err)
	}
	return bin, tmp, nil
}

func startService(root string, env []string) (*service, error) {
	bin, tmp, err := build(root, "./examples/trusted-service", "trusted-service")
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "-addr", "127.0.0.1:0", "-debug-addr", "127.0.0.1:0")
	cmd.Env = env
	// If trusted-load dies, so does the service (Linux only).
	cmd.SysProcAttr = dieWithParent()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		os.RemoveAll(tmp)
		return nil, err
	}
	s := &service{bin: bin, cmd: cmd, tmp: tmp, done: make(chan struct{})}
	addrc := make(chan string, 1)
	var tail tailBuf
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		sent := false
		for sc.Scan() {
			line := sc.Bytes()
			if !sent {
				tail.add(string(line))
				var m struct {
					Msg  string `json:"msg"`
					Addr string `json:"addr"`
				}
				if json.Unmarshal(line, &m) == nil && m.Msg == "debug endpoint listening" && m.Addr != "" {
					s.debugURL = "http://" + m.Addr // read after addrc's send
				}
				if json.Unmarshal(line, &m) == nil && m.Msg == "listening" && m.Addr != "" {
					addrc <- m.Addr
					sent = true
				}
			} else if strings.Contains(sc.Text(), `"level":"ERROR"`) {
				fmt.Fprintf(os.Stderr, "service: %s\n", line)
			}
		}
		io.Copy(io.Discard, stderr)
	}()
	go func() {
		s.exitErr = cmd.Wait()
		close(s.done)
	}()
	select {
	case addr := <-addrc:
		s.url = "http://" + addr
	case <-s.done:
		os.RemoveAll(tmp)
		return nil, fmt.Errorf("the service exited before listening: %v\n%s", s.exitErr, tail.String())
	case <-time.After(60 * time.Second):
		s.stop()
		return nil, fmt.Errorf("the service did not log its address in 60s\n%s", tail.String())
	}
	if err := checkLoopback(s.url); err != nil {
		s.stop()
		return nil, err
	}
	// Ready when GET / answers.
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(s.url + "/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			s.stop()
			return nil, fmt.Errorf("the service did not become ready: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return s, nil
}

// stop sends SIGTERM, waits up to 30 s (the service drains for 25 s at
// most), then kills it.
func (s *service) stop() {
	s.once.Do(func() {
		if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			s.cmd.Process.Kill() // Windows has no SIGTERM to send
		}
		select {
		case <-s.done:
		case <-time.After(30 * time.Second):
			s.cmd.Process.Kill()
			<-s.done
		}
		os.RemoveAll(s.tmp)
	})
}

// serviceEnv is this process's environment without anything that would
// point the service at a real resource or identity provider, plus the load
// test's settings.
func serviceEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "COMMUNICATION_SERVICES_") || strings.HasPrefix(k, "TRUSTED_SERVICE_") ||
			strings.HasPrefix(k, "AZURE_") || k == "FUNCTIONS_CUSTOMHANDLER_PORT" {
			continue
		}
		env = append(env, kv)
	}
	return append(env,
		"TRUSTED_SERVICE_RATE_PER_MINUTE=0",
		"TRUSTED_SERVICE_LOG_FORMAT=json",
	)
}

func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("run trusted-load from inside the acsidentity module (or pass -url)")
	}
	return filepath.Dir(mod), nil
}

func checkLoopback(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	host := u.Hostname()
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("%s is not a loopback URL: trusted-load only loads loopback services", raw)
}

// tailBuf keeps the last lines the service logged before it listened.
type tailBuf struct {
	mu    sync.Mutex
	lines []string
}

func (t *tailBuf) add(s string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.lines = append(t.lines, s)
	if len(t.lines) > 20 {
		t.lines = t.lines[1:]
	}
}

func (t *tailBuf) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.Join(t.lines, "\n")
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "trusted-load: "+format+"\n", args...)
	os.Exit(1)
}
