package emulator

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestConnCap: at the cap a fresh connection closes the one idle
// longest, so a client on a fresh connection is served; a connection with
// a request in progress is never closed for room.
func TestConnCap(t *testing.T) {
	t.Parallel()
	srv, c := start(t, &Options{MaxConns: 3, BodyTimeout: time.Second})
	host := strings.TrimPrefix(srv.URL, "http://")
	health := func(nc net.Conn) error {
		fmt.Fprintf(nc, "GET /.emulator/health HTTP/1.1\r\nHost: %s\r\n\r\n", host)
		nc.SetReadDeadline(time.Now().Add(10 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(nc), nil)
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	idle := make([]net.Conn, 3)
	for i := range idle {
		nc, err := net.Dial("tcp", host)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		if err := health(nc); err != nil {
			t.Fatal(err)
		}
		idle[i] = nc
		time.Sleep(10 * time.Millisecond) // an order to close them in
	}
	c.hc.Transport.(*http.Transport).DisableKeepAlives = true
	c.createUser("2023-10-01") // on a fresh connection, past the cap
	// The first idle connection made room; the others are still open.
	if err := health(idle[0]); err == nil {
		t.Error("the connection idle longest is still open")
	}
	if err := health(idle[2]); err != nil {
		t.Errorf("the connection idle shortest was closed: %v", err)
	}

	// Three connections each in the middle of a request: none is closed
	// for room, so a fourth waits until their bodies time out.
	busy := make([]net.Conn, 3)
	for i := range busy {
		nc, err := net.Dial("tcp", host)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		fmt.Fprintf(nc, "POST /.emulator/introspect HTTP/1.1\r\nHost: %s\r\nContent-Length: 100\r\n\r\n{", host)
		busy[i] = nc
	}
	time.Sleep(200 * time.Millisecond) // let the server read their headers
	began := time.Now()
	c.createUser("2023-10-01")
	if d := time.Since(began); d < 500*time.Millisecond {
		t.Errorf("a fifth connection was served after %s, while three requests were in progress under a cap of 3", d)
	}
	for _, nc := range busy {
		nc.SetReadDeadline(time.Now().Add(10 * time.Second))
		if resp, err := http.ReadResponse(bufio.NewReader(nc), nil); err != nil || resp.StatusCode != http.StatusRequestTimeout {
			t.Errorf("a request in progress was cut: %v %v, want its own 408", resp, err)
		}
	}
}

func TestDefaultMaxConns(t *testing.T) {
	t.Parallel()
	n := defaultMaxConns()
	if n < 16 || n > maxDefaultConns {
		t.Errorf("default cap %d, want 16 to %d", n, maxDefaultConns)
	}
	if lim := openFileLimit(); lim > 0 && uint64(n) > lim/2 {
		t.Errorf("default cap %d is over half the open-file limit %d", n, lim)
	}
}

// TestConnCapHTTP2: over TLS and HTTP/2 too, an idle connection makes
// room at the cap.
func TestConnCapHTTP2(t *testing.T) {
	t.Parallel()
	srv, err := StartTLS(&Options{MaxConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	get := func(hc *http.Client) (*http.Response, error) {
		resp, err := hc.Get(srv.URL + HealthPath)
		if err == nil {
			resp.Body.Close()
			if resp.ProtoMajor != 2 {
				t.Errorf("the request went over %s, want HTTP/2", resp.Proto)
			}
		}
		return resp, err
	}
	lim := srv.ln.(*connLimiter)
	counts := func() (open, idle int) {
		lim.mu.Lock()
		defer lim.mu.Unlock()
		return lim.open, lim.idle.Len()
	}
	var clients []*http.Client
	for i := range 3 { // three clients, three connections, a cap of 2
		hc := srv.Client()
		hc.Transport.(*http.Transport).ForceAttemptHTTP2 = true
		if _, err := get(hc); err != nil {
			t.Fatal(err)
		}
		clients = append(clients, hc)
		// The HTTP/2 server reports its connection idle once the stream
		// is done; wait for it.
		want := min(i+1, 2)
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			open, idle := counts()
			if open > 2 {
				t.Fatalf("%d connections open under a cap of 2", open)
			}
			if idle == want {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("after %d clients: %d connections open, %d of them idle; want %d idle", i+1, open, idle, want)
			}
		}
	}
	// The first client's connection made room for the third's: its next
	// request needs a new connection, which closes the second's.
	if _, err := get(clients[0]); err != nil {
		t.Fatalf("after its connection was closed for room: %v", err)
	}
	for _, hc := range clients {
		hc.CloseIdleConnections()
	}
}
