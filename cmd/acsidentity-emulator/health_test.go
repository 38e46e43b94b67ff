package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"testing"

	"github.com/acsgo/acsidentity/emulator"
)

// TestHealth runs the probe against real emulators over HTTP and HTTPS and
// against things that are not a serving emulator.
func TestHealth(t *testing.T) {
	t.Parallel()
	hostOf := func(url string) string { return url[strings.Index(url, "://")+3:] }
	plain, err := emulator.Listen("127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	secure, err := emulator.Listen("127.0.0.1:0", &emulator.Options{TLS: true})
	if err != nil {
		t.Fatal(err)
	}
	defer secure.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"status":"ok"}`)) // not the emulator's answer
	}))
	defer other.Close()
	failing := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "down", http.StatusServiceUnavailable)
	}))
	defer failing.Close()

	for _, tc := range []struct {
		name string
		args []string
		code int
		says string
	}{
		{"emulator over http", []string{"-addr", hostOf(plain.URL)}, 0, ""},
		{"emulator over https", []string{"-addr", hostOf(secure.URL)}, 0, ""},
		{"nothing listening", []string{"-addr", closed}, 1, "refused"},
		{"another server", []string{"-addr", hostOf(other.URL)}, 1, "not as the emulator does"},
		{"503 over https", []string{"-addr", hostOf(failing.URL)}, 1, "503"},
		{"not host:port", []string{"-addr", "10780"}, 2, "not host:port"},
		{"extra argument", []string{"now"}, 2, "unexpected"},
		{"help", []string{"-h"}, 0, "container health checks"},
	} {
		var stderr bytes.Buffer
		if code := health(context.Background(), tc.args, &stderr); code != tc.code {
			t.Errorf("%s: exit %d, want %d (stderr %q)", tc.name, code, tc.code, stderr.String())
		}
		if !strings.Contains(stderr.String(), tc.says) {
			t.Errorf("%s: stderr %q does not say %q", tc.name, stderr.String(), tc.says)
		}
	}
}

// TestHealthSubcommand runs "acsidentity-emulator health" as the image's
// HEALTHCHECK does: the real binary, against a running one, and against
// the same address once it has stopped.
func TestHealthSubcommand(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary")
	}
	bin := buildCommand(t)
	cmd, conn := startCommand(t, bin, "-addr", "127.0.0.1:0", "-tls", "-cert-out", t.TempDir()+"/emu.crt")
	addr := strings.TrimSuffix(strings.TrimPrefix(strings.Split(conn, ";")[0], "endpoint=https://"), "/")
	if out, err := exec.Command(bin, "health", "-addr", addr).CombinedOutput(); err != nil {
		t.Fatalf("health on a serving emulator: %v\n%s", err, out)
	}
	cmd.Process.Kill()
	cmd.Wait()
	out, err := exec.Command(bin, "health", "-addr", addr).CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Fatalf("health on a stopped emulator: %v, want exit 1\n%s", err, out)
	}
}
