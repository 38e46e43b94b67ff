package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/acsgo/acsidentity/emulator"
	"github.com/acsgo/acsidentity/internal/hmacauth"
)

// TestBinary builds the command, runs it on a free port, makes a signed
// request with the printed connection string and stops it with SIGTERM.
func TestBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "acsidentity-emulator")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	data := filepath.Join(dir, "state.json")
	cmd := exec.Command(bin, "-addr", "127.0.0.1:0", "-data", data, "-v")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("reading the connection string: %v (stderr %s)", err, stderr.String())
	}
	line = strings.TrimSpace(line)
	endpoint, key, ok := strings.Cut(strings.TrimPrefix(line, "endpoint="), ";accesskey=")
	if !ok || !strings.HasPrefix(line, "endpoint=http://127.0.0.1:") || strings.HasSuffix(line, ":0/;accesskey="+key) {
		t.Fatalf("bad connection string line %q", line)
	}
	if key != emulator.DevelopmentKey {
		t.Fatalf("the command printed a key that is not the development key")
	}
	raw, _ := base64.StdEncoding.DecodeString(key)
	k := hmacauth.NewKey(raw)
	body := []byte(`{"createTokenWithScopes":["chat"]}`)
	req, _ := http.NewRequest("POST", strings.TrimSuffix(endpoint, "/")+"/identities?api-version=2023-10-01", bytes.NewReader(body))
	date := time.Now().UTC().Format(http.TimeFormat)
	hash := hmacauth.ContentHash(body)
	req.Header.Set("x-ms-date", date)
	req.Header.Set("x-ms-content-sha256", hash)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", hmacauth.AuthorizationPrefix+k.Signature("POST", req.URL.RequestURI(), date, req.URL.Host, hash))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	rb, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 201 {
		t.Fatalf("create: %d %s", resp.StatusCode, rb)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit: %v (stderr %s)", err, stderr.String())
	}
	logs := stderr.String()
	if !strings.Contains(logs, "status=201") || !strings.Contains(logs, "path=/identities") {
		t.Errorf("-v did not log the request: %s", logs)
	}
	if strings.Contains(logs, key) || strings.Contains(logs, "eyJ") || strings.Contains(logs, "HMAC-SHA256") {
		t.Errorf("stderr leaks a secret: %s", logs)
	}
	st, err := os.ReadFile(data)
	if err != nil || !bytes.Contains(st, []byte(`"8:acs:`)) {
		t.Errorf("the data file does not hold the identity: %v", err)
	}
}

func TestRunFlags(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"-h"}, &out, &errb); code != 0 {
		t.Fatalf("-h exit %d", code)
	}
	for _, f := range []string{"-addr", "-key", "-resource-id", "-data", "-tls", "-cert-out", "-allow-bearer", "-throttle", "-fault", "-v", "-max-conns", "-allow-host", "-migrate-data", "-journal-limit", "-ready-file"} {
		if !strings.Contains(errb.String(), f) {
			t.Errorf("-h does not document %s", f)
		}
	}
	if code := run(context.Background(), []string{"-fault", "bogus"}, &out, &errb); code != 2 {
		t.Errorf("bad -fault: exit %d, want 2", code)
	}
	if code := run(context.Background(), []string{"-allow-host", ""}, &out, &errb); code != 2 {
		t.Errorf("empty -allow-host: exit %d, want 2", code)
	}
	for _, flag := range []string{"-max-conns", "-journal-limit"} {
		if code := run(context.Background(), []string{flag, "-1", "-addr", "127.0.0.1:0"}, &out, &errb); code != 1 {
			t.Errorf("negative %s: exit %d, want 1", flag, code)
		}
	}
	if code := run(context.Background(), []string{"extra"}, &out, &errb); code != 2 {
		t.Errorf("extra argument: exit %d, want 2", code)
	}
	if code := run(context.Background(), []string{"-key", "%%%", "-addr", "127.0.0.1:0"}, &out, &errb); code != 1 {
		t.Errorf("bad key: exit %d, want 1", code)
	}
}

// TestRunTLS runs the command in process with -tls and a fault, and stops
// it by cancelling its context.
func TestRunTLS(t *testing.T) {
	dir := t.TempDir()
	cert := filepath.Join(dir, "emu.crt")
	pr, pw := io.Pipe()
	var errb bytes.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int)
	go func() {
		done <- run(ctx, []string{"-addr", "127.0.0.1:0", "-tls", "-cert-out", cert, "-fault", "503:1"}, pw, &errb)
		pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	go io.Copy(io.Discard, pr)
	if !strings.HasPrefix(line, "endpoint=https://127.0.0.1:") {
		t.Fatalf("line %q", line)
	}
	pem, err := os.ReadFile(cert)
	if err != nil || !bytes.Contains(pem, []byte("BEGIN CERTIFICATE")) {
		t.Fatalf("certificate file: %v", err)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
}
