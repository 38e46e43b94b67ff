//go:build unix

package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestCertOutPlantedLink: a link planted at -cert-out is replaced by the
// certificate, and what it pointed to is left alone.
func TestCertOutPlantedLink(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	victim := filepath.Join(dir, "victim")
	if err := os.WriteFile(victim, []byte("precious"), 0o600); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "emulator.crt")
	if err := os.Symlink(victim, out); err != nil {
		t.Fatal(err)
	}
	if err := writeCertificate(out, []byte("CERT")); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(victim); string(b) != "precious" {
		t.Errorf("the link's target now holds %q", b)
	}
	fi, err := os.Lstat(out)
	if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm() != 0o644 {
		t.Fatalf("-cert-out is %v (%v), want a regular file of mode 0644", fi.Mode(), err)
	}
	if b, _ := os.ReadFile(out); string(b) != "CERT" {
		t.Errorf("-cert-out holds %q", b)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".*.tmp")); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
	// Where it cannot write, it says so and leaves no temporary file.
	if err := writeCertificate(filepath.Join(dir, "no", "such", "dir.crt"), []byte("x")); err == nil {
		t.Error("a certificate written into a missing directory")
	}
	if err := writeCertificate("", []byte("x")); err == nil || !strings.Contains(err.Error(), "give -cert-out") {
		t.Errorf("no default directory: %v", err)
	}
}

// TestCertOutDefault: the default is in the user's cache directory, which
// is made if missing, not in the shared temporary directory.
func TestCertOutDefault(t *testing.T) {
	cache := filepath.Join(t.TempDir(), "cache")
	t.Setenv("XDG_CACHE_HOME", cache)
	t.Setenv("HOME", t.TempDir())
	want := filepath.Join(cache, "acsidentity-emulator", "emulator.crt")
	if got := defaultCertOut(); got != want {
		t.Fatalf("default -cert-out %q, want %q", got, want)
	}
	var stderr bytes.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{"-addr", "127.0.0.1:0", "-tls"}, pw, &stderr) }()
	line := make([]byte, 512)
	n, _ := pr.Read(line)
	if !strings.HasPrefix(string(line[:n]), "endpoint=https://") {
		cancel()
		t.Fatalf("printed %q, stderr %s", line[:n], stderr.String())
	}
	go io.Copy(io.Discard, pr)
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if b, err := os.ReadFile(want); err != nil || !bytes.HasPrefix(b, []byte("-----BEGIN CERTIFICATE-----")) {
		t.Errorf("the certificate is not at %s: %v", want, err)
	}
}

// TestCertOutPlantedForeignFile runs the real command as an unprivileged
// user against a 0666 file planted at -cert-out by another user: in a
// directory it owns, the file is replaced by a new one it owns, mode 0644;
// in a shared sticky directory such as /tmp, where it may not replace
// another's file, it refuses to start and says why, and the planted file
// keeps what it held. It needs root, to act as two other users.
func TestCertOutPlantedForeignFile(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary")
	}
	if os.Getuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("needs root to plant another user's file and run the emulator as a third user")
		}
		t.Skip("needs root to plant another user's file and run the emulator as a third user")
	}
	const emulatorUID, attackerUID = 4242, 4343
	// Directories the emulator's user can reach.
	base := t.TempDir()
	for d := base; d != filepath.Dir(d) && d != os.TempDir(); d = filepath.Dir(d) {
		os.Chmod(d, 0o755)
	}
	bin := filepath.Join(base, "acsidentity-emulator")
	src, err := os.ReadFile(buildCommand(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, src, 0o755); err != nil {
		t.Fatal(err)
	}
	plant := func(dir string) string {
		f := filepath.Join(dir, "emulator.crt")
		if err := os.WriteFile(f, []byte("attacker's CA"), 0o666); err != nil {
			t.Fatal(err)
		}
		os.Chmod(f, 0o666)
		if err := os.Chown(f, attackerUID, attackerUID); err != nil {
			t.Fatal(err)
		}
		return f
	}
	runAs := func(cert string) (*exec.Cmd, string) {
		cmd := exec.Command(bin, "-addr", "127.0.0.1:0", "-tls", "-cert-out", cert)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: emulatorUID, Gid: emulatorUID}}
		cmd.Env = []string{"HOME=/nonexistent"}
		return cmd, cert
	}

	own := filepath.Join(base, "own")
	os.Mkdir(own, 0o755)
	os.Chown(own, emulatorUID, emulatorUID)
	cmd, cert := runAs(plant(own))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line := make([]byte, 512)
	if n, _ := stdout.Read(line); !strings.HasPrefix(string(line[:n]), "endpoint=https://") {
		t.Fatalf("in its own directory: printed %q, stderr %s", line[:n], stderr.String())
	}
	fi, err := os.Lstat(cert)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	if b, _ := os.ReadFile(cert); st.Uid != emulatorUID || fi.Mode().Perm() != 0o644 || !bytes.HasPrefix(b, []byte("-----BEGIN CERTIFICATE-----")) {
		t.Errorf("the certificate is owned by %d, mode %v, holds %.20q; want %d, 0644, a certificate", st.Uid, fi.Mode().Perm(), b, emulatorUID)
	}

	shared := filepath.Join(base, "shared")
	os.Mkdir(shared, 0o777)
	os.Chmod(shared, 0o777|os.ModeSticky)
	cmd, cert = runAs(plant(shared))
	var stderr2 bytes.Buffer
	cmd.Stderr = &stderr2
	stdout, _ = cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	n, _ := stdout.Read(line) // the connection string, or EOF when it exits
	if n > 0 {
		cmd.Process.Kill()
		t.Errorf("in a sticky directory: it started serving (%q) with another user's file at -cert-out", line[:n])
	}
	err = cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.Contains(stderr2.String(), "another user's file") {
		t.Errorf("in a sticky directory: %v, %s; want exit 1 saying it may not replace another user's file", err, stderr2.String())
	}
	if b, _ := os.ReadFile(cert); string(b) != "attacker's CA" {
		t.Errorf("the planted file now holds %.20q", b)
	}
	if left, _ := filepath.Glob(filepath.Join(shared, ".*.tmp")); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
}
