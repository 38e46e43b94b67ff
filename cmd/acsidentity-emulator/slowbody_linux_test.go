package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/acsgo/acsidentity"
	"github.com/acsgo/acsidentity/emulator"
	"github.com/acsgo/acsidentity/internal/hmacauth"
)

// TestSlowBodiesBounded runs the real command and opens 300 connections
// that each declare a 1 MiB body and trickle it, with no credentials and
// then with valid ones, and then sends 200 such signed requests as HTTP/2
// streams over TLS. The emulator's resident memory may grow by at most
// 32 MB (64 MB with credentials, whose bodies it must read) and every
// connection or stream must be cut within 35 seconds. It reads the
// process's memory from /proc, so it runs on Linux only.
func TestSlowBodiesBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary and holds 800 connections and streams for about 10 seconds")
	}
	bin := buildCommand(t)
	for _, tc := range []struct {
		name      string
		signed    bool
		h2        bool
		conns     int
		maxGrowth int64
	}{
		{"unauthenticated", false, false, 300, 32 << 20},
		{"signed", true, false, 300, 64 << 20},
		{"signed HTTP/2", true, true, 200, 64 << 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cmd, conn, certFile := startTarget(t, bin, tc.h2)
			o := &acsidentity.ClientOptions{}
			var hc *http.Client
			if tc.h2 {
				hc = tlsClient(t, certFile)
				defer hc.CloseIdleConnections()
				o.Transport = hc
			}
			c, err := acsidentity.NewClientFromConnectionString(conn, o)
			if err != nil {
				t.Fatal(err)
			}
			// Warm up, so that the baseline includes the serving machinery.
			for range 20 {
				if _, err := c.CreateUser(context.Background(), nil); err != nil {
					t.Fatal(err)
				}
			}
			pid := cmd.Process.Pid
			base := procStatusBytes(t, pid, "VmRSS")
			endpoint, _, _ := strings.Cut(strings.TrimPrefix(conn, "endpoint="), ";")
			host := strings.TrimSuffix(endpoint[strings.Index(endpoint, "//")+2:], "/")

			const declared = 1 << 20
			conns := tc.conns
			head := slowRequestHead(host, declared, tc.signed)
			start := time.Now()
			cuts := make([]time.Duration, conns)
			var wg sync.WaitGroup
			for i := range conns {
				if tc.h2 {
					wg.Go(func() { cuts[i] = trickleStream(t, hc, endpoint, head, start) })
				} else {
					wg.Go(func() { cuts[i] = trickle(t, host, head, start) })
				}
			}
			wg.Wait()
			growth := procStatusBytes(t, pid, "VmHWM") - base
			var last time.Duration
			for _, d := range cuts {
				last = max(last, d)
			}
			t.Logf("%s: %d connections or streams declaring %d bytes: resident memory grew by %.1f MB (peak over the baseline of %.1f MB); the last was cut after %.1f s",
				tc.name, conns, declared, float64(growth)/1e6, float64(base)/1e6, last.Seconds())
			if growth > tc.maxGrowth {
				t.Errorf("resident memory grew by %d bytes, want at most %d", growth, tc.maxGrowth)
			}
			if last > 35*time.Second {
				t.Errorf("the last connection was cut after %s, want within 35s", last)
			}
			// The emulator still serves.
			if _, err := c.CreateUser(context.Background(), nil); err != nil {
				t.Errorf("after the slow clients: %v", err)
			}
		})
	}
}

// startTarget starts the command on a free loopback port, over -tls if
// useTLS, and returns it, its connection string and the certificate's
// file.
func startTarget(t *testing.T, bin string, useTLS bool) (*exec.Cmd, string, string) {
	t.Helper()
	args := []string{"-addr", "127.0.0.1:0"}
	certFile := filepath.Join(t.TempDir(), "cert.pem")
	if useTLS {
		args = append(args, "-tls", "-cert-out", certFile)
	}
	cmd, conn := startCommand(t, bin, args...)
	return cmd, conn, certFile
}

