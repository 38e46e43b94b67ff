package emulator

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

type identityList struct {
	Value    []IdentityRecord `json:"value"`
	NextLink string           `json:"nextLink"`
}

// TestInspectIdentities: GET /.emulator/identities lists what was made
// through the API, page by page with a next link, and one identity by
// its ID; POST /.emulator/reset empties it.
func TestInspectIdentities(t *testing.T) {
	t.Parallel()
	srv, c := start(t, nil)
	const v = "2025-03-02-preview"
	want := map[string]bool{}
	for range 5 {
		want[c.createUser(v)] = true
	}
	_, tok := c.issue(c.createUser(v), v, "chat")
	gone := c.createUser(v)
	mustStatus(t, c.send(req{method: "DELETE", path: idPath(gone, "", v)}), 204)
	revoked := c.createUser(v)
	want[revoked] = true
	mustStatus(t, c.send(req{method: "POST", path: idPath(revoked, "/:revokeAccessTokens", v)}), 204)
	st := srv.Emulator.Introspect(tok.Token)
	want[st.User] = true

	seen := map[string]IdentityRecord{}
	next := IdentitiesPath + "?maxPageSize=3"
	pages := 0
	for next != "" {
		r := c.send(req{method: "GET", path: next})
		mustStatus(t, r, 200)
		var page identityList
		r.decode(t, &page)
		for _, rec := range page.Value {
			seen[rec.ID] = rec
		}
		next = strings.TrimPrefix(page.NextLink, srv.URL)
		if page.NextLink != "" && next == page.NextLink {
			t.Fatalf("next link %s is not on %s", page.NextLink, srv.URL)
		}
		if pages++; pages > 10 {
			t.Fatal("the pages do not end")
		}
	}
	if pages != 3 || len(seen) != len(want) {
		t.Errorf("%d pages, %d identities, want 3 pages of the %d live ones", pages, len(seen), len(want))
	}
	for id := range want {
		if _, ok := seen[id]; !ok {
			t.Errorf("%s is not listed", id)
		}
	}
	if rec := seen[st.User]; rec.LastTokenIssuedOn.IsZero() || rec.CreatedOn.IsZero() || !rec.TokensRevokedOn.IsZero() {
		t.Errorf("the identity with a token: %+v", rec)
	}
	if rec := seen[revoked]; rec.TokensRevokedOn.IsZero() {
		t.Errorf("the revoked identity: %+v", rec)
	}

	// One identity, deleted ones included.
	r := c.send(req{method: "GET", path: IdentitiesPath + "/" + gone})
	mustStatus(t, r, 200)
	var rec IdentityRecord
	r.decode(t, &rec)
	if rec.ID != gone || rec.DeletedOn.IsZero() {
		t.Errorf("deleted identity %s", r.body)
	}
	all := c.send(req{method: "GET", path: IdentitiesPath + "?includeDeleted=true&maxPageSize=1000"})
	var allPage identityList
	all.decode(t, &allPage)
	if len(allPage.Value) != len(want)+1 || allPage.NextLink != "" {
		t.Errorf("includeDeleted: %d identities, want %d", len(allPage.Value), len(want)+1)
	}
	mustStatus(t, c.send(req{method: "GET", path: IdentitiesPath + "/8:acs:nope"}), 404)
	mustStatus(t, c.send(req{method: "GET", path: IdentitiesPath + "?maxPageSize=0"}), 400)

	// Reset: nothing left, and the tokens of before are not valid.
	mustStatus(t, c.send(req{method: "GET", path: ResetPath}), 405)
	mustStatus(t, c.send(req{method: "POST", path: ResetPath}), 204)
	r = c.send(req{method: "GET", path: IdentitiesPath + "?includeDeleted=true"})
	var empty identityList
	r.decode(t, &empty)
	if len(empty.Value) != 0 {
		t.Errorf("after reset: %s", r.body)
	}
	if s := srv.Emulator.Introspect(tok.Token); s.Status != StatusInvalid {
		t.Errorf("a token of before the reset is %s", s.Status)
	}
	// New identities and tokens work as before.
	_, tok2 := c.issue(c.createUser(v), v, "chat")
	if s := srv.Emulator.Introspect(tok2.Token); s.Status != StatusValid {
		t.Errorf("a token after the reset is %s", s.Status)
	}
}

// TestResetPersisted: a reset is saved, in the journal and in a full copy.
func TestResetPersisted(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "state.json")
	srv, c := start(t, &Options{DataFile: path})
	const v = "2025-03-02-preview"
	before := c.createUser(v)
	mustStatus(t, c.send(req{method: "POST", path: ResetPath}), 204)
	after := c.createUser(v)
	srv.Close()
	for range 2 {
		e, err := New(&Options{DataFile: path})
		if err != nil {
			t.Fatal(err)
		}
		if got := e.Identities(); len(got) != 1 || got[0].ID != after {
			t.Errorf("after a restart: %v, want only %s (not %s)", got, after, before)
		}
		e.Close()
	}
}

