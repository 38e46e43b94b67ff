package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/acsgo/acsidentity"
)

// headerAttack is one way of sending request headers that never end.
type headerAttack struct {
	name  string
	h2    bool
	conns int
	// prepare returns what sends the attack to a connection to host (the
	// emulator's host:port) and returns; the connection then stays open
	// until the server closes it.
	prepare func(host string) func(net.Conn) error
}

// TestSlowHeadersBounded runs the real command and attacks it with request
// headers that never end, with no credentials: 1,000 HTTP/1.1 connections
// that send about 1 MB of headers each (16 KiB every 100 ms) or 12 KiB
// (1 KiB every 200 ms) and then nothing, and 200 HTTP/2 connections (over -tls) whose header
// block is about 1 MB of CONTINUATION frames, one frame that declares
// 1 MB, or 8 KiB and then nothing. Each attack runs against its own
// emulator process, whose resident memory may grow by at most 64 MB, and
// every connection must be closed by the emulator within 15 seconds of
// its first byte. It reads the process's memory from /proc, so it runs on
// Linux only.
func TestSlowHeadersBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary and holds 4,600 connections for about 10 seconds")
	}
	bin := buildCommand(t)
	const (
		maxGrowth = 64 << 20
		maxCut    = 15 * time.Second
		giveUp    = 40 * time.Second
	)
	attacks := []headerAttack{
		{"HTTP/1.1 1 MB of headers", false, 1000, func(host string) func(net.Conn) error {
			return trickleHeaders(host, 16<<10, 1_000_000, 100*time.Millisecond)
		}},
		{"HTTP/1.1 stalled headers", false, 1000, func(host string) func(net.Conn) error {
			return trickleHeaders(host, 1<<10, 12<<10, 200*time.Millisecond)
		}},
		{"HTTP/2 1 MB header block", true, 200, func(host string) func(net.Conn) error {
			return h2HeaderBlock(host, 1_000_000, 100*time.Millisecond)
		}},
		{"HTTP/2 one 1 MB frame", true, 200, h2BigFrame},
		{"HTTP/2 stalled header block", true, 200, func(host string) func(net.Conn) error {
			return h2HeaderBlock(host, 8<<10, 0)
		}},
	}
	for _, a := range attacks {
		t.Run(a.name, func(t *testing.T) {
			t.Parallel()
			cmd, conn, certFile := startTarget(t, bin, a.h2)
			o := &acsidentity.ClientOptions{}
			dial := func(host string) (net.Conn, error) { return net.DialTimeout("tcp", host, 30*time.Second) }
			if a.h2 {
				hc := tlsClient(t, certFile)
				defer hc.CloseIdleConnections()
				o.Transport = hc
				pool := certPool(t, certFile)
				dial = func(host string) (net.Conn, error) {
					d := &net.Dialer{Timeout: 30 * time.Second}
					c, err := tls.DialWithDialer(d, "tcp", host, &tls.Config{RootCAs: pool, NextProtos: []string{"h2"}, MinVersion: tls.VersionTLS12})
					if err == nil && c.ConnectionState().NegotiatedProtocol != "h2" {
						c.Close()
						return nil, fmt.Errorf("negotiated %q, want h2", c.ConnectionState().NegotiatedProtocol)
					}
					return c, err
				}
			}
			c, err := acsidentity.NewClientFromConnectionString(conn, o)
			if err != nil {
				t.Fatal(err)
			}
			for range 20 { // warm up, so that the baseline includes the serving machinery
				if _, err := c.CreateUser(context.Background(), nil); err != nil {
					t.Fatal(err)
				}
			}
			pid := cmd.Process.Pid
			base := procStatusBytes(t, pid, "VmRSS")
			_, host := endpointHost(conn)

			send := a.prepare(host)
			cuts := make([]time.Duration, a.conns)
			var wg sync.WaitGroup
			dials := make(chan struct{}, 16) // TLS handshakes at once: the attack is on what follows them
			for i := range a.conns {
				wg.Go(func() {
					dials <- struct{}{}
					nc, err := dial(host)
					<-dials
					if err != nil {
						t.Error(err)
						return
					}
					defer nc.Close()
					began := time.Now()
					closed := make(chan struct{})
					go func() {
						defer close(closed)
						nc.SetReadDeadline(time.Now().Add(giveUp))
						io.Copy(io.Discard, nc) // whatever the server sends, then EOF
					}()
					nc.SetWriteDeadline(time.Now().Add(giveUp))
					send(nc) // an error means the server closed the connection
					<-closed
					cuts[i] = time.Since(began)
				})
			}
			wg.Wait()
			growth := procStatusBytes(t, pid, "VmHWM") - base
			slices.Sort(cuts)
			last := cuts[len(cuts)-1]
			t.Logf("%s: %d connections: resident memory grew by %.1f MB (peak over the baseline of %.1f MB); connections closed after %.1f s (median) and %.1f s (last)",
				a.name, a.conns, float64(growth)/1e6, float64(base)/1e6, cuts[len(cuts)/2].Seconds(), last.Seconds())
			if growth > maxGrowth {
				t.Errorf("resident memory grew by %.1f MB, want at most %d MB", float64(growth)/1e6, maxGrowth>>20)
			}
			if last > maxCut {
				t.Errorf("the last connection was closed %.1f s after its first byte, want within %s (gave up after %s)", last.Seconds(), maxCut, giveUp)
			}
			if _, err := c.CreateUser(context.Background(), nil); err != nil {
				t.Errorf("after the attack: %v", err)
			}
		})
	}
}