// slowRequestHead is the head of a create request declaring a body of n
// bytes, signed with the development key or with no credentials at all.
func slowRequestHead(host string, n int, signed bool) []byte {
	target := "/identities?api-version=2023-10-01"
	var b bytes.Buffer
	fmt.Fprintf(&b, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n", target, host, n)
	if signed {
		raw, _ := base64.StdEncoding.DecodeString(emulator.DevelopmentKey)
		key := hmacauth.NewKey(raw)
		date := time.Now().UTC().Format(http.TimeFormat)
		hash := hmacauth.ContentHash(bytes.Repeat([]byte{' '}, n))
		fmt.Fprintf(&b, "%s: %s\r\n%s: %s\r\nAuthorization: %s%s\r\n", hmacauth.DateHeader, date, hmacauth.ContentHashHeader, hash,
			hmacauth.AuthorizationPrefix, key.Signature("POST", target, date, host, hash))
	}
	b.WriteString("\r\n")
	return b.Bytes()
}

// trickle sends head and then 2 KiB of body every 100 ms until the
// server closes the connection, and returns when that happened, measured
// from start. It gives up after a minute.
func trickle(t *testing.T, host string, head []byte, start time.Time) time.Duration {
	return trickleAt(t, host, head, 0, 2<<10, 100*time.Millisecond, start)
}

// trickleAt is trickle with first bytes of body at once and then chunk
// bytes every interval.
func trickleAt(t *testing.T, host string, head []byte, first, chunkSize int, every time.Duration, start time.Time) time.Duration {
	conn, err := net.DialTimeout("tcp", host, 30*time.Second)
	if err != nil {
		t.Error(err)
		return 0
	}
	defer conn.Close()
	if _, err := conn.Write(append(head, bytes.Repeat([]byte{' '}, first)...)); err != nil {
		return time.Since(start)
	}
	cut := make(chan struct{})
	go func() {
		defer close(cut)
		conn.SetReadDeadline(time.Now().Add(time.Minute))
		io.Copy(io.Discard, conn) // the server's answer, if any, then EOF
	}()
	chunk := bytes.Repeat([]byte{' '}, chunkSize)
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-cut:
			return time.Since(start)
		case <-tick.C:
			conn.SetWriteDeadline(time.Now().Add(time.Minute))
			if _, err := conn.Write(chunk); err != nil {
				<-cut
				return time.Since(start)
			}
		}
	}
}

// tlsClient is an HTTP/2 client that trusts the certificate in certFile.
func tlsClient(t *testing.T, certFile string) *http.Client {
	t.Helper()
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: certPool(t, certFile), MinVersion: tls.VersionTLS12}
	tr.ForceAttemptHTTP2 = true
	return &http.Client{Transport: tr}
}

// trickleStream sends the request of head (its method, target and
// headers) through hc, an HTTP/2 client, with a body of 2 KiB every 100 ms
// until the emulator answers or resets the stream, and returns when that
// happened, measured from start. It gives up after a minute.
func trickleStream(t *testing.T, hc *http.Client, endpoint string, head []byte, start time.Time) time.Duration {
	parsed, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(head)))
	if err != nil {
		t.Error(err)
		return 0
	}
	pr, pw := io.Pipe()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r, err := http.NewRequestWithContext(ctx, parsed.Method, strings.TrimSuffix(endpoint, "/")+parsed.RequestURI, pr)
	if err != nil {
		t.Error(err)
		return 0
	}
	r.Header = parsed.Header
	r.ContentLength = parsed.ContentLength
	go func() {
		chunk := bytes.Repeat([]byte{' '}, 2<<10)
		for {
			if _, err := pw.Write(chunk); err != nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()
	defer pw.Close()
	resp, err := hc.Do(r)
	if err == nil {
		if resp.ProtoMajor != 2 {
			t.Errorf("the request went over %s, want HTTP/2", resp.Proto)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	return time.Since(start)
}

// procStatusBytes reads a kB field (VmRSS, VmHWM) of /proc/<pid>/status.
func procStatusBytes(t *testing.T, pid int, field string) int64 {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok || name != field {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		if err != nil {
			t.Fatalf("%s: %v", sc.Text(), err)
		}
		return kb << 10
	}
	t.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}
