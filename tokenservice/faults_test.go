package tokenservice_test

// Fault tests: the service's endpoints while ACS (the emulator, with
// injected faults) throttles, fails, drops connections, or acts and then
// fails. Each test states what the caller sees and what state results;
// examples/trusted-service/README.md's "Failures" section is the same
// table. The service runs in process, with NewClientOptions except for
// shorter retry delays (testClientOptions), against an emulator served over
// TCP so that connections can really be dropped.

import (
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/acsgo/acsidentity"
	"github.com/acsgo/acsidentity/emulator"
	"github.com/acsgo/acsidentity/tokenservice"
)

type faultEnv struct {
	t   *testing.T
	em  *emulator.Emulator
	acs *acsidentity.Client
	h   http.Handler
}

// newFaultEnv starts an emulator and the service in front of it, with
// anonymous callers and X-Caller-Id development identities allowed.
func newFaultEnv(t *testing.T) *faultEnv {
	t.Helper()
	srv, err := emulator.Start(nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	acs, err := acsidentity.NewClientFromConnectionString(srv.ConnectionString(), testClientOptions(nil))
	if err != nil {
		t.Fatal(err)
	}
	return &faultEnv{t: t, em: srv.Emulator, acs: acs, h: newService(t, acs, nil)}
}

type faultResp struct {
	status int
	header http.Header
	body   []byte
}

// call sends a request to the service; callerID, if set, is X-Caller-Id.
func (env *faultEnv) call(method, path, callerID, body string) faultResp {
	env.t.Helper()
	var header map[string]string
	if callerID != "" {
		header = map[string]string{tokenservice.DevCallerHeader: callerID}
	}
	res := serve(env.h, method, path, header, body)
	b, _ := io.ReadAll(res.Body)
	return faultResp{status: res.StatusCode, header: res.Header, body: b}
}

// wantErr checks an error answer: status, JSON error code and Retry-After
// ("" means none).
func (env *faultEnv) wantErr(what string, r faultResp, status int, code, retryAfter string) {
	env.t.Helper()
	var e errorBody
	if err := json.Unmarshal(r.body, &e); err != nil || r.status != status || e.Error.Code != code || e.Error.Message == "" {
		env.t.Fatalf("%s: got %d %s, want %d with code %s", what, r.status, r.body, status, code)
	}
	if got := r.header.Get("Retry-After"); got != retryAfter {
		env.t.Fatalf("%s: Retry-After %q, want %q", what, got, retryAfter)
	}
}

// token asks for a token and checks it is valid; it returns the token and
// the identity.
func (env *faultEnv) token(what, callerID string) (tok, user string) {
	env.t.Helper()
	r := env.call("GET", "/api/token", callerID, "")
	if r.status != http.StatusOK {
		env.t.Fatalf("%s: /api/token answered %d %s", what, r.status, r.body)
	}
	var v tokenBody
	if err := json.Unmarshal(r.body, &v); err != nil || v.User == nil {
		env.t.Fatalf("%s: %s: %v", what, r.body, err)
	}
	if st := env.em.Introspect(v.Token); st.Status != emulator.StatusValid || st.User != v.User.CommunicationUserID {
		env.t.Fatalf("%s: the token handed out is %+v", what, st)
	}
	return v.Token, v.User.CommunicationUserID
}

// tokenStatus is what the emulator says of tok.
func (env *faultEnv) tokenStatus(tok string) string { return env.em.Introspect(tok).Status }

// identities returns the emulator's identities: live ones and deleted ones.
func (env *faultEnv) identities() (live, deleted []emulator.IdentityInfo) {
	for _, it := range env.em.Identities() {
		if it.Deleted {
			deleted = append(deleted, it)
		} else {
			live = append(live, it)
		}
	}
	return live, deleted
}

// wantIdentities checks how many identities exist, live and deleted.
func (env *faultEnv) wantIdentities(what string, live, deleted int) {
	env.t.Helper()
	l, d := env.identities()
	if len(l) != live || len(d) != deleted {
		env.t.Fatalf("%s: %d live and %d deleted identities, want %d and %d: %+v", what, len(l), len(d), live, deleted, env.em.Identities())
	}
}

func (env *faultEnv) inject(f emulator.Fault) { env.em.InjectFault(f) }

const alice = "alice"

// TestFaultsTokenLastingIdentity: /api/token for a caller with a lasting
// identity, made by a create with the caller's custom ID. The create is
// idempotent, so the library retries it like any call (5xx and dropped
// connections, up to 2 retries; not 429, which the service hands back).
func TestFaultsTokenLastingIdentity(t *testing.T) {
	t.Parallel()
	create := emulator.OpCreate
	t.Run("429 burst with Retry-After", func(t *testing.T) {
		t.Parallel()
		env := newFaultEnv(t)
		env.inject(emulator.Fault{Count: 3, Operation: create, Status: 429, RetryAfter: 7 * time.Second})
		for i := range 3 {
			// Not retried: each call uses up one 429 and hands it back.
			env.wantErr("call during the burst", env.call("GET", "/api/token", alice, ""), 503, "ServiceBusy", "7")
			if i == 0 {
				env.wantIdentities("after a 429", 0, 0)
			}
		}
		_, id := env.token("after the burst", alice)
		_, again := env.token("next call", alice)
		if again != id {
			t.Fatalf("the caller's identity changed: %s, then %s", id, again)
		}
		env.wantIdentities("end", 1, 0)
	})
	t.Run("503 burst within the retries", func(t *testing.T) {
		t.Parallel()
		env := newFaultEnv(t)
		env.inject(emulator.Fault{Count: 2, Operation: create, Status: 503})
		env.token("retried twice", alice)
		env.wantIdentities("end", 1, 0)
	})
	t.Run("503 burst beyond the retries", func(t *testing.T) {
		t.Parallel()
		env := newFaultEnv(t)
		env.inject(emulator.Fault{Count: 3, Operation: create, Status: 503})
		env.wantErr("three 503s", env.call("GET", "/api/token", alice, ""), 502, "UpstreamError", "")
		env.wantIdentities("after the failure", 0, 0)
		env.token("the caller's retry", alice)
		env.wantIdentities("end", 1, 0)
	})
	t.Run("503 with a short Retry-After is waited out", func(t *testing.T) {
		t.Parallel()
		env := newFaultEnv(t)
		env.inject(emulator.Fault{Operation: create, Status: 503, RetryAfter: time.Second})
		env.token("retried after Retry-After", alice)
		env.wantIdentities("end", 1, 0)
	})
	t.Run("503 with a long Retry-After is passed on", func(t *testing.T) {
		t.Parallel()
		env := newFaultEnv(t)
		// Longer than the client's MaxRetryDelay (4 s): azcore does not
		// wait, and the service tells its caller when to come back.
		env.inject(emulator.Fault{Operation: create, Status: 503, RetryAfter: 30 * time.Second})
		env.wantErr("503, Retry-After 30", env.call("GET", "/api/token", alice, ""), 503, "UpstreamUnavailable", "30")
		env.token("the caller's retry", alice)
		env.wantIdentities("end", 1, 0)
	})
	t.Run("dropped connection", func(t *testing.T) {
		t.Parallel()
		env := newFaultEnv(t)
		env.inject(emulator.Fault{Operation: create, DropConnection: true})
		env.token("retried", alice)
		env.wantIdentities("end", 1, 0)
	})
	for _, drop := range []bool{false, true} {
		name := "commit then 503"
		if drop {
			name = "commit then drop"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			env := newFaultEnv(t)
			env.inject(emulator.Fault{Operation: create, Status: 503, AfterCommit: true, DropConnection: drop})
			// The create made the identity; the retry with the same custom
			// ID gets that identity back.
			_, id := env.token("the failed create is retried", alice)
			env.wantIdentities("after the retry", 1, 0)
			if l, _ := env.identities(); l[0].ID != id {
				t.Fatalf("the caller got %s, the emulator holds %s", id, l[0].ID)
			}
			if _, again := env.token("next call", alice); again != id {
				t.Fatalf("the caller's identity changed: %s, then %s", id, again)
			}
			env.wantIdentities("end", 1, 0)
		})
	}
}

