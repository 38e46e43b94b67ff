package emulator

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Fault is a failure the emulator injects instead of (or after) acting on
// matching requests. Faults apply to ACS operations only, after the request
// was routed, version-checked and authenticated, in the order they were
// queued.
type Fault struct {
	// Count is how many requests the fault applies to; less than 1 means 1.
	Count int
	// Operation restricts the fault to one operation (see Operations, e.g.
	// "create", "delete", "issueToken", "revoke", "teamsUserExchange");
	// "" matches any operation.
	Operation string
	// Status is the HTTP status answered instead of acting, such as 429,
	// 500 or 503 (0 means 503). 429 always carries Retry-After.
	Status int
	// RetryAfter is sent as Retry-After (whole seconds, at least 1 for 429).
	RetryAfter time.Duration
	// AfterCommit makes the emulator act (commit the change) and then
	// answer Status anyway, to test that clients retry safely.
	AfterCommit bool
	// DropConnection closes the connection without answering (after acting
	// if AfterCommit is set).
	DropConnection bool
}

// String formats f in the -fault flag syntax.
func (f Fault) String() string {
	var b strings.Builder
	if f.DropConnection {
		b.WriteString("drop")
	} else {
		b.WriteString(strconv.Itoa(f.Status))
	}
	fmt.Fprintf(&b, ":%d", max(f.Count, 1))
	if f.Operation != "" {
		b.WriteString(":" + f.Operation)
	}
	if f.AfterCommit {
		b.WriteString(":after-commit")
	}
	if f.RetryAfter > 0 {
		fmt.Fprintf(&b, ":retry-after=%d", int(f.RetryAfter/time.Second))
	}
	return b.String()
}

// ParseFault parses the -fault flag syntax
//
//	STATUS|drop[:COUNT[:OPERATION]][:after-commit][:retry-after=SECONDS]
//
// for example "503:3:create", "503:1:create:after-commit", "drop:1" or
// "429:2:issueToken:retry-after=7".
func ParseFault(s string) (Fault, error) {
	parts := strings.Split(s, ":")
	var f Fault
	if parts[0] == "drop" {
		f.DropConnection = true
	} else {
		n, err := strconv.Atoi(parts[0])
		if err != nil || n < 400 || n > 599 {
			return Fault{}, fmt.Errorf("fault %q: the first field must be an HTTP status 400-599 or drop", s)
		}
		f.Status = n
	}
	f.Count = 1
	known := map[string]bool{}
	for _, op := range Operations() {
		known[op] = true
	}
	for i, p := range parts[1:] {
		switch {
		case p == "after-commit":
			f.AfterCommit = true
		case strings.HasPrefix(p, "retry-after="):
			n, err := strconv.Atoi(strings.TrimPrefix(p, "retry-after="))
			if err != nil || n < 0 {
				return Fault{}, fmt.Errorf("fault %q: bad retry-after", s)
			}
			f.RetryAfter = time.Duration(n) * time.Second
		case i == 0:
			n, err := strconv.Atoi(p)
			if err != nil || n < 1 {
				return Fault{}, fmt.Errorf("fault %q: the count must be a positive number", s)
			}
			f.Count = n
		case i == 1 && known[p]:
			f.Operation = p
		default:
			return Fault{}, fmt.Errorf("fault %q: unknown field %q (operations: %s)", s, p, strings.Join(Operations(), ", "))
		}
	}
	return f, nil
}

// faultQueue holds pending faults. The pending counter keeps the common
// no-fault path free of locks.
type faultQueue struct {
	pending atomic.Int64
	mu      sync.Mutex
	list    []*Fault
}

// InjectFault queues f. Faults are used in the order they were injected;
// each applies to its next Count matching requests.
func (e *Emulator) InjectFault(f Fault) {
	if f.Count < 1 {
		f.Count = 1
	}
	if f.Status == 0 && !f.DropConnection {
		f.Status = http.StatusServiceUnavailable
	}
	q := &e.faults
	q.mu.Lock()
	q.list = append(q.list, &f)
	q.pending.Add(1)
	q.mu.Unlock()
}

// take consumes one use of the first fault that matches op.
func (q *faultQueue) take(op string) (Fault, bool) {
	if q.pending.Load() == 0 {
		return Fault{}, false
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	for i, f := range q.list {
		if f.Operation != "" && f.Operation != op {
			continue
		}
		out := *f
		f.Count--
		if f.Count <= 0 {
			q.list = append(q.list[:i], q.list[i+1:]...)
			q.pending.Add(-1)
		}
		return out, true
	}
	return Fault{}, false
}

// applyFault answers the call as f says.
func (c *call) applyFault(f Fault) {
	if f.AfterCommit {
		c.discard = true
		c.op.handle(c)
		c.discard = false
	}
	if f.DropConnection {
		conn, _, err := http.NewResponseController(c.w).Hijack()
		if err != nil {
			panic(http.ErrAbortHandler) // HTTP/2: reset the stream instead
		}
		conn.Close()
		return
	}
	secs := int((f.RetryAfter + time.Second - 1) / time.Second)
	if f.Status == http.StatusTooManyRequests && secs < 1 {
		secs = 1
	}
	if secs > 0 {
		c.w.Header()["Retry-After"] = []string{strconv.Itoa(secs)}
	}
	code, msg := "InjectedFault", fmt.Sprintf("The emulator answered %d because a fault was injected.", f.Status)
	switch f.Status {
	case http.StatusTooManyRequests:
		code = "TooManyRequests"
	case http.StatusServiceUnavailable:
		code = "ServiceUnavailable"
	case http.StatusInternalServerError:
		code = "InternalServerError"
	}
	c.fail(f.Status, code, msg, "")
}
