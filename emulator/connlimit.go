package emulator

import (
	"container/list"
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"
)

// Every connection costs a file descriptor and some memory, so a server
// made by Start or Listen keeps at most MaxConns open. At the cap, a new
// connection closes the one that has waited longest without a request in
// progress: an idle keep-alive connection, or one still sending its
// first request's headers (or TLS handshake) after freshGrace. A flood of
// connections that send nothing, or one request each and then hold on,
// therefore cannot lock out a client on a fresh connection. Connections
// with a request in progress are never closed for room; their requests
// are bounded in time (headers, body and handler), so a slot frees soon,
// and until then new connections wait in the listen queue.
const (
	// maxDefaultConns is the most connections the default cap allows.
	maxDefaultConns = 1024
	// reservedFiles are the descriptors the default cap leaves for the
	// process's own files (data file, locks, listener, poller, stdio).
	reservedFiles = 64
	// freshGrace is how long a new connection has to send its first
	// request's headers before it may be closed for room.
	freshGrace = time.Second
	// capWarnEvery is how often, at most, reaching the cap is logged.
	capWarnEvery = time.Minute
)

// defaultMaxConns is the connection cap when Options.MaxConns is 0: half
// of what the open-file limit leaves after reservedFiles, and at most
// maxDefaultConns. So a container started with --ulimit nofile=1024 gets
// 480, and nothing else in the process runs out of descriptors first.
func defaultMaxConns() int {
	n := openFileLimit()
	if n == 0 {
		return maxDefaultConns
	}
	if n < reservedFiles+32 {
		return 16
	}
	return int(min(maxDefaultConns, (n-reservedFiles)/2))
}

// connLimiter is a listener that keeps at most max connections open. The
// server reports each connection's state to track.
type connLimiter struct {
	net.Listener
	max    int
	logger *slog.Logger

	mu     sync.Mutex
	open   int
	fresh  list.List // of *limitedConn that have not had a request yet, oldest first
	idle   list.List // of *limitedConn between requests, idle longest first
	room   chan struct{}
	done   chan struct{}
	closer sync.Once
	warned time.Time
}

func newConnLimiter(ln net.Listener, max int, logger *slog.Logger) *connLimiter {
	return &connLimiter{Listener: ln, max: max, logger: logger, room: make(chan struct{}, 1), done: make(chan struct{})}
}

// limitedConn is a connection counted by a connLimiter. Its fields are
// guarded by the limiter's mu.
type limitedConn struct {
	net.Conn
	l      *connLimiter
	queue  *list.List    // l.fresh, l.idle or nil (a request in progress)
	elem   *list.Element // in queue
	since  time.Time     // when it joined queue
	closed bool
}

// Accept waits for a connection, then for room for it under the cap.
// Until there is room, further connections wait in the listen queue.
func (l *connLimiter) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	if err := l.makeRoom(); err != nil {
		c.Close()
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	lc := &limitedConn{Conn: c, l: l}
	lc.enqueue(&l.fresh)
	return lc, nil
}

// makeRoom takes a slot under the cap, closing a connection waiting
// without a request if there is none free.
func (l *connLimiter) makeRoom() error {
	for {
		l.mu.Lock()
		if l.open < l.max {
			l.open++
			l.mu.Unlock()
			return nil
		}
		victim, wait := l.victim()
		if victim != nil {
			victim.release() // its slot is ours from here
			l.open++
		}
		warn := l.logger != nil && time.Since(l.warned) >= capWarnEvery
		if warn {
			l.warned = time.Now()
		}
		l.mu.Unlock()
		if warn {
			l.logger.LogAttrs(context.Background(), slog.LevelWarn, "connection cap reached: closing the connections idle longest to make room",
				slog.Int("max-conns", l.max))
		}
		if victim != nil {
			victim.Conn.Close()
			return nil
		}
		timer := time.NewTimer(wait)
		select {
		case <-l.room:
		case <-timer.C:
		case <-l.done:
			timer.Stop()
			return net.ErrClosed
		}
		timer.Stop()
	}
}

// victim is the connection to close for room: of the one idle longest
// and the oldest that has had no request yet (if it had freshGrace), the
// one that has waited longer. Without one it returns how long to wait at
// most before there may be one. l.mu is held.
func (l *connLimiter) victim() (*limitedConn, time.Duration) {
	var idle, fresh *limitedConn
	if e := l.idle.Front(); e != nil {
		idle = e.Value.(*limitedConn)
	}
	wait := time.Hour // until another connection closes or goes idle
	if e := l.fresh.Front(); e != nil {
		fresh = e.Value.(*limitedConn)
		if age := time.Since(fresh.since); age < freshGrace {
			wait, fresh = freshGrace-age, nil
		}
	}
	switch {
	case idle != nil && (fresh == nil || idle.since.Before(fresh.since)):
		return idle, 0
	case fresh != nil:
		return fresh, 0
	}
	return nil, wait
}

// Close closes the listener and wakes an Accept waiting for room.
func (l *connLimiter) Close() error {
	l.closer.Do(func() { close(l.done) })
	return l.Listener.Close()
}

// signal wakes an Accept waiting for room. l.mu is held.
func (l *connLimiter) signal() {
	select {
	case l.room <- struct{}{}:
	default:
	}
}

// track is the server's ConnState hook: a connection with a request in
// progress cannot be closed for room; an idle one can.
func (l *connLimiter) track(c net.Conn, state http.ConnState) {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	lc, ok := c.(*limitedConn)
	if !ok {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if lc.closed {
		return
	}
	switch state {
	case http.StateActive:
		lc.enqueue(nil)
	case http.StateIdle:
		lc.enqueue(&l.idle)
		l.signal()
	}
}

// enqueue moves c to the back of q (nil: to no queue). l.mu is held.
func (c *limitedConn) enqueue(q *list.List) {
	if c.queue != nil {
		c.queue.Remove(c.elem)
	}
	c.queue, c.elem = q, nil
	if q != nil {
		c.elem, c.since = q.PushBack(c), time.Now()
	}
}

// Close closes the connection and frees its slot; it is safe to call more
// than once (the server closes a connection the limiter closed for room).
func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.l.mu.Lock()
	c.release()
	c.l.mu.Unlock()
	return err
}

// release gives up the connection's slot, once. l.mu is held.
func (c *limitedConn) release() {
	if c.closed {
		return
	}
	c.closed = true
	c.enqueue(nil)
	c.l.open--
	c.l.signal()
}