// TestFaultsTokenAnonymous: /api/token for an anonymous caller, a create
// without a custom ID. It is not idempotent, so the library retries it only
// after 429 or a failed dial (and the service's options do not retry 429):
// a 5xx or a dropped connection is a 502 at once, and an identity the
// service made before failing is left behind, unused.
func TestFaultsTokenAnonymous(t *testing.T) {
	t.Parallel()
	create := emulator.OpCreate
	t.Run("429", func(t *testing.T) {
		t.Parallel()
		env := newFaultEnv(t)
		env.inject(emulator.Fault{Operation: create, Status: 429, RetryAfter: 12 * time.Second})
		env.wantErr("429", env.call("GET", "/api/token", "", ""), 503, "ServiceBusy", "12")
		env.wantIdentities("after the 429", 0, 0)
	})
	t.Run("429 without Retry-After", func(t *testing.T) {
		t.Parallel()
		env := newFaultEnv(t)
		// The emulator always sends at least "1" with 429; the service
		// passes on what ACS said.
		env.inject(emulator.Fault{Operation: create, Status: 429})
		env.wantErr("429", env.call("GET", "/api/token", "", ""), 503, "ServiceBusy", "1")
	})
	t.Run("503 is not retried", func(t *testing.T) {
		t.Parallel()
		env := newFaultEnv(t)
		env.inject(emulator.Fault{Count: 2, Operation: create, Status: 503})
		env.wantErr("503", env.call("GET", "/api/token", "", ""), 502, "UpstreamError", "")
		env.wantIdentities("after one 503", 0, 0)
		env.wantErr("503", env.call("GET", "/api/token", "", ""), 502, "UpstreamError", "")
		env.token("after the burst", "")
		env.wantIdentities("end", 1, 0)
	})
	t.Run("dropped connection is not retried", func(t *testing.T) {
		t.Parallel()
		env := newFaultEnv(t)
		env.inject(emulator.Fault{Operation: create, DropConnection: true})
		env.wantErr("drop", env.call("GET", "/api/token", "", ""), 502, "UpstreamError", "")
		env.wantIdentities("after the drop", 0, 0)
	})
	for _, drop := range []bool{false, true} {
		name := "commit then 503"
		if drop {
			name = "commit then drop"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			env := newFaultEnv(t)
			env.inject(emulator.Fault{Operation: create, Status: 503, AfterCommit: true, DropConnection: drop})
			env.wantErr("failed after commit", env.call("GET", "/api/token", "", ""), 502, "UpstreamError", "")
			// Not retried, so not two: one identity, whose token nobody
			// received.
			env.wantIdentities("after the failure", 1, 0)
			_, id := env.token("the caller's retry", "")
			env.wantIdentities("end", 2, 0)
			if l, _ := env.identities(); l[0].ID != id && l[1].ID != id {
				t.Fatalf("the caller got %s, not one of the emulator's", id)
			}
		})
	}
}

