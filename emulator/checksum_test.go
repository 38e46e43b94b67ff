package emulator

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// savedFile starts an emulator on a new data file, makes an identity, a
// token and a revoked identity, closes it and returns the file's path and
// the token.
func savedFile(t *testing.T) (path, id, token string) {
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
	return path, id, tok.Token
}

// TestDataFileTamperEvident: an edit that keeps the JSON valid is refused
// with an error that names the file and the problem, and nothing loads.
func TestDataFileTamperEvident(t *testing.T) {
	t.Parallel()
	path, id, _ := savedFile(t)
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	unique := id[strings.LastIndexByte(id, '_')+1:]
	flipped := []byte(unique)
	if flipped[len(flipped)-1] == 'a' {
		flipped[len(flipped)-1] = 'b'
	} else {
		flipped[len(flipped)-1] = 'a'
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
		{"format 3", func(b []byte) []byte { return bytes.Replace(b, []byte(`"format": 2`), []byte(`"format": 3`), 1) }, "unsupported format 3"},
		{"no format", func(b []byte) []byte { return bytes.Replace(b, []byte(`"format": 2,`), nil, 1) }, `no "format" field`},
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

// resum recomputes the checksum of a format 2 file after an edit.
func resum(t *testing.T, b []byte) []byte {
	t.Helper()
	var env envelope
	if err := json.Unmarshal(b, &env); err != nil {
		t.Fatal(err)
	}
	return bytes.Replace(b, []byte(env.SHA256), fmt.Appendf(nil, "%x", sha256.Sum256(env.State)), 1)
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

// TestLegacyDataFile: a format 1 file still loads and is saved as format
// 2. Its tokens issued after the restart are valid even though a saved
// revocation is above the saved token sequence.
func TestLegacyDataFile(t *testing.T) {
	t.Parallel()
	path, id := legacyFile(t, "")
	srv, c := start(t, &Options{DataFile: path})
	const v = "2025-03-02-preview"
	_, tok := c.issue(id, v, "chat")
	if st := srv.Emulator.Introspect(tok.Token); st.Status != StatusValid {
		t.Errorf("a token issued after loading the file is %s, want valid", st.Status)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := decodeDataFile(b); err != nil || !bytes.Contains(b, []byte(`"format": 2`)) {
		t.Errorf("the file was not migrated to format 2 (%v):\n%s", err, b)
	}
}

// TestLegacyDataFileMissingKey: a format 1 file without its signing key is
// refused, never given a fresh key that would invalidate every token.
func TestLegacyDataFileMissingKey(t *testing.T) {
	t.Parallel()
	for _, drop := range []string{"signingKeySeed", "tokenSeq", "identities", "resourceId"} {
		path, _ := legacyFile(t, drop)
		e, err := New(&Options{DataFile: path})
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
		st, err := decodeDataFile(b)
		if err != nil {
			t.Fatal(err)
		}
		for _, si := range st.Identities {
			if si.RevokedSeq > st.TokenSeq {
				t.Fatalf("snapshot %d: identity %s revoked at %d, above the saved sequence %d", n, si.ID, si.RevokedSeq, st.TokenSeq)
			}
		}
	}
}
