package emulator

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync/atomic"
	"time"
)

// Request bodies are the one thing a client can make the emulator hold in
// memory, so they are bounded three ways: in time (a deadline, armed when
// the handler starts, that a trickled body cannot push back), per request
// (the buffer grows as bytes arrive, never to a declared Content-Length
// up front, and never past MaxBodyBytes) and in total (the buffers of all
// requests in flight share a budget). The extension routes, which need no
// credentials, have a small budget and body limit of their own, so that
// nobody without the key can starve the ACS API of its budget.
const (
	// defaultBodyTimeout is how long a request body may take to arrive
	// when Options.BodyTimeout is zero.
	defaultBodyTimeout = 10 * time.Second
	// minBodyBudget is the least total of in-flight body bytes allowed;
	// the budget is the larger of it and four maximum bodies.
	minBodyBudget = 8 << 20
	// firstBodyChunk is the most a body buffer starts with; it doubles as
	// bytes arrive.
	firstBodyChunk = 4 << 10
	// maxExtensionBody is the largest body of an extension route (an
	// introspected token is under 2 KiB), and extensionBodyBudget what the
	// bodies of those routes may hold together.
	maxExtensionBody    = 16 << 10
	extensionBodyBudget = 512 << 10
)

var (
	errBodyTooLarge = errors.New("request body too large")
	errBodyBusy     = errors.New("request body budget exhausted")
)

// bodyBudget caps the size of each body read through it (max) and the
// bytes held by the buffers of all of them at once (limit).
type bodyBudget struct {
	held  atomic.Int64
	max   int64
	limit int64
}

func (b *bodyBudget) take(n int64) bool {
	if b.held.Add(n) > b.limit {
		b.held.Add(-n)
		return false
	}
	return true
}

func (b *bodyBudget) give(n int64) {
	if n != 0 {
		b.held.Add(-n)
	}
}

// readDeadliner is a ResponseWriter that can bound the request's reads
// (net/http's HTTP/1 and HTTP/2 writers can).
type readDeadliner interface {
	SetReadDeadline(time.Time) error
}

// bodyDeadliner finds w's read deadline setter as http.ResponseController
// does, through Unwrap, without its allocations when there is none.
func bodyDeadliner(w http.ResponseWriter) readDeadliner {
	for {
		if d, ok := w.(readDeadliner); ok {
			return d
		}
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			return nil
		}
		w = u.Unwrap()
	}
}

// armBodyDeadline bounds the time left to read r's body, if it has one,
// and returns what lifts the bound again, or nil if the connection has no
// deadlines (httptest recorders, for one). Whatever reads the body, the
// handler or the server draining it after the handler, stops at the
// deadline.
func (e *Emulator) armBodyDeadline(w http.ResponseWriter, r *http.Request) readDeadliner {
	if r.ContentLength == 0 {
		return nil
	}
	d := bodyDeadliner(w)
	if d == nil || d.SetReadDeadline(time.Now().Add(e.bodyTimeout)) != nil {
		return nil
	}
	return d
}

// readAll reads body (declared bytes long, or -1 if unknown) into a buffer
// that grows as bytes arrive, up to b.max. It returns the body and the
// bytes it took from the budget, which the caller gives back when done
// with the body (also on error).
func (b *bodyBudget) readAll(body io.Reader, declared int64) ([]byte, int64, error) {
	if declared > b.max {
		return nil, 0, errBodyTooLarge
	}
	size := int64(firstBodyChunk)
	if declared >= 0 && declared < size {
		size = declared
	}
	if declared < 0 && b.max+1 < size {
		size = b.max + 1
	}
	if !b.take(size) {
		return nil, 0, errBodyBusy
	}
	held := size
	buf := make([]byte, 0, size)
	for {
		if int64(len(buf)) == declared {
			return buf, held, nil
		}
		if len(buf) == cap(buf) {
			next := 2 * int64(cap(buf))
			switch {
			case declared >= 0:
				next = min(max(next, 512), declared)
			default:
				next = min(max(next, 512), b.max+1)
			}
			if !b.take(next - held) {
				return nil, held, errBodyBusy
			}
			held = next
			nb := make([]byte, len(buf), next)
			copy(nb, buf)
			buf = nb
		}
		n, err := body.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if int64(len(buf)) > b.max {
			return nil, held, errBodyTooLarge
		}
		if err == io.EOF {
			if declared >= 0 && int64(len(buf)) < declared {
				return nil, held, io.ErrUnexpectedEOF
			}
			return buf, held, nil
		}
		if err != nil {
			return nil, held, err
		}
	}
}

// abandonBody is for a request answered without reading its body: the
// connection (HTTP/1) or stream (HTTP/2) ends with the answer. Its read
// deadline moves to now, or net/http would read on, to drain a small body
// so as to reuse the connection, for as long as the client trickles it.
func (c *call) abandonBody() {
	if c.r.ContentLength == 0 {
		return
	}
	if c.r.ProtoMajor == 1 {
		c.w.Header()["Connection"] = []string{"close"}
	}
	if c.deadline != nil {
		c.deadline.SetReadDeadline(time.Now())
	}
}

// bodyFailed answers a request whose body could not be read in full
// through b.
func (c *call) bodyFailed(err error, b *bodyBudget) {
	c.abandonBody()
	switch {
	case errors.Is(err, errBodyTooLarge):
		c.fail(http.StatusRequestEntityTooLarge, "RequestBodyTooLarge", fmt.Sprintf("The request body is larger than the limit of %d bytes.", b.max), "")
	case errors.Is(err, errBodyBusy):
		c.w.Header()["Retry-After"] = []string{"1"}
		c.fail(http.StatusServiceUnavailable, "ServiceUnavailable", "The emulator holds too many request bodies in flight; retry shortly.", "")
	case errors.Is(err, os.ErrDeadlineExceeded):
		c.fail(http.StatusRequestTimeout, "RequestTimeout", fmt.Sprintf("The request body did not arrive within %s.", c.e.bodyTimeout), "")
	default:
		c.fail(http.StatusBadRequest, "InvalidRequestBody", "The request body could not be read.", "")
	}
}