// TestFaultsDeleteUser: DELETE /api/user finds the caller's identity (a
// create with the custom ID), revokes its tokens and deletes it. No step
// that fails is answered 204, and the caller's retry finishes the job; a
// delete that the service made but answered with a failure (and that the
// library's retry then finds gone, 404) is a success.
func TestFaultsDeleteUser(t *testing.T) {
	t.Parallel()
	type tc struct {
		name  string
		fault emulator.Fault
		// status, code and retryAfter of the first DELETE; 204 if it works.
		status           int
		code, retryAfter string
		// tokenAfter is the status of the caller's token after the first
		// DELETE.
		tokenAfter string
		// elsewhere sends the DELETE to another instance, which does not
		// know the caller's identity and looks it up in ACS.
		elsewhere bool
	}
	revoke, del, create := emulator.OpRevoke, emulator.OpDelete, emulator.OpCreate
	cases := []tc{
		{"429 on the lookup", emulator.Fault{Operation: create, Status: 429, RetryAfter: 5 * time.Second}, 503, "ServiceBusy", "5", emulator.StatusValid, true},
		{"429 on revoke", emulator.Fault{Operation: revoke, Status: 429, RetryAfter: 5 * time.Second}, 503, "ServiceBusy", "5", emulator.StatusValid, false},
		{"429 on delete", emulator.Fault{Operation: del, Status: 429, RetryAfter: 5 * time.Second}, 503, "ServiceBusy", "5", emulator.StatusRevoked, false},
		{"503 twice on revoke", emulator.Fault{Count: 2, Operation: revoke, Status: 503}, 204, "", "", emulator.StatusDeleted, false},
		{"503 twice on delete", emulator.Fault{Count: 2, Operation: del, Status: 503}, 204, "", "", emulator.StatusDeleted, false},
		{"503 three times on revoke", emulator.Fault{Count: 3, Operation: revoke, Status: 503}, 502, "UpstreamError", "", emulator.StatusValid, false},
		{"503 three times on delete", emulator.Fault{Count: 3, Operation: del, Status: 503}, 502, "UpstreamError", "", emulator.StatusRevoked, false},
		{"503 with a long Retry-After on delete", emulator.Fault{Operation: del, Status: 503, RetryAfter: 30 * time.Second}, 503, "UpstreamUnavailable", "30", emulator.StatusRevoked, false},
		{"dropped connection on revoke", emulator.Fault{Operation: revoke, DropConnection: true}, 204, "", "", emulator.StatusDeleted, false},
		{"dropped connection on delete", emulator.Fault{Operation: del, DropConnection: true}, 204, "", "", emulator.StatusDeleted, false},
		{"revoke commits then 503", emulator.Fault{Operation: revoke, Status: 503, AfterCommit: true}, 204, "", "", emulator.StatusDeleted, false},
		{"revoke commits then 503, three times", emulator.Fault{Count: 3, Operation: revoke, Status: 503, AfterCommit: true}, 502, "UpstreamError", "", emulator.StatusRevoked, false},
		{"delete commits then 503", emulator.Fault{Operation: del, Status: 503, AfterCommit: true}, 204, "", "", emulator.StatusDeleted, false},
		{"delete commits then drop", emulator.Fault{Operation: del, AfterCommit: true, DropConnection: true}, 204, "", "", emulator.StatusDeleted, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			env := newFaultEnv(t)
			tok, id := env.token("before", alice)
			if c.elsewhere {
				env.h = newService(t, env.acs, nil)
			}
			env.inject(c.fault)
			r := env.call("DELETE", "/api/user", alice, "")
			if c.status == http.StatusNoContent {
				if r.status != http.StatusNoContent {
					t.Fatalf("DELETE: %d %s, want 204", r.status, r.body)
				}
			} else {
				env.wantErr("DELETE", r, c.status, c.code, c.retryAfter)
			}
			if got := env.tokenStatus(tok); got != c.tokenAfter {
				t.Fatalf("after the first DELETE the token is %s, want %s", got, c.tokenAfter)
			}
			if r.status != http.StatusNoContent {
				// The caller retries; that must finish the job.
				if r := env.call("DELETE", "/api/user", alice, ""); r.status != http.StatusNoContent {
					t.Fatalf("the caller's retry: %d %s", r.status, r.body)
				}
			}
			if got := env.tokenStatus(tok); got != emulator.StatusDeleted {
				t.Fatalf("at the end the token is %s", got)
			}
			// One identity, deleted: no retry made (and deleted) another.
			env.wantIdentities("end", 0, 1)
			if _, d := env.identities(); d[0].ID != id {
				t.Fatalf("deleted %s, the caller had %s", d[0].ID, id)
			}
		})
	}
}

