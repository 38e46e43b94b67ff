//go:build unix

package emulator

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/acsgo/acsidentity/internal/testutil"
)

// TestDataFileSymlink: a data file reached through a symbolic link stays
// a link (the state is written to its target), and no second emulator
// starts on the target, whether by the link, another link or its own name.
func TestDataFileSymlink(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "real"), 0o700)
	target := filepath.Join(dir, "real", "state.json")
	link := filepath.Join(dir, "state.json")
	if err := os.Symlink(filepath.Join("real", "state.json"), link); err != nil { // dangling until the first save
		t.Fatal(err)
	}
	srv, c := start(t, &Options{DataFile: link})
	const v = "2025-03-02-preview"
	id := c.createUser(v)
	mustBeLink(t, link)
	if b, err := os.ReadFile(target); err != nil || !strings.Contains(string(b), id) {
		t.Fatalf("the link's target does not hold the state: %v", err)
	}
	other := filepath.Join(t.TempDir(), "other.json")
	if err := os.Symlink(target, other); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{link, target, other} {
		if e, err := New(&Options{DataFile: p}); err == nil || !strings.Contains(err.Error(), "in use") {
			if e != nil {
				e.Close()
			}
			t.Errorf("a second emulator started on %s: %v", p, err)
		}
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	mustBeLink(t, link)
	e, err := New(&Options{DataFile: other})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if ids := e.Identities(); len(ids) != 1 || ids[0].ID != id {
		t.Errorf("through another link: %v", ids)
	}
}

// TestDataFileHardLink: a hard link to a data file in use does not let a
// second emulator start, and a data file with several hard links is
// refused, since a save would leave the other names behind.
func TestDataFileHardLink(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "state.json")
	e, err := New(&Options{DataFile: file})
	if err != nil {
		t.Fatal(err)
	}
	hard := filepath.Join(dir, "hard.json")
	if err := os.Link(file, hard); err != nil {
		t.Fatal(err)
	}
	if e2, err := New(&Options{DataFile: hard}); err == nil || !strings.Contains(err.Error(), "in use") {
		if e2 != nil {
			e2.Close()
		}
		t.Errorf("a second emulator started on a hard link: %v", err)
	}
	e.Close()
	e2, err := New(&Options{DataFile: hard})
	if err == nil {
		e2.Close()
		t.Fatal("an emulator started on a data file with two names")
	}
	if !strings.Contains(err.Error(), "2 hard links") || !strings.Contains(err.Error(), hard) {
		t.Errorf("error %q, want it to name the file and its links", err)
	}
}

func mustBeLink(t *testing.T, path string) {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("the data file is no longer a symbolic link (mode %v)", fi.Mode())
	}
}

// TestHardLinkAtSave: a hard link made while the emulator runs stops its
// saves (with a logged error and 500s) and keeps its lock on the file, so
// no second emulator starts on the link; once the link is gone the changes
// are saved.
func TestHardLinkAtSave(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "state.json")
	var logs testutil.SyncBuffer
	srv, c := start(t, &Options{DataFile: file, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	const v = "2023-10-01"
	before := c.createUser(v)
	hard := filepath.Join(dir, "hard.json")
	if err := os.Link(file, hard); err != nil {
		t.Fatal(err)
	}
	r := c.send(req{method: "POST", path: "/identities?api-version=" + v, body: "{}"})
	mustStatus(t, r, 500)
	if s := logs.String(); !strings.Contains(s, "level=ERROR") || !strings.Contains(s, "2 hard links") {
		t.Errorf("the link was not logged as an error: %s", s)
	}
	if e2, err := New(&Options{DataFile: hard}); err == nil || !strings.Contains(err.Error(), "in use") {
		if e2 != nil {
			e2.Close()
		}
		t.Errorf("a second emulator started on the hard link: %v", err)
	}
	// Once the other name is gone, the changes are saved.
	if err := os.Remove(hard); err != nil {
		t.Fatal(err)
	}
	after := c.createUser(v)
	if !strings.Contains(logs.String(), "saves changes to its data file again") {
		t.Errorf("the recovery was not logged: %s", logs.String())
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	e, err := New(&Options{DataFile: file})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if n := len(e.Identities()); n != 3 {
		t.Errorf("%d identities after a restart, want 3 (%s, the one answered 500, %s)", n, before, after)
	}
}
