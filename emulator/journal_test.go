package emulator

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/acsgo/acsidentity/emulator/internal/datafile"
	"github.com/acsgo/acsidentity/internal/testutil"
	"github.com/acsgo/acsidentity/internal/wire"
)

// TestJournalAppends: a save appends the changes it saves, and the file's
// full copy of the state stays as it was.
func TestJournalAppends(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "state.json")
	_, c := start(t, &Options{DataFile: path})
	first, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	const v = "2023-10-01"
	id := c.createUser(v)
	c.issue(id, v, "chat")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// Only the journal's recorded end changes in place.
	blank := func(b []byte) []byte {
		b = bytes.Clone(b)
		copy(b[datafile.JournalEndOffset:], make([]byte, datafile.JournalEndSize))
		return b
	}
	if !bytes.HasPrefix(blank(b), blank(first)) {
		t.Fatal("a save rewrote the file's full copy of the state")
	}
	_, lines := journalLines(t, b)
	if len(lines) != 2 || !bytes.Contains(lines[0], []byte(id)) || !bytes.Contains(lines[1], []byte(`"lastTokenIssuedAt"`)) {
		t.Errorf("the journal is not one line per change:\n%s", b[len(first):])
	}
}

// TestJournalTornTail: a last line that a crash cut short after the
// recorded end of the journal (its change was never acknowledged) is
// dropped with a warning, and the rest loads.
func TestJournalTornTail(t *testing.T) {
	t.Parallel()
	path, id, token, journaled := savedFile(t)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	_, lines := journalLines(t, b)
	last := lines[len(lines)-1] // a line as the next save would append it
	for _, cut := range []int{1, len(last) / 2, len(last) - 1} {
		torn := append(bytes.Clone(b), last[:cut]...)
		file := filepath.Join(t.TempDir(), "state.json")
		if err := os.WriteFile(file, torn, 0o600); err != nil {
			t.Fatal(err)
		}
		var logs testutil.SyncBuffer
		e, err := New(&Options{DataFile: file, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
		if err != nil {
			t.Fatalf("a torn line of %d bytes after the journal's end: %v", cut, err)
		}
		ids := map[string]bool{}
		for _, it := range e.Identities() {
			ids[it.ID] = true
		}
		if len(ids) != 4 || !ids[id] || !ids[journaled] {
			t.Errorf("a torn line of %d bytes: identities %v, want all four", cut, ids)
		}
		if st := e.Introspect(token); st.Status != StatusValid {
			t.Errorf("the token is %s", st.Status)
		}
		if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), fmt.Sprintf("bytes=%d", cut)) {
			t.Errorf("the dropped change was not reported: %s", logs.String())
		}
		e.Close()
		again, _ := os.ReadFile(file)
		if df, err := datafile.Decode(again, false); err != nil || df.Torn != 0 {
			t.Errorf("after the restart the file does not load cleanly: %v", err)
		}
	}
}

// TestOlderFormatsNeedMigration: a format 2 file (the testEnvelope alone) or
// 3 (no record of the journal's end) is refused unless migration is
// asked for, since a cut could not be told from it; then it loads and is
// saved as format 4.
func TestOlderFormatsNeedMigration(t *testing.T) {
	t.Parallel()
	path, id, token, _ := savedFile(t)
	e, err := New(&Options{DataFile: path}) // folds the journal into a full copy
	if err != nil {
		t.Fatal(err)
	}
	e.Close()
	b, _ := os.ReadFile(path)
	head := regexp.MustCompile(`"format": 4,\n "journalEnd": "[0-9a-f ]+",`)
	for _, format := range []int{2, 3} {
		old := head.ReplaceAll(b, fmt.Appendf(nil, `"format": %d,`, format))
		file := filepath.Join(t.TempDir(), "state.json")
		os.WriteFile(file, old, 0o600)
		if e, err := New(&Options{DataFile: file}); err == nil {
			e.Close()
			t.Fatalf("format %d loaded without MigrateLegacyDataFile", format)
		} else if msg := err.Error(); !strings.Contains(msg, fmt.Sprintf("format %d", format)) || !strings.Contains(msg, "-migrate-data") || !strings.Contains(msg, datafile.Remedy) {
			t.Errorf("format %d: the refusal %q does not name the format, the flag and the datafile.Remedy", format, msg)
		}
		e, err = New(&Options{DataFile: file, MigrateLegacyDataFile: true})
		if err != nil {
			t.Fatal(err)
		}
		if st := e.Introspect(token); st.Status != StatusValid || st.User != id {
			t.Errorf("after loading format %d the token is %s for %s", format, st.Status, st.User)
		}
		e.Close()
		if after, _ := os.ReadFile(file); !bytes.HasPrefix(after, []byte(datafile.EnvelopeHead)) {
			t.Errorf("format %d was not saved as format 4", format)
		}
	}
	// A format 2 file cannot have a journal.
	v2 := head.ReplaceAll(b, []byte(`"format": 2,`))
	file := filepath.Join(t.TempDir(), "state.json")
	os.WriteFile(file, append(v2, `{"sha256":"00","change":{}}`+"\n"...), 0o600)
	if e, err := New(&Options{DataFile: file, MigrateLegacyDataFile: true}); err == nil || !strings.Contains(err.Error(), "more after the state") {
		if e != nil {
			e.Close()
		}
		t.Errorf("a format 2 file with lines after it: %v", err)
	}
}