// TestFaultsTeamsExchange: POST /api/token/teams holds no state at ACS, so
// the library retries it like any call.
func TestFaultsTeamsExchange(t *testing.T) {
	t.Parallel()
	user, teamsBody := teamsFixture()
	body := teamsBody(user)
	op := emulator.OpTeamsUserExchange
	cases := []struct {
		name             string
		fault            emulator.Fault
		status           int
		code, retryAfter string
	}{
		{"429", emulator.Fault{Operation: op, Status: 429, RetryAfter: 9 * time.Second}, 503, "ServiceBusy", "9"},
		{"503 twice", emulator.Fault{Count: 2, Operation: op, Status: 503}, 200, "", ""},
		{"503 three times", emulator.Fault{Count: 3, Operation: op, Status: 503}, 502, "UpstreamError", ""},
		{"503 with a long Retry-After", emulator.Fault{Operation: op, Status: 503, RetryAfter: 30 * time.Second}, 503, "UpstreamUnavailable", "30"},
		{"500 with a long Retry-After", emulator.Fault{Operation: op, Status: 500, RetryAfter: 30 * time.Second}, 503, "UpstreamUnavailable", "30"},
		{"500 three times", emulator.Fault{Count: 3, Operation: op, Status: 500}, 502, "UpstreamError", ""},
		{"dropped connection", emulator.Fault{Operation: op, DropConnection: true}, 200, "", ""},
		{"commit then 503", emulator.Fault{Operation: op, Status: 503, AfterCommit: true}, 200, "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			env := newFaultEnv(t)
			env.inject(c.fault)
			r := env.call("POST", "/api/token/teams", "", body)
			if c.status != http.StatusOK {
				env.wantErr("exchange", r, c.status, c.code, c.retryAfter)
				r = env.call("POST", "/api/token/teams", "", body) // the caller's retry
			}
			var v tokenBody
			if err := json.Unmarshal(r.body, &v); err != nil || r.status != http.StatusOK {
				t.Fatalf("exchange: %d %s", r.status, r.body)
			}
			if st := env.em.Introspect(v.Token); st.Status != emulator.StatusValid || st.User != "8:orgid:"+user {
				t.Fatalf("the Teams token is %+v", st)
			}
			env.wantIdentities("end", 0, 0)
		})
	}
}
