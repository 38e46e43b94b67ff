package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"

	"github.com/acsgo/acsidentity"
	"github.com/acsgo/acsidentity/internal/testutil"
)

var prebuilt = flag.String("bin", "", "test this acsidentity-emulator `binary` instead of building the package (to show that a test fails on an older build)")

// buildCommand builds the command into a temporary directory and returns
// the binary's path, or returns the -bin binary.
func buildCommand(t *testing.T) string {
	t.Helper()
	if *prebuilt != "" {
		return *prebuilt
	}
	bin := filepath.Join(t.TempDir(), "acsidentity-emulator")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// startCommand runs the built command and returns the connection string it
// printed. The process is killed when the test ends.
func startCommand(t *testing.T, bin string, args ...string) (*exec.Cmd, string) {
	t.Helper()
	cmd, conn, _ := startCommandLogged(t, bin, args...)
	return cmd, conn
}

// startCommandLogged is startCommand that also returns what the command
// writes to standard error.
func startCommandLogged(t *testing.T, bin string, args ...string) (*exec.Cmd, string, *testutil.SyncBuffer) {
	t.Helper()
	cmd, line, stderr := launch(t, bin, args...)
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	if !strings.HasPrefix(line, "endpoint=") {
		t.Fatalf("no connection string, but %q (stderr: %s)", line, stderr)
	}
	return cmd, line, stderr
}

// launch starts the command and returns the first line it printed (empty
// if it printed none before exiting) and what it writes to standard error.
func launch(t *testing.T, bin string, args ...string) (*exec.Cmd, string, *testutil.SyncBuffer) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	stderr := &testutil.SyncBuffer{}
	cmd.Stderr = stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(stdout).ReadString('\n')
	return cmd, strings.TrimSpace(line), stderr
}

// TestKilledKeepsAcknowledged: every change the command acknowledged is on
// disk, so after SIGKILL (no chance to flush) and a restart on the same data
// file, every identity, custom ID, revocation and deletion is there.
func TestKilledKeepsAcknowledged(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary")
	}
	dir := t.TempDir()
	bin := buildCommand(t)
	data := filepath.Join(dir, "state.json")
	cmd, conn := startCommand(t, bin, "-addr", "127.0.0.1:0", "-data", data)
	options := &acsidentity.ClientOptions{ClientOptions: azcore.ClientOptions{APIVersion: "2025-03-02-preview"}}
	c, err := acsidentity.NewClientFromConnectionString(conn, options)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	// Acknowledged changes, made concurrently: 40 identities with custom IDs.
	const n = 40
	users := make([]acsidentity.CommunicationUserIdentifier, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			r, err := c.CreateUser(ctx, &acsidentity.CreateUserOptions{CustomID: fmt.Sprintf("user-%d", i)})
			if err != nil {
				t.Error(err)
				return
			}
			users[i] = r.User
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	revoked, err := c.GetToken(ctx, users[0], []acsidentity.TokenScope{acsidentity.TokenScopeChat}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.RevokeTokens(ctx, users[0], nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteUser(ctx, users[1], nil); err != nil {
		t.Fatal(err)
	}

	if err := cmd.Process.Kill(); err != nil { // SIGKILL: nothing is flushed on the way out
		t.Fatal(err)
	}
	cmd.Wait()

	_, conn2 := startCommand(t, bin, "-addr", "127.0.0.1:0", "-data", data)
	c2, err := acsidentity.NewClientFromConnectionString(conn2, options)
	if err != nil {
		t.Fatal(err)
	}
	for i := 2; i < n; i++ {
		r, err := c2.CreateUser(ctx, &acsidentity.CreateUserOptions{CustomID: fmt.Sprintf("user-%d", i)})
		if err != nil || r.User != users[i] {
			t.Fatalf("custom ID user-%d maps to %v (%v) after the kill, want %v", i, r.User, err, users[i])
		}
	}
	if _, err := c2.GetUser(ctx, users[1], nil); err == nil {
		t.Error("a deleted identity came back after the kill")
	}
	fresh, err := c2.GetToken(ctx, users[0], []acsidentity.TokenScope{acsidentity.TokenScopeChat}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for token, want := range map[string]string{revoked.Token: "revoked", fresh.Token: "valid"} {
		if got := introspect(t, conn2, token); got != want {
			t.Errorf("after the kill a token is %q, want %q", got, want)
		}
	}
}

// endpointHost returns the endpoint of a connection string and its
// host:port.
func endpointHost(conn string) (endpoint, host string) {
	endpoint, _, _ = strings.Cut(strings.TrimPrefix(conn, "endpoint="), ";")
	host = strings.TrimSuffix(endpoint[strings.Index(endpoint, "//")+2:], "/")
	return endpoint, host
}

// introspect asks the emulator of conn for a token's status.
func introspect(t *testing.T, conn, token string) string {
	t.Helper()
	endpoint, _, _ := strings.Cut(strings.TrimPrefix(conn, "endpoint="), ";")
	resp, err := httpPostJSON(strings.TrimSuffix(endpoint, "/")+"/.emulator/introspect", `{"token":"`+token+`"}`)
	if err != nil {
		t.Fatal(err)
	}
	return resp["status"].(string)
}

func httpPostJSON(url, body string) (map[string]any, error) {
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var m map[string]any
	return m, json.NewDecoder(resp.Body).Decode(&m)
}
