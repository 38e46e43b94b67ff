package emulator

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/acsgo/acsidentity/internal/wire"
)

func TestFaultStatus(t *testing.T) {
	t.Parallel()
	srv, c := start(t, nil)
	e := srv.Emulator
	id := c.createUser("2023-10-01")
	e.InjectFault(Fault{Count: 2, Operation: OpCreate, Status: 503, RetryAfter: 7 * time.Second})
	r, _ := c.issue(id, "2023-10-01", "chat") // another operation is not affected
	mustStatus(t, r, 200)
	for range 2 {
		r := c.send(req{method: "POST", path: "/identities?api-version=2023-10-01"})
		mustStatus(t, r, 503)
		if r.header.Get("Retry-After") != "7" || r.errorBody(t).Code != "ServiceUnavailable" {
			t.Errorf("503: %v %s", r.header, r.body)
		}
	}
	before := e.store.count()
	mustStatus(t, c.send(req{method: "POST", path: "/identities?api-version=2023-10-01"}), 201)
	if e.store.count() != before+1 {
		t.Error("a faulted create acted")
	}
	e.InjectFault(Fault{Status: 429})
	r, _ = c.issue(id, "2023-10-01", "chat")
	mustStatus(t, r, 429)
	if r.header.Get("Retry-After") != "1" {
		t.Errorf("429 Retry-After %q", r.header.Get("Retry-After"))
	}
	e.InjectFault(Fault{Operation: OpRevoke, Status: 500})
	mustStatus(t, c.send(req{method: "POST", path: idPath(id, "/:revokeAccessTokens", "2023-10-01")}), 500)
	mustStatus(t, c.send(req{method: "POST", path: idPath(id, "/:revokeAccessTokens", "2023-10-01")}), 204)
	// Faults do not fire on requests that fail authentication.
	e.InjectFault(Fault{Status: 503})
	mustStatus(t, c.send(req{method: "POST", path: "/identities?api-version=2023-10-01", bearer: "x"}), 401)
	mustStatus(t, c.send(req{method: "POST", path: "/identities?api-version=2023-10-01"}), 503)
}

func TestFaultAfterCommit(t *testing.T) {
	t.Parallel()
	srv, c := start(t, nil)
	e := srv.Emulator
	const v = "2025-03-02-preview"
	e.InjectFault(Fault{Operation: OpCreate, Status: 503, AfterCommit: true})
	mustStatus(t, c.send(req{method: "POST", path: "/identities?api-version=" + v, body: `{"customId":"retry-me"}`}), 503)
	if e.store.count() != 1 {
		t.Fatalf("after-commit fault did not commit")
	}
	r := c.send(req{method: "POST", path: "/identities?api-version=" + v, body: `{"customId":"retry-me"}`})
	mustStatus(t, r, 201)
	if e.store.count() != 1 {
		t.Fatal("a retry with the same customId made a second identity")
	}
	var res wire.AccessTokenResult
	r.decode(t, &res)
	e.InjectFault(Fault{Operation: OpDelete, Status: 503, AfterCommit: true})
	mustStatus(t, c.send(req{method: "DELETE", path: idPath(res.Identity.ID, "", v)}), 503)
	mustStatus(t, c.send(req{method: "DELETE", path: idPath(res.Identity.ID, "", v)}), 404)
}

func TestFaultDropConnection(t *testing.T) {
	t.Parallel()
	srv, c := start(t, nil)
	e := srv.Emulator
	e.InjectFault(Fault{Operation: OpCreate, DropConnection: true})
	if resp, err := c.hc.Do(c.build(req{method: "POST", path: "/identities?api-version=2023-10-01"})); err == nil {
		resp.Body.Close()
		t.Fatalf("dropped request answered %d", resp.StatusCode)
	}
	if e.store.count() != 0 {
		t.Error("a dropped request acted")
	}
	e.InjectFault(Fault{Operation: OpCreate, DropConnection: true, AfterCommit: true})
	if resp, err := c.hc.Do(c.build(req{method: "POST", path: "/identities?api-version=2023-10-01"})); err == nil {
		resp.Body.Close()
		t.Fatalf("dropped request answered %d", resp.StatusCode)
	}
	if e.store.count() != 1 {
		t.Error("a drop after commit did not commit")
	}
	mustStatus(t, c.send(req{method: "POST", path: "/identities?api-version=2023-10-01"}), 201)
}

func TestFaultConcurrentCount(t *testing.T) {
	t.Parallel()
	srv, c := start(t, nil)
	srv.Emulator.InjectFault(Fault{Count: 10, Status: 503})
	var mu sync.Mutex
	n503 := 0
	var wg sync.WaitGroup
	for range 40 {
		wg.Go(func() {
			r := c.send(req{method: "POST", path: "/identities?api-version=2023-10-01"})
			if r.status == 503 {
				mu.Lock()
				n503++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if n503 != 10 {
		t.Errorf("%d requests failed, want exactly 10", n503)
	}
}

func TestParseFault(t *testing.T) {
	t.Parallel()
	good := map[string]Fault{
		"503:3:create":                   {Count: 3, Operation: OpCreate, Status: 503},
		"503:1:create:after-commit":      {Count: 1, Operation: OpCreate, Status: 503, AfterCommit: true},
		"drop:1":                         {Count: 1, DropConnection: true},
		"drop":                           {Count: 1, DropConnection: true},
		"429:2:issueToken:retry-after=5": {Count: 2, Operation: OpIssueToken, Status: 429, RetryAfter: 5 * time.Second},
		"500:1:teamsUserExchange":        {Count: 1, Operation: OpTeamsUserExchange, Status: 500},
		"503:4:after-commit":             {Count: 4, Status: 503, AfterCommit: true},
		"drop:2:revoke:after-commit":     {Count: 2, Operation: OpRevoke, DropConnection: true, AfterCommit: true},
		"503:1:entraAssignmentPatch":     {Count: 1, Operation: OpEntraAssignmentPatch, Status: 503},
		"503:1:teamsExtensionExchange":   {Count: 1, Operation: OpTeamsExtensionExchange, Status: 503},
	}
	for in, want := range good {
		got, err := ParseFault(in)
		if err != nil || got != want {
			t.Errorf("ParseFault(%q) = %+v, %v; want %+v", in, got, err, want)
		}
		if back, err := ParseFault(got.String()); err != nil || back != got {
			t.Errorf("round trip of %q: %q", in, got.String())
		}
	}
	for _, in := range []string{"", "abc", "200:1", "503:0", "503:x", "503:1:nosuchop", "503:1:create:extra", "503:1:create:retry-after=x"} {
		if _, err := ParseFault(in); err == nil {
			t.Errorf("ParseFault(%q) accepted", in)
		}
	}
	if ops := strings.Join(Operations(), ","); !strings.Contains(ops, "issueToken") || len(Operations()) != 16 {
		t.Errorf("Operations() = %s", ops)
	}
}
