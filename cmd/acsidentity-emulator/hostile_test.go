package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/acsgo/acsidentity/emulator"
	"github.com/acsgo/acsidentity/internal/hmacauth"
)

// signedDo sends a request to endpoint with the Host header host, signed
// with the development key for that host, and returns the status and body.
func signedDo(t *testing.T, endpoint, method, target, host string, body []byte) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, strings.TrimSuffix(endpoint, "/")+target, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	raw, _ := base64.StdEncoding.DecodeString(emulator.DevelopmentKey)
	date := time.Now().UTC().Format(http.TimeFormat)
	hash := hmacauth.ContentHash(body)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(hmacauth.DateHeader, date)
	req.Header.Set(hmacauth.ContentHashHeader, hash)
	req.Header.Set("Authorization", hmacauth.AuthorizationPrefix+hmacauth.NewKey(raw).Signature(method, req.URL.RequestURI(), date, host, hash))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out bytes.Buffer
	out.ReadFrom(resp.Body)
	return resp.StatusCode, out.Bytes()
}

// createWith creates an identity with the JSON body given as it is (so
// that its escapes reach the emulator unchanged) and returns the status
// and the identity's ID or the error code.
func createWith(t *testing.T, endpoint, host, body string) (int, string) {
	t.Helper()
	status, b := signedDo(t, endpoint, "POST", "/identities?api-version=2025-03-02-preview", host, []byte(body))
	var out struct {
		Identity struct{ ID string } `json:"identity"`
		Error    struct{ Code, Message string }
	}
	json.Unmarshal(b, &out)
	if status == http.StatusCreated {
		return status, out.Identity.ID
	}
	return status, out.Error.Code + ": " + out.Error.Message
}

// TestLoneSurrogatesRefused runs the real command: a custom ID with an
// escaped UTF-16 surrogate that lacks its other half (as JavaScript's
// JSON.stringify sends one) is refused with 400, where encoding/json would
// read it as U+FFFD and so fold different IDs into one identity. U+FFFD
// itself, raw or escaped, stays a valid custom ID of its own, and a
// surrogate pair is the character it encodes.
func TestLoneSurrogatesRefused(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary")
	}
	_, conn := startCommand(t, buildCommand(t), "-addr", "127.0.0.1:0")
	endpoint, host := endpointHost(conn)
	for _, id := range []string{`a\ud800`, `a\udbff`, `a\udc00`, `a\uDFFF`, `a\ud800\u0041`, `a\udc00\ud800`, `\ud83d`, `a\ud800\\`} {
		status, got := createWith(t, endpoint, host, `{"customId":"`+id+`"}`)
		if status != http.StatusBadRequest || !strings.Contains(got, "ValidationError") || !strings.Contains(got, "surrogate") {
			t.Errorf("custom ID %s: %d %s, want 400 ValidationError naming the surrogate", id, status, got)
		}
	}
	ids := map[string]string{}
	for _, tc := range []struct{ name, body string }{
		{"U+FFFD escaped", `{"customId":"a\ufffd"}`},
		{"U+FFFD raw", "{\"customId\":\"a\uFFFD\"}"},
		{"surrogate pair", `{"customId":"a\ud83d\ude00"}`},
		{"the pair's character raw", "{\"customId\":\"a\U0001F600\"}"},
		{"a backslash and ud800", `{"customId":"a\\ud800"}`},
	} {
		status, id := createWith(t, endpoint, host, tc.body)
		if status != http.StatusCreated {
			t.Fatalf("%s: %d %s", tc.name, status, id)
		}
		ids[tc.name] = id
	}
	if ids["U+FFFD escaped"] != ids["U+FFFD raw"] || ids["surrogate pair"] != ids["the pair's character raw"] {
		t.Errorf("one string spelled two ways gave two identities: %v", ids)
	}
	if ids["U+FFFD raw"] == ids["surrogate pair"] || ids["U+FFFD raw"] == ids["a backslash and ud800"] || ids["surrogate pair"] == ids["a backslash and ud800"] {
		t.Errorf("different strings gave one identity: %v", ids)
	}
}

