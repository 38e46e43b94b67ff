package emulator

import (
	"crypto/ed25519"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/acsgo/acsidentity/internal/wire"
)

func TestPersistence(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "state.json")
	const v = "2025-03-02-preview"
	srv, c := start(t, &Options{DataFile: file, AllowBearer: true})
	kept := c.createUser(v)
	_, keptTok := c.issue(kept, v, "chat")
	revoked := c.createUser(v)
	_, revokedTok := c.issue(revoked, v, "voip")
	mustStatus(t, c.send(req{method: "POST", path: idPath(revoked, "/:revokeAccessTokens", v)}), 204)
	deleted := c.createUser(v)
	_, deletedTok := c.issue(deleted, v, "chat")
	mustStatus(t, c.send(req{method: "DELETE", path: idPath(deleted, "", v)}), 204)
	r := c.send(req{method: "POST", path: "/identities?api-version=" + v, body: `{"customId":"bob"}`})
	var custom wire.AccessTokenResult
	r.decode(t, &custom)
	tenant, user := guid(1), guid(2)
	mustStatus(t, c.send(req{method: "PUT", path: "/access/teamsExtension/tenants/" + tenant + "/assignments/" + user + "?api-version=" + v, body: `{"principalType":"user"}`}), 201)
	mustStatus(t, c.send(req{method: "PUT", path: "/access/entra/assignments/" + user + "?api-version=" + v, body: `{"tenantId":"` + tenant + `","principalType":"user","clientIds":[]}`}), 201)
	pub := srv.Emulator.PublicKey()
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(file); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("data file: %v %v", fi, err)
	}
	entries, _ := os.ReadDir(dir)
	for _, de := range entries {
		if de.Name() != "state.json" && de.Name() != "state.json.lock" {
			t.Errorf("temporary file left behind: %s", de.Name())
		}
	}
	b, _ := os.ReadFile(file)
	if strings.Contains(string(b), keptTok.Token) || strings.Contains(string(b), DevelopmentKey) {
		t.Error("the data file holds a token or the access key")
	}

	srv2, c2 := start(t, &Options{DataFile: file})
	e2 := srv2.Emulator
	if !e2.PublicKey().(ed25519.PublicKey).Equal(pub) {
		t.Error("the signing key changed")
	}
	for tok, want := range map[string]string{keptTok.Token: StatusValid, revokedTok.Token: StatusRevoked, deletedTok.Token: StatusDeleted} {
		if st := e2.Introspect(tok); st.Status != want {
			t.Errorf("after restart: %s, want %s", st.Status, want)
		}
	}
	g := c2.send(req{method: "GET", path: idPath(kept, "", v)})
	mustStatus(t, g, 200)
	var ident wire.Identity
	g.decode(t, &ident)
	if ident.LastTokenIssuedAt == nil {
		t.Error("lastTokenIssuedAt lost")
	}
	mustStatus(t, c2.send(req{method: "GET", path: idPath(deleted, "", v)}), 404)
	r = c2.send(req{method: "POST", path: "/identities?api-version=" + v, body: `{"customId":"bob"}`})
	var again wire.AccessTokenResult
	r.decode(t, &again)
	if again.Identity.ID != custom.Identity.ID {
		t.Error("customId mapping lost")
	}
	mustStatus(t, c2.send(req{method: "GET", path: "/access/teamsExtension/tenants/" + tenant + "/assignments/" + user + "?api-version=" + v}), 200)
	mustStatus(t, c2.send(req{method: "GET", path: "/access/entra/assignments/" + user + "?api-version=" + v}), 200)
	// Tokens issued after the restart are newer than the saved revocation.
	_, fresh := c2.issue(revoked, v, "chat")
	if st := e2.Introspect(fresh.Token); st.Status != StatusValid {
		t.Errorf("new token after restart: %s", st.Status)
	}
}

func TestPersistenceErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte("not json"), 0o600)
	if _, err := New(&Options{DataFile: bad}); err == nil {
		t.Error("a corrupt data file was accepted")
	}
	file := filepath.Join(dir, "state.json")
	e, err := New(&Options{DataFile: file})
	if err != nil {
		t.Fatal(err)
	}
	e.Close()
	if _, err := New(&Options{DataFile: file, ResourceID: guid(5)}); err == nil || !strings.Contains(err.Error(), "resource ID") {
		t.Errorf("another resource's file: %v", err)
	}
	if _, err := New(&Options{DataFile: filepath.Join(dir, "missing-dir", "x.json")}); err == nil {
		t.Error("an unwritable data file was accepted")
	}
}

// TestPersistenceWriteFailure: when the file cannot be saved, the change
// is not acknowledged.
func TestPersistenceWriteFailure(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	sub := filepath.Join(dir, "sub")
	os.Mkdir(sub, 0o700)
	srv, c := start(t, &Options{DataFile: filepath.Join(sub, "state.json")})
	if err := os.RemoveAll(sub); err != nil {
		t.Fatal(err)
	}
	r := c.send(req{method: "POST", path: "/identities?api-version=2023-10-01"})
	mustStatus(t, r, 500)
	os.Mkdir(sub, 0o700)
	mustStatus(t, c.send(req{method: "POST", path: "/identities?api-version=2023-10-01"}), 201)
	_ = srv
}

func TestDataFileLock(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "state.json")
	e, err := New(&Options{DataFile: file})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := New(&Options{DataFile: file}); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Errorf("a second emulator opened the data file: %v", err)
	}
	e.Close()
	e2, err := New(&Options{DataFile: file})
	if err != nil {
		t.Fatalf("after Close: %v", err)
	}
	e2.Close()
}

// TestChangeAfterCloseNotSaved: a change made after Close, by a request
// still running then (a create waiting out its custom-ID race window,
// say), is not saved, and never touches the data file, which another
// emulator may hold by then.
func TestChangeAfterCloseNotSaved(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "state.json")
	e1, err := New(&Options{DataFile: file})
	if err != nil {
		t.Fatal(err)
	}
	if err := e1.Close(); err != nil {
		t.Fatal(err)
	}
	e2, err := New(&Options{DataFile: file})
	if err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(file)
	late := e1.idPrefix + newUnique()
	e1.store.add(&identity{id: late, customID: "late", created: e1.now()})
	if err := e1.persist.Sync(); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Errorf("saving after Close: %v, want an error saying it is closed", err)
	}
	if after, _ := os.ReadFile(file); string(after) != string(before) {
		t.Error("a change after Close wrote to the data file another emulator holds")
	}
	if err := e2.Close(); err != nil {
		t.Fatal(err)
	}
	e3, err := New(&Options{DataFile: file})
	if err != nil {
		t.Fatal(err)
	}
	defer e3.Close()
	if _, ok := e3.Identity(late); ok {
		t.Error("the change made after Close was saved")
	}
}

// TestMaxDataFileBytesNegative: a negative limit is refused, naming the
// option, rather than meaning the default.
func TestMaxDataFileBytesNegative(t *testing.T) {
	t.Parallel()
	_, err := New(&Options{MaxDataFileBytes: -5})
	if err == nil || !strings.Contains(err.Error(), "MaxDataFileBytes is -5") {
		t.Errorf("a negative limit: %v", err)
	}
}