// TestSeed: a seed file's identities exist at start, with their IDs and
// custom IDs, and seeding again (a restart with the same file) makes
// nothing new.
func TestSeed(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	fixed := "8:acs:" + DevelopmentResourceID + "_fixture-1"
	seedPath := filepath.Join(dir, "seed.json")
	os.WriteFile(seedPath, []byte(`{"identities":[{"customId":"alice"},{"id":"`+fixed+`"},{"id":"`+fixed+`-b","customId":"bob"}]}`), 0o600)
	seed, err := ReadSeedFile(seedPath)
	if err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "state.json")
	var first []IdentityInfo
	for i := range 2 {
		e, err := New(&Options{DataFile: data, Seed: seed})
		if err != nil {
			t.Fatal(err)
		}
		got := e.Identities()
		if i == 0 {
			first = got
		} else if diff := cmp.Diff(first, got); diff != "" {
			t.Errorf("seeding again changed the identities (-first +second):\n%s", diff)
		}
		e.Close()
	}
	byCustom := map[string]string{}
	for _, it := range first {
		byCustom[it.CustomID] = it.ID
	}
	if len(first) != 3 || byCustom[""] != fixed || byCustom["bob"] != fixed+"-b" || !strings.HasPrefix(byCustom["alice"], "8:acs:"+DevelopmentResourceID+"_") {
		t.Errorf("seeded %v", first)
	}
	// An identity with a token issued can be reached by its custom ID
	// through the API.
	srv, c := start(t, &Options{Seed: seed})
	r := c.send(req{method: "POST", path: "/identities?api-version=2025-03-02-preview", body: `{"customId":"bob"}`})
	mustStatus(t, r, 201)
	if !strings.Contains(string(r.body), fixed+"-b") {
		t.Errorf("create with the seeded custom ID: %s", r.body)
	}
	// POST /.emulator/seed does the same.
	r = c.send(req{method: "POST", path: SeedPath, body: `{"identities":[{"customId":"carol"}]}`})
	mustStatus(t, r, 200)
	if len(srv.Emulator.Identities()) != 4 {
		t.Errorf("after POST %s: %v", SeedPath, srv.Emulator.Identities())
	}

	for body, want := range map[string]string{
		`{"identities":[{"id":"8:acs:other_x"}]}`:                    "is not 8:acs:",
		`{"identities":[{"id":"` + fixed + `","customId":"alice"}]}`: "already names",
		`{"identities":[{"id":"` + fixed + `","customId":"new"}]}`:   "exists without custom ID",
		`{"identities":[{"name":"x"}]}`:                              "unknown field",
		`{}`:                                                         `no "identities"`,
	} {
		r := c.send(req{method: "POST", path: SeedPath, body: body})
		if r.status != 400 || !strings.Contains(r.errorBody(t).Message, want) {
			t.Errorf("seed %s: %d %s, want 400 saying %s", body, r.status, r.body, want)
		}
	}
	if _, err := New(&Options{Seed: []SeedIdentity{{ID: "8:acs:x"}}}); err == nil || !strings.Contains(err.Error(), "seed identity 1") {
		t.Errorf("New with a bad seed: %v", err)
	}
}

// TestInspectionOnlyOnLoopback: the inspection endpoints answer 403 to a
// request that reached the emulator on an address that is not loopback,
// unless AllowRemoteInspection is set; the rest of the API answers.
func TestInspectionOnlyOnLoopback(t *testing.T) {
	t.Parallel()
	remote := func(r *http.Request) *http.Request {
		addr := &net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 10780}
		return r.WithContext(context.WithValue(r.Context(), http.LocalAddrContextKey, addr))
	}
	for _, allow := range []bool{false, true} {
		e, err := New(&Options{AllowRemoteInspection: allow})
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct{ method, path string }{
			{"GET", IdentitiesPath}, {"GET", IdentitiesPath + "/x"}, {"POST", ResetPath}, {"POST", SeedPath},
		} {
			w := httptest.NewRecorder()
			e.ServeHTTP(w, remote(httptest.NewRequest(tc.method, "http://192.0.2.1:10780"+tc.path, strings.NewReader(`{"identities":[]}`))))
			if refused := w.Code == http.StatusForbidden && strings.Contains(w.Body.String(), "-allow-remote-inspection"); refused == allow {
				t.Errorf("allow=%v: %s %s answered %d %s", allow, tc.method, tc.path, w.Code, w.Body)
			}
		}
		w := httptest.NewRecorder()
		e.ServeHTTP(w, remote(httptest.NewRequest("GET", "http://192.0.2.1:10780"+HealthPath, nil)))
		if w.Code != 200 {
			t.Errorf("health on a remote address: %d", w.Code)
		}
		e.Close()
	}
}

// TestListIdentitiesPages: paging through many identities with a page size
// that does not divide their number visits each once, in ID order.
func TestListIdentitiesPages(t *testing.T) {
	t.Parallel()
	e, err := New(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	seed := make([]SeedIdentity, 500)
	if _, err := e.Seed(seed); err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, it := range e.Identities() {
		want = append(want, it.ID)
	}
	var got []string
	o := &ListIdentitiesOptions{MaxPageSize: 7}
	for {
		page, err := e.ListIdentities(o)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range page.Identities {
			got = append(got, r.ID)
		}
		if page.Next == "" {
			break
		}
		o.After = page.Next
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("the pages (-want +got):\n%s", diff)
	}
	if _, err := e.ListIdentities(&ListIdentitiesOptions{MaxPageSize: 1001}); err == nil {
		t.Error("MaxPageSize 1001 accepted")
	}
}
