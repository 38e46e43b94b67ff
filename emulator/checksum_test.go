package emulator

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/acsgo/acsidentity/emulator/internal/datafile"
	"github.com/acsgo/acsidentity/internal/testutil"
)

// savedFile starts an emulator on a new data file, makes an identity, a
// token and a revoked identity, and restarts it, so that they are in the
// file's full copy of the state; then it makes two more identities, which
// are in its journal, closes it and returns the file's path, the first
// identity, its token and one identity in the journal.
func savedFile(t *testing.T) (path, id, token, journaled string) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "state.json")
	srv, c := start(t, &Options{DataFile: path})
	const v = "2025-03-02-preview"
	id = c.createUser(v)
	_, tok := c.issue(id, v, "chat")
	revoked := c.createUser(v)
	mustStatus(t, c.send(req{method: "POST", path: idPath(revoked, "/:revokeAccessTokens", v)}), 204)
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	srv, c = start(t, &Options{DataFile: path})
	journaled = c.createUser(v)
	c.createUser(v)
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	return path, id, tok.Token, journaled
}

// flipLast changes the last character of s's unique part.
func flipLast(s string) (from, to []byte) {
	unique := s[strings.LastIndexByte(s, '_')+1:]
	flipped := []byte(unique)
	if flipped[len(flipped)-1] == 'a' {
		flipped[len(flipped)-1] = 'b'
	} else {
		flipped[len(flipped)-1] = 'a'
	}
	return []byte(unique), flipped
}

// testEnvelope is the start of a data file, as a test reads it.
type testEnvelope struct {
	Format int             `json:"format"`
	SHA256 string          `json:"sha256"`
	State  json.RawMessage `json:"state"`
}

// journalLines splits a data file into its envelope and journal lines.
func journalLines(t *testing.T, b []byte) ([]byte, [][]byte) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	var head json.RawMessage
	if err := dec.Decode(&head); err != nil {
		t.Fatal(err)
	}
	end := int(dec.InputOffset()) + 1
	return b[:end], bytes.SplitAfter(b[end:], []byte("\n"))[:bytes.Count(b[end:], []byte("\n"))]
}

