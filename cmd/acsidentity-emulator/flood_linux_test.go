package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/acsgo/acsidentity"
)

// TestIntrospectCannotStarveAPI runs the real command with a private key
// and sends unauthenticated introspect requests whose bodies stall: 300
// that each declare 1 MiB and send 60,000 bytes, 300 that declare 16,000
// and send 15,000, and a second later 200 that declare 1,000 bytes, 300
// that declare 30 and 300 that declare 1, to take what the others left of
// a shared budget; then each sends a byte every 500 ms (but the last,
// which send nothing). Meanwhile
// every correctly signed create must succeed: the extension routes, which
// need no credentials, must not take the body budget of the ACS API.
func TestIntrospectCannotStarveAPI(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary and holds 1,400 connections for about 10 seconds")
	}
	bin := buildCommand(t)
	raw := make([]byte, 64)
	rand.Read(raw)
	key := base64.StdEncoding.EncodeToString(raw)
	cmd, conn := startCommand(t, bin, "-addr", "127.0.0.1:0", "-key", key)
	c := noRetryClient(t, conn)
	ctx := context.Background()
	for range 20 {
		if _, err := c.CreateUser(ctx, nil); err != nil {
			t.Fatal(err)
		}
	}
	pid := cmd.Process.Pid
	base := procStatusBytes(t, pid, "VmRSS")
	_, host := endpointHost(conn)
	head := func(n int) []byte {
		return fmt.Appendf(nil, "POST /.emulator/introspect HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", host, n)
	}
	start := time.Now()
	var attackers sync.WaitGroup
	attack := func(n, declared, first int) {
		every := 500 * time.Millisecond
		if declared == 1 {
			every = time.Minute // never sent
		}
		for range n {
			attackers.Go(func() { trickleAt(t, host, head(declared), first, 1, every, start) })
		}
	}
	attack(300, 1<<20, 60_000)
	attack(300, 16_000, 15_000)
	time.Sleep(time.Second) // then fill what they left of the budget
	attack(200, 1000, 0)
	attack(300, 30, 0)
	attack(300, 1, 0)
	over := make(chan struct{})
	go func() { attackers.Wait(); close(over) }()

	var ok, failed int
	var failures []string
	deadline := time.After(15 * time.Second)
	time.Sleep(500 * time.Millisecond) // let the attack take hold
creates:
	for {
		select {
		case <-over:
			break creates
		case <-deadline:
			break creates
		case <-time.After(100 * time.Millisecond):
		}
		if _, err := c.CreateUser(ctx, nil); err != nil {
			failed++
			if len(failures) < 3 {
				failures = append(failures, err.Error())
			}
			continue
		}
		ok++
	}
	attackers.Wait()
	growth := procStatusBytes(t, pid, "VmHWM") - base
	t.Logf("1,400 trickled introspect bodies, the last cut after %.1f s: %d of %d signed creates succeeded meanwhile; resident memory grew by %.1f MB",
		time.Since(start).Seconds(), ok, ok+failed, float64(growth)/1e6)
	if failed > 0 {
		t.Errorf("%d of %d signed creates failed during the attack, e.g. %s", failed, ok+failed, strings.Join(failures, "; "))
	}
	if ok < 5 {
		t.Errorf("only %d signed creates were made during the attack", ok)
	}
}

// TestConnectionFlood runs the real command with an open-file limit of
// 1,024 (as a container run with --ulimit nofile=1024:1024 has) and opens
// 3,000 keep-alive connections that each ask GET /.emulator/health once
// and then hold on, and keeps opening more. Meanwhile three signed
// creates, each on a fresh connection, must succeed, and the emulator
// must never come near its descriptor limit.
func TestConnectionFlood(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary and opens 5,000 connections")
	}
	const (
		nofile = 1024
		flood  = 3000
		more   = 2000
	)
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil || lim.Cur < flood+more+500 {
		t.Skipf("the test process may open only %d files; it needs %d", lim.Cur, flood+more+500)
	}
	bin := buildCommand(t)
	cmd, conn := startCommand(t, "/bin/sh", "-c", fmt.Sprintf(`ulimit -n %d && exec "$0" "$@"`, nofile), bin, "-addr", "127.0.0.1:0")
	pid := cmd.Process.Pid
	_, host := endpointHost(conn)
	fresh := func() *acsidentity.Client {
		hc := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
		o := &acsidentity.ClientOptions{ClientOptions: azcore.ClientOptions{
			Transport: hc,
			Retry:     policy.RetryOptions{MaxRetries: -1},
		}}
		c, err := acsidentity.NewClientFromConnectionString(conn, o)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	if _, err := fresh().CreateUser(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	base := procStatusBytes(t, pid, "VmRSS")

	stop := make(chan struct{})
	var peakFiles atomic.Int64
	var sampler sync.WaitGroup
	sampler.Go(func() {
		for {
			if n := openFiles(pid); n > peakFiles.Load() {
				peakFiles.Store(n)
			}
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	})
	var answered, opened atomic.Int64
	var held sync.WaitGroup
	gate := make(chan struct{}, 200) // dials in progress
	open := func() {
		gate <- struct{}{}
		nc, err := net.DialTimeout("tcp", host, 10*time.Second)
		<-gate
		if err != nil {
			return
		}
		opened.Add(1)
		held.Go(func() {
			defer nc.Close()
			fmt.Fprintf(nc, "GET /.emulator/health HTTP/1.1\r\nHost: %s\r\n\r\n", host)
			nc.SetReadDeadline(time.Now().Add(30 * time.Second))
			if resp, err := http.ReadResponse(bufio.NewReader(nc), nil); err == nil {
				resp.Body.Close()
				answered.Add(1)
			}
			nc.SetReadDeadline(time.Time{})
			go func() { <-stop; nc.Close() }()
			nc.Read(make([]byte, 1)) // hold on until the server or the test closes it
		})
	}
	var dialers sync.WaitGroup
	for range flood {
		dialers.Go(open)
	}
	dialers.Wait()
	var flooding sync.WaitGroup
	flooding.Go(func() { // keep flooding while the creates run
		for range more {
			select {
			case <-stop:
				return
			default:
			}
			open()
		}
	})

	var failures []string
	for i := range 3 {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		began := time.Now()
		_, err := fresh().CreateUser(ctx, nil)
		cancel()
		if err != nil {
			failures = append(failures, fmt.Sprintf("create %d after %.1f s: %v", i, time.Since(began).Seconds(), err))
		}
	}
	close(stop)
	flooding.Wait()
	sampler.Wait()
	held.Wait()
	growth := procStatusBytes(t, pid, "VmHWM") - base
	t.Logf("%d connections opened, %d health checks answered; the emulator held at most %d files; resident memory grew by %.1f MB; %d of 3 signed creates on fresh connections failed",
		opened.Load(), answered.Load(), peakFiles.Load(), float64(growth)/1e6, len(failures))
	for _, f := range failures {
		t.Error(f)
	}
	if n := peakFiles.Load(); n > nofile-100 {
		t.Errorf("the emulator held %d files, within 100 of its limit of %d", n, nofile)
	}
}

// openFiles counts the process's open file descriptors.
func openFiles(pid int) int64 {
	d, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return 0
	}
	return int64(len(d))
}
