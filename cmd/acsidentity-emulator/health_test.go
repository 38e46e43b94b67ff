package main

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
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

	dir := t.TempDir()
	file := func(name, content string) string {
		f := filepath.Join(dir, name)
		if err := os.WriteFile(f, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return f
	}
	ready := file("ready", secure.URL+"\n")
	readyClosed := file("ready-closed", "http://"+closed+"\n")
	garbage := file("garbage", "not a URL")

	for _, tc := range []struct {
		name string
		args []string
		code int
		says string
	}{
		{"-ready-file", []string{"-ready-file", ready}, 0, ""},
		{"-ready-file, nothing listening", []string{"-ready-file", readyClosed}, 1, "refused"},
		{"-addr wins over -ready-file", []string{"-ready-file", readyClosed, "-addr", hostOf(plain.URL)}, 0, ""},
		{"-ready-file missing", []string{"-ready-file", filepath.Join(dir, "none")}, 1, "no emulator is serving"},
		{"-ready-file garbage", []string{"-ready-file", garbage}, 1, "does not hold an emulator's URL"},
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

// TestHealthFollowsAddress: as in the image, where
// ACSIDENTITY_EMULATOR_READY_FILE and ACSIDENTITY_EMULATOR_ADDR are set
// for both the emulator and its HEALTHCHECK, the probe finds the emulator
// on the address it really serves on, whether the environment or -addr
// chose it; the file is gone once the emulator stops.
func TestHealthFollowsAddress(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary")
	}
	bin := buildCommand(t)
	for _, addrFlag := range []bool{false, true} {
		ready := filepath.Join(t.TempDir(), "ready")
		env := append(os.Environ(), envName("ready-file")+"="+ready, envName("addr")+"=127.0.0.1:1")
		var args []string
		if addrFlag {
			args = []string{"-addr", "127.0.0.1:0"}
		} else {
			env[len(env)-1] = envName("addr") + "=127.0.0.1:0"
		}
		emu := exec.Command(bin, args...)
		emu.Env = env
		stdout, _ := emu.StdoutPipe()
		var stderr bytes.Buffer
		emu.Stderr = &stderr
		if err := emu.Start(); err != nil {
			t.Fatal(err)
		}
		line := make([]byte, 256)
		if n, _ := stdout.Read(line); !strings.HasPrefix(string(line[:n]), "endpoint=http://127.0.0.1:") {
			emu.Process.Kill()
			t.Fatalf("-addr given %v: printed %q, stderr %s", addrFlag, line[:n], stderr.String())
		}
		probe := exec.Command(bin, "health")
		probe.Env = env
		if out, err := probe.CombinedOutput(); err != nil {
			t.Errorf("-addr given %v: health: %v\n%s", addrFlag, err, out)
		}
		emu.Process.Signal(syscall.SIGTERM)
		if err := emu.Wait(); err != nil {
			t.Fatalf("stopping: %v\n%s", err, stderr.String())
		}
		if _, err := os.Stat(ready); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("-ready-file left behind: %v", err)
		}
		probe = exec.Command(bin, "health")
		probe.Env = env
		if out, err := probe.CombinedOutput(); err == nil || !strings.Contains(string(out), "no emulator is serving") {
			t.Errorf("health after the stop: %v\n%s", err, out)
		}
	}
}