// TestDataFileTamperEvident: an edit that keeps the JSON valid is refused
// with an error that names the file and the problem, and nothing loads.
func TestDataFileTamperEvident(t *testing.T) {
	t.Parallel()
	path, id, _, journaled := savedFile(t)
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	unique, flipped := flipLast(id)
	inJournal, flippedInJournal := flipLast(journaled)
	if n := bytes.Count(good, unique); n != 1 {
		t.Fatalf("the first identity is %d times in the file, want once (in the state)", n)
	}
	lines := func(b []byte, edit func([][]byte) [][]byte) []byte {
		env, l := journalLines(t, b)
		return bytes.Join(append([][]byte{env}, edit(l)...), nil)
	}
	seed := regexp.MustCompile(`"signingKeySeed": "([^"]+)"`)
	cases := []struct {
		name string
		edit func([]byte) []byte
		want string
	}{
		{"one hex digit of an identity", func(b []byte) []byte { return bytes.Replace(b, []byte(unique), flipped, 1) }, "checksum does not match"},
		{"another signing key", func(b []byte) []byte {
			return seed.ReplaceAll(b, []byte(`"signingKeySeed": "`+base64.StdEncoding.EncodeToString(make([]byte, 32))+`"`))
		}, "checksum does not match"},
		{"tokenSeq", func(b []byte) []byte {
			return regexp.MustCompile(`"tokenSeq": \d+`).ReplaceAll(b, []byte(`"tokenSeq": 0`))
		}, "checksum does not match"},
		{"no signingKeySeed", func(b []byte) []byte { return seed.ReplaceAll(b, []byte(`"signingKeySeed_": ""`)) }, "checksum does not match"},
		{"no checksum", func(b []byte) []byte { return regexp.MustCompile(`"sha256": "[0-9a-f]+",`).ReplaceAll(b, nil) }, `no "sha256" field`},
		{"no signingKeySeed, checksum recomputed", func(b []byte) []byte {
			return resum(t, seed.ReplaceAll(b, []byte(`"unused": ""`)))
		}, `"signingKeySeed" field is missing`},
		{"a short signing key, checksum recomputed", func(b []byte) []byte {
			return resum(t, seed.ReplaceAll(b, []byte(`"signingKeySeed": "AAAA"`)))
		}, "not a 32-byte Ed25519 seed"},
		{"a field of another version", func(b []byte) []byte {
			return resum(t, bytes.Replace(b, []byte(`"tokenSeq"`), []byte(`"futureField": 1, "tokenSeq"`), 1))
		}, `unknown field "futureField"`},
		{"format 5", func(b []byte) []byte { return bytes.Replace(b, []byte(`"format": 4`), []byte(`"format": 5`), 1) }, "unsupported format 5"},
		{"no format", func(b []byte) []byte { return bytes.Replace(b, []byte(`"format": 4,`), nil, 1) }, `no "format" field`},
		{"format 1, its checksum dropped", func(b []byte) []byte { return toLegacy(t, b) }, "-migrate-data"},
		{"one hex digit of an identity in the journal", func(b []byte) []byte { return bytes.Replace(b, inJournal, flippedInJournal, 1) }, "change 1 (line"},
		{"the journal's first line taken out", func(b []byte) []byte { return lines(b, func(l [][]byte) [][]byte { return l[1:] }) }, "change 1 (line"},
		{"the journal's lines swapped", func(b []byte) []byte {
			return lines(b, func(l [][]byte) [][]byte { return [][]byte{l[1], l[0]} })
		}, "checksum does not match"},
		{"a line that is not a change", func(b []byte) []byte {
			return lines(b, func(l [][]byte) [][]byte { return [][]byte{l[0], []byte("{}\n"), l[1]} })
		}, "is not a line"},
		{"a change of another version, its chain recomputed", func(b []byte) []byte {
			return resum(t, bytes.Replace(b, []byte(`"change":{`), []byte(`"change":{"futureField":1,`), 1))
		}, `unknown field "futureField"`},
		{"the state edited, checksum recomputed but not the chain", func(b []byte) []byte {
			env, _ := journalLines(t, resum(t, bytes.Replace(b, unique, flipped, 1)))
			_, old := journalLines(t, b)
			return bytes.Join(append([][]byte{env}, old...), nil)
		}, "change 1 (line"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			edited := tc.edit(bytes.Clone(good))
			if bytes.Equal(edited, good) {
				t.Fatal("the edit changed nothing")
			}
			file := filepath.Join(t.TempDir(), "state.json")
			if err := os.WriteFile(file, edited, 0o600); err != nil {
				t.Fatal(err)
			}
			e, err := New(&Options{DataFile: file})
			if err == nil {
				e.Close()
				t.Fatalf("the edited file loaded")
			}
			if !strings.Contains(err.Error(), file) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want it to name %s and say %q", err, file, tc.want)
			}
			if after, _ := os.ReadFile(file); !bytes.Equal(after, edited) {
				t.Error("the refused file was rewritten")
			}
		})
	}
}

