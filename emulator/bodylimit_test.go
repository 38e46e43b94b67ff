package emulator

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/acsgo/acsidentity/internal/hmacauth"
)

// rawRequest opens a connection to srv and writes the head of a create
// request declaring a body of n bytes, signed or not, but no body.
func rawRequest(t *testing.T, srv *Server, c *client, n int, signed bool) (net.Conn, *bufio.Reader) {
	t.Helper()
	host := strings.TrimPrefix(srv.URL, "http://")
	conn, err := net.Dial("tcp", host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	target := "/identities?api-version=2023-10-01"
	var b bytes.Buffer
	fmt.Fprintf(&b, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n", target, host, n)
	if signed {
		date := c.now().UTC().Format(http.TimeFormat)
		hash := hmacauth.ContentHash(bytes.Repeat([]byte{' '}, n))
		fmt.Fprintf(&b, "x-ms-date: %s\r\nx-ms-content-sha256: %s\r\nAuthorization: %s%s\r\n", date, hash,
			hmacauth.AuthorizationPrefix, c.key.Signature("POST", target, date, host, hash))
	}
	b.WriteString("\r\n")
	if _, err := conn.Write(b.Bytes()); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(time.Minute))
	return conn, bufio.NewReader(conn)
}

// TestRefusedBeforeBody: a request without valid credentials is answered
// before a byte of its body is sent, and its connection closed, so that
// the client cannot make the emulator wait for or hold the body.
func TestRefusedBeforeBody(t *testing.T) {
	t.Parallel()
	srv, c := start(t, nil)
	for _, n := range []int{100, 1 << 20} {
		begin := time.Now()
		conn, br := rawRequest(t, srv, c, n, false)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("declaring %d bytes: %v", n, err)
		}
		io.Copy(io.Discard, resp.Body)
		if resp.StatusCode != 401 || !resp.Close {
			t.Errorf("declaring %d bytes: status %d, close %v; want 401 and the connection closed", n, resp.StatusCode, resp.Close)
		}
		if _, err := br.ReadByte(); err != io.EOF {
			t.Errorf("declaring %d bytes: the connection stayed open (%v)", n, err)
		}
		if d := time.Since(begin); d > 5*time.Second {
			t.Errorf("declaring %d bytes: closed after %s, want at once", n, d)
		}
		conn.Close()
	}
}

// TestBodyTimeout: a signed request whose body trickles in is cut at the
// body deadline, which its bytes do not push back.
func TestBodyTimeout(t *testing.T) {
	t.Parallel()
	srv, c := start(t, &Options{BodyTimeout: 500 * time.Millisecond})
	conn, br := rawRequest(t, srv, c, 1000, true)
	begin := time.Now()
	go func() {
		for range 100 { // 10 s, far past the deadline
			if _, err := conn.Write([]byte(" ")); err != nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestTimeout || !resp.Close {
		t.Errorf("status %d, close %v; want 408 and the connection closed", resp.StatusCode, resp.Close)
	}
	if d := time.Since(begin); d > 5*time.Second {
		t.Errorf("cut after %s, with a deadline of 500ms", d)
	}
	// A body that arrives in time is not affected by the deadline.
	mustStatus(t, c.send(req{method: "POST", path: "/identities?api-version=2023-10-01", body: `{}`}), 201)
}

// TestBodyBudget: the bodies being read share a budget; a read that would
// exceed it fails, gives back what it took, and the next one fits.
func TestBodyBudget(t *testing.T) {
	t.Parallel()
	e, err := New(&Options{MaxBodyBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	e.bodies.limit = 64 << 10
	held := int64(0)
	_, h1, err := e.bodies.readAll(strings.NewReader(strings.Repeat("a", 40<<10)), 40<<10)
	if err != nil {
		t.Fatal(err)
	}
	held += h1
	_, h2, err := e.bodies.readAll(strings.NewReader(strings.Repeat("b", 40<<10)), -1)
	if !errors.Is(err, errBodyBusy) {
		t.Fatalf("a second 40 KiB body within a 64 KiB budget: %v", err)
	}
	e.bodies.give(h2)
	if got := e.bodies.held.Load(); got != held {
		t.Errorf("after the refusal the budget holds %d, want %d", got, held)
	}
	e.bodies.give(h1)
	b, h3, err := e.bodies.readAll(strings.NewReader(strings.Repeat("c", 40<<10)), -1)
	if err != nil || len(b) != 40<<10 {
		t.Fatalf("after the first was given back: %d bytes, %v", len(b), err)
	}
	if h3 > 64<<10 {
		t.Errorf("a 40 KiB body took %d bytes of the budget", h3)
	}
	e.bodies.give(h3)
	if got := e.bodies.held.Load(); got != 0 {
		t.Errorf("the budget holds %d after everything was given back", got)
	}
	// A declared length is not trusted: the buffer follows what arrives.
	_, h4, err := e.bodies.readAll(strings.NewReader("{}"), 1<<20)
	if !errors.Is(err, io.ErrUnexpectedEOF) || h4 > 8<<10 {
		t.Errorf("a 2-byte body declared as 1 MiB: took %d bytes, %v", h4, err)
	}
	e.bodies.give(h4)
}
