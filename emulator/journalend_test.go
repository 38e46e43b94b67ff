package emulator

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"

	"github.com/acsgo/acsidentity/emulator/internal/datafile"
	"github.com/acsgo/acsidentity/internal/testutil"
)

// TestJournalEndCuts: after "create A with a token, create B, revoke A,
// delete B", cutting whole lines from the journal's end (which would bring
// B back, or make A's revoked token valid) or stripping the file back to
// format 2 or 3 is refused at start with the remedy, and the file is left
// as it is.
func TestJournalEndCuts(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "state.json")
	srv, c := start(t, &Options{DataFile: path})
	const v = "2025-03-02-preview"
	a := c.createUser(v)
	_, tok := c.issue(a, v, "chat")
	b := c.createUser(v)
	mustStatus(t, c.send(req{method: "POST", path: idPath(a, "/:revokeAccessTokens", v)}), 204)
	mustStatus(t, c.send(req{method: "DELETE", path: idPath(b, "", v)}), 204)
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	env, lines := journalLines(t, good)
	if len(lines) != 5 {
		t.Fatalf("%d journal lines, want 5 (create, issue, create, revoke, delete)", len(lines))
	}
	join := func(l [][]byte) []byte { return bytes.Join(append([][]byte{env}, l...), nil) }
	head := regexp.MustCompile(`"format": 4,\n "journalEnd": "[0-9a-f ]+",`)
	cases := []struct {
		name  string
		file  []byte
		wants []string
	}{
		{"the last line dropped (B back)", join(lines[:4]), []string{"lines were cut from its end"}},
		{"the last two lines dropped (A's token valid)", join(lines[:3]), []string{"lines were cut from its end"}},
		{"every line dropped", env, []string{"lines were cut from its end"}},
		{"the last line cut in the middle", join(append(lines[:4:4], lines[4][:40])), []string{"lines were cut from its end"}},
		{"the last line replaced by a line of another file", join(append(lines[:4:4], lines[2])), []string{"change 5"}},
		{"stripped to format 2, its journal folded into nothing", head.ReplaceAll(env, []byte(`"format": 2,`)), []string{"format 2", "-migrate-data"}},
		{"stripped to format 3, its last line dropped", head.ReplaceAll(join(lines[:4]), []byte(`"format": 3,`)), []string{"format 3", "-migrate-data"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "state.json")
			if err := os.WriteFile(file, tc.file, 0o600); err != nil {
				t.Fatal(err)
			}
			e, err := New(&Options{DataFile: file})
			if err == nil {
				defer e.Close()
				t.Fatalf("the cut file loaded: A's token is %s, identities %v", e.Introspect(tok.Token).Status, e.Identities())
			}
			for _, want := range append(tc.wants, file, datafile.Remedy) {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q, want it to say %q", err, want)
				}
			}
			if after, _ := os.ReadFile(file); !bytes.Equal(after, tc.file) {
				t.Error("the refused file was rewritten")
			}
		})
	}
	// The file as saved loads, and says how many changes it replayed.
	var logs testutil.SyncBuffer
	e, err := New(&Options{DataFile: path, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if st := e.Introspect(tok.Token); st.Status != StatusRevoked {
		t.Errorf("A's token is %s, want revoked", st.Status)
	}
	if !strings.Contains(logs.String(), `"changes replayed"=5`) {
		t.Errorf("the load was not logged with the changes replayed: %s", logs.String())
	}
}

// TestDataFileNotRegular: a data path that is a device, a directory or a
// FIFO is refused before it is read, and so is a file above the size
// limit.
func TestDataFileNotRegular(t *testing.T) {
	t.Parallel()
	paths := []string{t.TempDir()}
	if runtime.GOOS != "windows" {
		paths = append(paths, os.DevNull, "/dev/zero")
	}
	for _, p := range paths {
		e, err := New(&Options{DataFile: p})
		if err == nil {
			e.Close()
			t.Fatalf("%s loaded", p)
		}
		if !strings.Contains(err.Error(), "not a regular file") {
			t.Errorf("%s: %v", p, err)
		}
	}
	path := filepath.Join(t.TempDir(), "state.json")
	srv, c := start(t, &Options{DataFile: path})
	c.createUser("2023-10-01")
	srv.Close()
	fi, _ := os.Stat(path)
	if e, err := New(&Options{DataFile: path, MaxDataFileBytes: fi.Size() - 1}); err == nil {
		e.Close()
		t.Error("a file above the limit loaded")
	} else if !strings.Contains(err.Error(), "more than the limit") || !strings.Contains(err.Error(), "-max-data-file") {
		t.Errorf("above the limit: %v", err)
	}
	e, err := New(&Options{DataFile: path, MaxDataFileBytes: fi.Size()})
	if err != nil {
		t.Fatalf("a file at the limit: %v", err)
	}
	e.Close()
}