// certPool trusts the certificate in certFile.
func certPool(t *testing.T, certFile string) *x509.CertPool {
	t.Helper()
	pem, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatal("no certificate in " + certFile)
	}
	return pool
}

// trickleHeaders returns what sends a request line and then header lines,
// chunk bytes every interval, total bytes in all, and never the blank line
// that ends them.
func trickleHeaders(host string, chunk, total int, every time.Duration) func(net.Conn) error {
	start := fmt.Appendf(nil, "POST /identities?api-version=2023-10-01 HTTP/1.1\r\nHost: %s\r\n", host)
	line := "X-Pad: " + strings.Repeat("a", 1000) + "\r\n"
	block := []byte(strings.Repeat(line, max(1, chunk/len(line))))
	return func(c net.Conn) error {
		if _, err := c.Write(start); err != nil {
			return err
		}
		for sent := 0; sent < total; sent += len(block) {
			if _, err := c.Write(block); err != nil {
				return err
			}
			time.Sleep(every)
		}
		return nil
	}
}

// HTTP/2 frames, as RFC 9113 defines them.
const (
	h2Headers      = 0x1
	h2Settings     = 0x4
	h2Continuation = 0x9
	h2EndHeaders   = 0x4
	h2Preface      = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
	h2FrameMax     = 16384 // the frame size every server accepts
)

func h2Frame(typ, flags byte, stream uint32, payload []byte) []byte {
	n := len(payload)
	b := []byte{byte(n >> 16), byte(n >> 8), byte(n), typ, flags, byte(stream >> 24), byte(stream >> 16), byte(stream >> 8), byte(stream)}
	return append(b, payload...)
}

// hpackBlock is an HPACK header block of a create request for host,
// followed by padding fields until it is at least size bytes long. Every
// field is a literal without indexing, so the encoding needs no tables.
func hpackBlock(host string, size int) []byte {
	var b []byte
	field := func(name, value string) {
		b = append(b, 0x00)
		b = hpackString(b, name)
		b = hpackString(b, value)
	}
	field(":method", "POST")
	field(":scheme", "https")
	field(":path", "/identities?api-version=2023-10-01")
	field(":authority", host)
	for i := 0; len(b) < size; i++ {
		field(fmt.Sprintf("x-pad-%d", i), strings.Repeat("a", 1000))
	}
	return b
}

func hpackString(b []byte, s string) []byte {
	// A 7-bit prefix integer (RFC 7541 5.1), Huffman flag off.
	n := uint64(len(s))
	if n < 127 {
		b = append(b, byte(n))
	} else {
		b = append(b, 127)
		for n -= 127; n >= 128; n >>= 7 {
			b = append(b, byte(n)|0x80)
		}
		b = append(b, byte(n))
	}
	return append(b, s...)
}

// h2HeaderBlock returns what opens an HTTP/2 connection and sends a
// header block of about size bytes without its end: a HEADERS frame and
// then CONTINUATION frames, one every interval.
func h2HeaderBlock(host string, size int, every time.Duration) func(net.Conn) error {
	var frames [][]byte
	block := hpackBlock(host, size)
	typ := byte(h2Headers)
	for len(block) > 1 {
		n := min(len(block)-1, h2FrameMax) // never the last byte: the block stays open
		frames = append(frames, h2Frame(typ, 0, 1, block[:n]))
		block, typ = block[n:], h2Continuation
	}
	return func(c net.Conn) error {
		if _, err := c.Write(append([]byte(h2Preface), h2Frame(h2Settings, 0, 0, nil)...)); err != nil {
			return err
		}
		for _, f := range frames {
			if _, err := c.Write(f); err != nil {
				return err
			}
			time.Sleep(every)
		}
		return nil
	}
}

// h2BigFrame returns what opens an HTTP/2 connection and sends the start
// of one HEADERS frame that declares 1,000,000 bytes.
func h2BigFrame(host string) func(net.Conn) error {
	frame := h2Frame(h2Headers, h2EndHeaders, 1, hpackBlock(host, 64<<10))
	frame[0], frame[1], frame[2] = 0x0f, 0x42, 0x40 // 1,000,000
	frame = append([]byte(h2Preface+string(h2Frame(h2Settings, 0, 0, nil))), frame[:64<<10]...)
	return func(c net.Conn) error {
		_, err := c.Write(frame)
		return err
	}
}