// toLegacy rewrites a data file as format 1: its state's fields and
// "format": 1, no checksum.
func toLegacy(t *testing.T, b []byte) []byte {
	t.Helper()
	head, _ := journalLines(t, b)
	var env testEnvelope
	if err := json.Unmarshal(head, &env); err != nil {
		t.Fatal(err)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(env.State, &fields); err != nil {
		t.Fatal(err)
	}
	fields["format"] = json.RawMessage("1")
	out, err := json.Marshal(fields)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// resum recomputes the checksum of a data file after an edit, and its
// journal's chain.
func resum(t *testing.T, b []byte) []byte {
	t.Helper()
	env, lines := journalLines(t, b)
	var e testEnvelope
	if err := json.Unmarshal(env, &e); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(e.State)
	out := bytes.Replace(env, []byte(e.SHA256), fmt.Appendf(nil, "%x", sum), 1)
	for _, l := range lines {
		ch := l[len(datafile.LinePrefix)+64+len(datafile.LineMiddle) : len(l)-len(datafile.LineSuffix)]
		out, sum = datafile.AppendLine(out, sum, ch)
	}
	if bytes.HasPrefix(out, []byte(datafile.EnvelopeHead)) {
		copy(out[datafile.JournalEndOffset:], datafile.JournalEnd(int64(len(out)), sum))
	}
	return out
}

// legacyFile writes a data file in format 1 (no checksum) with one
// identity whose revocation is above the saved token sequence, as an
// emulator that read the sequence before the identities could save it.
func legacyFile(t *testing.T, drop string) (path, id string) {
	t.Helper()
	id = "8:acs:" + DevelopmentResourceID + "_00000000-1111-2222-3333-444444444444"
	fields := []string{
		`"format": 1`,
		`"resourceId": "` + DevelopmentResourceID + `"`,
		`"signingKeySeed": "` + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32)) + `"`,
		`"tokenSeq": 5`,
		`"identities": [{"id": "` + id + `", "created": "2025-07-10T21:39:39Z", "revokedAt": "2025-07-10T21:40:00Z", "revokedSeq": 7}]`,
		`"teamsExtensionAssignments": null`,
		`"entraAssignments": null`,
	}
	var kept []string
	for _, f := range fields {
		if drop == "" || !strings.HasPrefix(f, `"`+drop+`"`) {
			kept = append(kept, f)
		}
	}
	path = filepath.Join(t.TempDir(), "state.json")
	if err := os.WriteFile(path, []byte("{"+strings.Join(kept, ",\n")+"}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, id
}

// TestLegacyDataFile: a format 1 file loads only when asked, and is then
// saved as format 4, and the migration is logged. Its tokens issued after
// the restart are valid even though a saved revocation is above the saved
// token sequence.
func TestLegacyDataFile(t *testing.T) {
	t.Parallel()
	path, id := legacyFile(t, "")
	if e, err := New(&Options{DataFile: path}); err == nil {
		e.Close()
		t.Fatal("a format 1 file loaded without MigrateLegacyDataFile")
	} else if !strings.Contains(err.Error(), "format 1") || !strings.Contains(err.Error(), "MigrateLegacyDataFile") || !strings.Contains(err.Error(), path) {
		t.Errorf("the refusal %q does not name the file, its format and the option", err)
	}
	var logs testutil.SyncBuffer
	srv, c := start(t, &Options{DataFile: path, MigrateLegacyDataFile: true, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "migrated from format 1") {
		t.Errorf("the migration was not logged at Warn: %s", logs.String())
	}
	const v = "2025-03-02-preview"
	_, tok := c.issue(id, v, "chat")
	if st := srv.Emulator.Introspect(tok.Token); st.Status != StatusValid {
		t.Errorf("a token issued after loading the file is %s, want valid", st.Status)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := datafile.Decode(b, false); err != nil || !bytes.Contains(b, []byte(`"format": 4`)) {
		t.Errorf("the file was not migrated to format 4 (%v):\n%s", err, b)
	}
}

// TestLegacyDataFileMissingKey: a format 1 file without its signing key is
// refused, never given a fresh key that would invalidate every token.
func TestLegacyDataFileMissingKey(t *testing.T) {
	t.Parallel()
	for _, drop := range []string{"signingKeySeed", "tokenSeq", "identities", "resourceId"} {
		path, _ := legacyFile(t, drop)
		e, err := New(&Options{DataFile: path, MigrateLegacyDataFile: true})
		if err == nil {
			e.Close()
			t.Errorf("a format 1 file without %s loaded", drop)
			continue
		}
		if want := fmt.Sprintf("%q field is missing", drop); !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), path) {
			t.Errorf("without %s: %v, want it to name the file and say %s", drop, err, want)
		}
	}
}

// TestSavedSequenceCoversRevocations: no saved state has a revocation
// above its token sequence, however issues and revocations interleave
// with the save. (Above it, the tokens issued after a restart would count
// as revoked.)
func TestSavedSequenceCoversRevocations(t *testing.T) {
	t.Parallel()
	srv, c := start(t, nil)
	const v = "2025-03-02-preview"
	ids := make([]string, 4)
	for i := range ids {
		ids[i] = c.createUser(v)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, id := range ids {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				c.issue(id, v, "chat")
				c.send(req{method: "POST", path: idPath(id, "/:revokeAccessTokens", v)})
			}
		})
	}
	defer wg.Wait()
	defer close(stop)
	deadline := time.Now().Add(2 * time.Second)
	for n := 0; time.Now().Before(deadline); n++ {
		b, err := srv.Emulator.snapshot()
		if err != nil {
			t.Fatal(err)
		}
		df, err := datafile.Decode(b, false)
		if err != nil {
			t.Fatal(err)
		}
		st := df.State
		for _, si := range st.Identities {
			if si.RevokedSeq > st.TokenSeq {
				t.Fatalf("snapshot %d: identity %s revoked at %d, above the saved sequence %d", n, si.ID, si.RevokedSeq, st.TokenSeq)
			}
		}
	}
}
