package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/acsgo/acsidentity/emulator"
)

// TestRunSeedAndInspect: -seed creates its identities at start, the
// inspection endpoint lists them, the issuer is announced, and a seed
// file that is wrong stops the command with an error that names it.
func TestRunSeedAndInspect(t *testing.T) {
	dir := t.TempDir()
	seed := filepath.Join(dir, "seed.json")
	os.WriteFile(seed, []byte(`{"identities":[{"customId":"alice"},{"customId":"bob"}]}`), 0o600)
	pr, pw := io.Pipe()
	var errb bytes.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int)
	go func() {
		done <- run(ctx, []string{"-addr", "127.0.0.1:0", "-seed", seed, "-data", filepath.Join(dir, "state.json")}, pw, &errb)
		pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	go io.Copy(io.Discard, pr)
	endpoint, _, _ := strings.Cut(strings.TrimPrefix(strings.TrimSpace(line), "endpoint="), "/;accesskey=")
	resp, err := http.Get(endpoint + emulator.IdentitiesPath)
	if err != nil {
		t.Fatal(err)
	}
	var page struct{ Value []emulator.IdentityRecord }
	json.NewDecoder(resp.Body).Decode(&page)
	resp.Body.Close()
	if resp.StatusCode != 200 || len(page.Value) != 2 {
		t.Errorf("identities: %d %+v, want the two seeded", resp.StatusCode, page.Value)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	// A second start says what it loaded.
	ctx, cancel = context.WithCancel(context.Background())
	pr2, pw2 := io.Pipe()
	var errb2 bytes.Buffer
	go func() {
		done <- run(ctx, []string{"-addr", "127.0.0.1:0", "-seed", seed, "-data", filepath.Join(dir, "state.json")}, pw2, &errb2)
		pw2.Close()
	}()
	if _, err := bufio.NewReader(pr2).ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	go io.Copy(io.Discard, pr2)
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("second start: exit %d: %s", code, errb2.String())
	}
	if !regexp.MustCompile(`data file .*state.json loaded: 2 identities, \d+ changes replayed`).MatchString(errb2.String()) {
		t.Errorf("the second start does not say what it loaded:\n%s", errb2.String())
	}
	if want := "development OIDC issuer (signs for anyone who can reach it) at " + endpoint + emulator.OIDCIssuerPath; !strings.Contains(errb.String(), want) {
		t.Errorf("stderr does not say %q:\n%s", want, errb.String())
	}

	os.WriteFile(seed, []byte(`{"identities":[{"name":"x"}]}`), 0o600)
	var out, bad bytes.Buffer
	if code := run(context.Background(), []string{"-addr", "127.0.0.1:0", "-seed", seed}, &out, &bad); code != 1 || !strings.Contains(bad.String(), seed) || !strings.Contains(bad.String(), "unknown field") {
		t.Errorf("a bad seed file: exit %d, %s", code, bad.String())
	}
}

// TestRunRefusesCutJournal: a data file whose journal lost its last line
// stops the command at start with the remedy.
func TestRunRefusesCutJournal(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "state.json")
	srv, err := emulator.Start(&emulator.Options{DataFile: data})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := srv.Emulator.Seed([]emulator.SeedIdentity{{CustomID: "a"}, {CustomID: "b"}}); err != nil {
		t.Fatal(err)
	}
	srv.Close()
	b, _ := os.ReadFile(data)
	cut := b[:bytes.LastIndexByte(b[:len(b)-1], '\n')+1]
	os.WriteFile(data, cut, 0o600)
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"-addr", "127.0.0.1:0", "-data", data}, &out, &errb)
	if code != 1 || !strings.Contains(errb.String(), "lines were cut from its end") || !strings.Contains(errb.String(), "restore a good copy, or remove the file") {
		t.Errorf("exit %d: %s", code, errb.String())
	}
}
