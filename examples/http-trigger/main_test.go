package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/acsgo/acsidentity/emulator"
	"github.com/acsgo/acsidentity/internal/testutil"
)

// TestAsTheFunctionsHostRunsIt builds the handler (CGO_ENABLED=0, as the
// README builds it), starts it in this folder with
// FUNCTIONS_CUSTOMHANDLER_PORT and the app setting as environment
// variables, waits for it to listen, and forwards GET /api/token with the
// host's headers, as `func start` does with enableForwardingHttpRequest.
func TestAsTheFunctionsHostRunsIt(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the handler binary")
	}
	t.Parallel()
	bin := filepath.Join(t.TempDir(), "handler")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	var host map[string]any
	readJSON(t, "host.json", &host)
	if ch, _ := host["customHandler"].(map[string]any); ch == nil || ch["enableForwardingHttpRequest"] != true {
		t.Fatal("host.json: customHandler.enableForwardingHttpRequest is not true")
	}

	em, err := emulator.Start(nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { em.Close() })

	for _, tc := range []struct {
		name string
		env  []string
	}{
		{"connection string", []string{"COMMUNICATION_SERVICES_CONNECTION_STRING=" + em.ConnectionString()}},
		{"nothing set: embedded emulator", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			port := freePort(t)
			cmd := exec.Command(bin)
			cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "FUNCTIONS_CUSTOMHANDLER_PORT=" + strconv.Itoa(port)}, tc.env...)
			logs := &testutil.SyncBuffer{}
			cmd.Stdout, cmd.Stderr = logs, logs
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })

			url := fmt.Sprintf("http://127.0.0.1:%d/api/token", port)
			var res *http.Response
			for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
				req, _ := http.NewRequest("GET", url, nil)
				req.Header.Set("X-Azure-Functions-InvocationId", "9c4e0c0e-0000-4000-8000-000000000001")
				req.Header.Set("User-Agent", "Azure-Functions-Host/4.0")
				if res, err = http.DefaultClient.Do(req); err == nil || time.Now().After(deadline) {
					break
				}
			}
			if err != nil {
				t.Fatalf("the handler did not answer within 60 s: %v\n%s", err, logs.String())
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
				t.Fatalf("GET /api/token: %d %s\n%s", res.StatusCode, body, logs.String())
			}
			var got struct {
				User      map[string]string `json:"user"`
				Token     string            `json:"token"`
				ExpiresOn string            `json:"expiresOn"`
			}
			d := json.NewDecoder(strings.NewReader(string(body)))
			d.DisallowUnknownFields()
			if err := d.Decode(&got); err != nil {
				t.Fatalf("body %s: %v", body, err)
			}
			id := got.User["communicationUserId"]
			exp, err := time.Parse(time.RFC3339, got.ExpiresOn)
			if !strings.HasPrefix(id, "8:acs:") || len(got.User) != 1 || strings.Count(got.Token, ".") != 2 || err != nil || !exp.After(time.Now().Add(23*time.Hour)) {
				t.Fatalf("body = %s, want {user:{communicationUserId}, token, expiresOn} for a 24 h token", body)
			}
			if strings.Contains(logs.String(), got.Token) {
				t.Error("the token is in the log")
			}
			if tc.env == nil {
				if !strings.Contains(logs.String(), "NOT Azure") {
					t.Errorf("the log does not say the emulator is not Azure:\n%s", logs.String())
				}
				return
			}
			st := em.Emulator.Introspect(got.Token)
			// The token's exp is expiresOn's whole second.
			if st.Status != emulator.StatusValid || st.User != id || strings.Join(st.Scopes, ",") != "voip" || !st.ExpiresOn.Equal(exp.Truncate(time.Second)) {
				t.Fatalf("the emulator says %+v, want a valid voip token for %s expiring %s", st, id, exp)
			}
		})
	}
}

// TestServerLimits: a request whose headers are too large is refused, and a
// client that sends its headers slowly is cut off, so that such clients
// cannot hold connections and memory (300 slow-header connections held
// 425 MB in the first version, which had no timeouts).
func TestServerLimits(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the handler binary")
	}
	t.Parallel()
	bin := filepath.Join(t.TempDir(), "handler")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	port := freePort(t)
	cmd := exec.Command(bin)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "FUNCTIONS_CUSTOMHANDLER_PORT=" + strconv.Itoa(port)}
	logs := &testutil.SyncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the handler did not listen within 60 s\n%s", logs.String())
		}
	}

	req, _ := http.NewRequest("GET", "http://"+addr+"/api/token", nil)
	req.Header.Set("X-Padding", strings.Repeat("x", 100<<10))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("100 KiB of headers: %d, want 431", res.StatusCode)
	}

	// Headers that never end: the server closes the connection after its
	// read-header timeout. The deadline here is far longer, for a loaded
	// machine; without a timeout the read would end at it instead.
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, "GET /api/token HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(2 * time.Minute))
	_, err = io.Copy(io.Discard, c)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("the server kept a connection whose headers never ended for 2 minutes")
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func readJSON(t *testing.T, name string, v any) {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}