// TestCompaction: with a small JournalLimit the file is compacted again
// and again while 8 clients create, issue, revoke, delete and assign; it
// stays small, and after a restart the state is exactly what it was.
func TestCompaction(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "state.json")
	srv, c := start(t, &Options{DataFile: path, JournalLimit: 4 << 10})
	const v = "2025-03-02-preview"
	var wg sync.WaitGroup
	var mu sync.Mutex
	var tokens []string
	for w := range 8 {
		wg.Go(func() {
			for i := range 40 {
				r := c.send(req{method: "POST", path: "/identities?api-version=" + v, body: fmt.Sprintf(`{"customId":"w%d-%d"}`, w, i%25)})
				var res wire.AccessTokenResult
				r.decode(t, &res)
				id := res.Identity.ID
				_, tok := c.issue(id, v, "chat")
				mu.Lock()
				tokens = append(tokens, tok.Token)
				mu.Unlock()
				switch i % 5 {
				case 1:
					c.send(req{method: "POST", path: idPath(id, "/:revokeAccessTokens", v)})
				case 2:
					c.send(req{method: "DELETE", path: idPath(id, "", v)})
				case 3:
					c.send(req{method: "PUT", path: "/access/entra/assignments/" + guid(w*100+i) + "?api-version=" + v, body: `{"tenantId":"` + guid(1) + `","principalType":"user","clientIds":[]}`})
				case 4:
					c.send(req{method: "DELETE", path: "/access/entra/assignments/" + guid(w*100+i-1) + "?api-version=" + v})
				}
			}
		})
	}
	wg.Wait()
	e := srv.Emulator
	want := e.Identities()
	status := map[string]string{}
	for _, tok := range tokens {
		status[tok] = e.Introspect(tok).Status
	}
	wantEntra := len(e.store.entra)
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	env, lines := journalLines(t, b)
	if len(b)-len(env) > 64<<10 {
		t.Errorf("the journal is %d bytes (%d lines) after 1,000 changes with a limit of 4 KiB", len(b)-len(env), len(lines))
	}
	e2, err := New(&Options{DataFile: path})
	if err != nil {
		t.Fatal(err)
	}
	defer e2.Close()
	if got := e2.Identities(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("after a restart the identities differ:\n got %v\nwant %v", got, want)
	}
	for tok, st := range status {
		if got := e2.Introspect(tok).Status; got != st {
			t.Errorf("a token was %s and is %s after a restart", st, got)
		}
	}
	if len(e2.store.entra) != wantEntra {
		t.Errorf("%d Entra assignments after a restart, want %d", len(e2.store.entra), wantEntra)
	}
}

// TestDataFileReplaced: a data file removed, replaced or written to while
// the emulator runs is written whole again at the next save, not appended
// to, and the emulator says so.
func TestDataFileReplaced(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "state.json")
	var logs testutil.SyncBuffer
	srv, c := start(t, &Options{DataFile: path, Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	const v = "2023-10-01"
	a := c.createUser(v)
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	b := c.createUser(v)
	if err := datafile.WriteFileAtomic(path, []byte("someone else's file")); err != nil {
		t.Fatal(err)
	}
	d := c.createUser(v)
	if err := os.WriteFile(path, []byte("written in place"), 0o600); err != nil {
		t.Fatal(err)
	}
	f := c.createUser(v)
	srv.Close()
	if n := strings.Count(logs.String(), "written anew"); n != 3 {
		t.Errorf("%d warnings that the file is written anew, want 3:\n%s", n, logs.String())
	}
	e, err := New(&Options{DataFile: path})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	got := map[string]bool{}
	for _, it := range e.Identities() {
		got[it.ID] = true
	}
	if !got[a] || !got[b] || !got[d] || !got[f] {
		t.Errorf("after the file was removed, replaced and written: %v, want %s, %s, %s and %s", got, a, b, d, f)
	}
}