// TestHostChecked runs the real command: on any address it answers only
// requests addressed to a loopback name, an IP address or the machine's
// name (a page that rebinds its own name to 127.0.0.1 gets 403, even with
// a valid signature), unless -allow-host (or its variable) names another
// or is "*".
func TestHostChecked(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary")
	}
	hostname, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	bin := buildCommand(t)
	_, conn := startCommand(t, bin, "-addr", "127.0.0.1:0")
	endpoint, hostPort := endpointHost(conn)
	_, port, _ := net.SplitHostPort(hostPort)
	for host, want := range map[string]int{
		"rebind.attacker.example:" + port:    http.StatusForbidden,
		"rebind.attacker.example":            http.StatusForbidden,
		"127.0.0.1.attacker.example:" + port: http.StatusForbidden,
		"localhost.attacker.example:" + port: http.StatusForbidden,
		"127.0.0.1:" + port:                  http.StatusCreated,
		"localhost:" + port:                  http.StatusCreated,
		"LocalHost.:" + port:                 http.StatusCreated,
		"app.localhost:" + port:              http.StatusForbidden,
		"[::1]:" + port:                      http.StatusCreated,
		"127.8.9.10:" + port:                 http.StatusCreated,
		"192.0.2.1:" + port:                  http.StatusCreated,
		hostname + ":" + port:                http.StatusCreated,
	} {
		if got, msg := createWith(t, endpoint, host, `{}`); got != want || want == http.StatusForbidden && !strings.Contains(msg, "HostNotAllowed") {
			t.Errorf("Host %s: %d %s, want %d", host, got, msg, want)
		}
	}
	// The extension routes need no credentials, so they are checked too.
	req, _ := http.NewRequest("GET", strings.TrimSuffix(endpoint, "/")+"/.emulator/health", nil)
	req.Host = "rebind.attacker.example:" + port
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("health check with a foreign Host: %v %v, want 403", resp, err)
	} else {
		resp.Body.Close()
	}

	_, conn = startCommand(t, bin, "-addr", "127.0.0.1:0", "-allow-host", "dev.example.test", "-allow-host", "other.example.test", "-allow-host", ".localhost")
	endpoint, _ = endpointHost(conn)
	for host, want := range map[string]int{"dev.example.test": 201, "Other.Example.Test:443": 201, "app.localhost:1": 201, "rebind.attacker.example": 403} {
		if got, msg := createWith(t, endpoint, host, `{}`); got != want {
			t.Errorf("-allow-host, Host %s: %d %s, want %d", host, got, msg, want)
		}
	}

	// On every interface, as in a container: the same check, and the
	// variable a compose file sets to allow the service's name.
	t.Setenv(envName("allow-host"), "emulator other.example.test")
	_, conn = startCommand(t, bin, "-addr", "0.0.0.0:0")
	endpoint, _ = endpointHost(conn)
	for host, want := range map[string]int{"evil.example:10780": 403, "emulator:10780": 201, "other.example.test": 201, "127.0.0.1": 201} {
		if got, msg := createWith(t, endpoint, host, `{}`); got != want {
			t.Errorf("on 0.0.0.0 with %s, Host %s: %d %s, want %d", envName("allow-host"), host, got, msg, want)
		}
	}
	_, conn = startCommand(t, bin, "-addr", "0.0.0.0:0", "-allow-host", "*")
	endpoint, _ = endpointHost(conn)
	if got, msg := createWith(t, endpoint, "evil.example:10780", `{}`); got != http.StatusCreated {
		t.Errorf("-allow-host '*', Host evil.example: %d %s, want 201", got, msg)
	}
	code, stderr := runToExit(t, bin, "-addr", "127.0.0.1:0", "-allow-host", "emulator:10780")
	if code != 1 || !strings.Contains(stderr, `"emulator:10780" has a port`) {
		t.Errorf("-allow-host emulator:10780: exit %d, %s", code, stderr)
	}
}

// runToExit runs the command and, if it starts serving instead of
// exiting, stops it: it returns the exit code (or -1 if it served), and
// what it wrote to standard error.
func runToExit(t *testing.T, bin string, args ...string) (int, string) {
	t.Helper()
	cmd, line, stderr := launch(t, bin, args...)
	if strings.HasPrefix(line, "endpoint=") {
		cmd.Process.Kill()
		cmd.Wait()
		return -1, stderr.String()
	}
	cmd.Wait()
	return cmd.ProcessState.ExitCode(), stderr.String()
}

// TestLegacyDataFileNeedsFlag runs the real command on a data file of
// format 1, which has no checksum: without -migrate-data it refuses to
// start and says which flag loads the file; with it, it loads the file,
// says so, and saves it with a checksum.
func TestLegacyDataFileNeedsFlag(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary")
	}
	bin := buildCommand(t)
	data := filepath.Join(t.TempDir(), "state.json")
	id := "8:acs:" + emulator.DevelopmentResourceID + "_00000000-1111-2222-3333-444444444444"
	legacy := `{"format": 1, "resourceId": "` + emulator.DevelopmentResourceID + `",
"signingKeySeed": "` + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32)) + `", "tokenSeq": 0,
"identities": [{"id": "` + id + `", "customId": "alice", "created": "2025-07-10T21:39:39Z"}],
"teamsExtensionAssignments": null, "entraAssignments": null}
`
	if err := os.WriteFile(data, []byte(legacy), 0o600); err != nil {
		t.Fatal(err)
	}
	code, stderr := runToExit(t, bin, "-addr", "127.0.0.1:0", "-data", data)
	if code <= 0 {
		t.Fatalf("the command served a format 1 data file without -migrate-data (exit %d): %s", code, stderr)
	}
	if !strings.Contains(stderr, "format 1") || !strings.Contains(stderr, "-migrate-data") || !strings.Contains(stderr, data) {
		t.Errorf("the refusal does not name the file, its format and the flag: %s", stderr)
	}
	if b, _ := os.ReadFile(data); string(b) != legacy {
		t.Error("the refused file was rewritten")
	}

	_, conn, logs := startCommandLogged(t, bin, "-addr", "127.0.0.1:0", "-data", data, "-migrate-data")
	if !strings.Contains(logs.String(), "migrated") || !strings.Contains(logs.String(), "format 1") {
		t.Errorf("the migration was not reported on standard error: %s", logs)
	}
	endpoint, host := endpointHost(conn)
	if status, got := createWith(t, endpoint, host, `{"customId":"alice"}`); status != http.StatusCreated || got != id {
		t.Errorf("after the migration custom ID alice is %d %s, want %s", status, got, id)
	}
	b, err := os.ReadFile(data)
	if err != nil || !bytes.Contains(b, []byte(`"sha256"`)) || bytes.Contains(b, []byte(`"format": 1`)) {
		t.Errorf("the file was not saved with a checksum (%v):\n%.300s", err, b)
	}
}
