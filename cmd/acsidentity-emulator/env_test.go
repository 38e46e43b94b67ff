package main

import (
	"bytes"
	"flag"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func TestFlagsFromEnv(t *testing.T) {
	t.Parallel()
	newFlags := func() (*flag.FlagSet, *bool, *string, *time.Duration, *faultList) {
		fs := flag.NewFlagSet("test", flag.ContinueOnError)
		var faults faultList
		fs.Var(&faults, "fault", "")
		return fs, fs.Bool("tls", false, ""), fs.String("cert-out", "/tmp/x.crt", ""), fs.Duration("body-timeout", time.Second, ""), &faults
	}

	fs, tls, certOut, timeout, faults := newFlags()
	if err := fs.Parse([]string{"-body-timeout", "5s"}); err != nil {
		t.Fatal(err)
	}
	err := flagsFromEnv(fs, []string{
		"PATH=/bin",
		"ACSIDENTITY_EMULATOR_TLS=true",
		"ACSIDENTITY_EMULATOR_CERT_OUT=/data/emulator.crt",
		"ACSIDENTITY_EMULATOR_BODY_TIMEOUT=1m", // the command line's 5s wins
		"ACSIDENTITY_EMULATOR_FAULT=503:1:create  drop:1",
	})
	if err != nil {
		t.Fatal(err)
	}
	if !*tls || *certOut != "/data/emulator.crt" || *timeout != 5*time.Second || faults.String() != "503:1:create,drop:1" {
		t.Errorf("tls %v, cert-out %q, body-timeout %v, faults %q", *tls, *certOut, *timeout, faults.String())
	}

	for _, tc := range []struct{ env, says string }{
		{"ACSIDENTITY_EMULATOR_TSL=true", "ACSIDENTITY_EMULATOR_TSL is not a setting of the emulator; the settings are ACSIDENTITY_EMULATOR_BODY_TIMEOUT, ACSIDENTITY_EMULATOR_CERT_OUT, ACSIDENTITY_EMULATOR_FAULT, ACSIDENTITY_EMULATOR_TLS"},
		{"ACSIDENTITY_EMULATOR_TLS=yes", "ACSIDENTITY_EMULATOR_TLS: not a valid value for -tls"},
		{"ACSIDENTITY_EMULATOR_FAULT=503:1 bogus", "ACSIDENTITY_EMULATOR_FAULT: not a valid value for -fault"},
	} {
		fs, _, _, _, _ := newFlags()
		fs.Parse(nil)
		err := flagsFromEnv(fs, []string{tc.env})
		if err == nil || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("%s: error %v, want one saying %q", tc.env, err, tc.says)
		}
	}
}

func TestProbeAddr(t *testing.T) {
	t.Parallel()
	for env, want := range map[string]string{
		"":                "127.0.0.1:10780",
		":10781":          "127.0.0.1:10781",
		"0.0.0.0:10782":   "127.0.0.1:10782",
		"[::]:10783":      "127.0.0.1:10783",
		"10.1.2.3:10784":  "10.1.2.3:10784",
		"127.0.0.1:0":     "127.0.0.1:10780", // a free port cannot be guessed
		"not an address":  "127.0.0.1:10780",
		"localhost:10785": "localhost:10785",
	} {
		getenv := func(name string) string {
			if name == "ACSIDENTITY_EMULATOR_ADDR" {
				return env
			}
			return ""
		}
		if got := probeAddr(getenv, "127.0.0.1:10780"); got != want {
			t.Errorf("ACSIDENTITY_EMULATOR_ADDR=%q: probe %q, want %q", env, got, want)
		}
	}
}

// TestEnvironmentBinary configures the real binary by environment only,
// as a container whose arguments cannot be set does, and probes it with
// the health subcommand, which finds the port in the same variable.
func TestEnvironmentBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary")
	}
	bin := buildCommand(t)
	cert := t.TempDir() + "/emu.crt"
	t.Setenv("ACSIDENTITY_EMULATOR_ADDR", "127.0.0.1:0")
	t.Setenv("ACSIDENTITY_EMULATOR_TLS", "1")
	t.Setenv("ACSIDENTITY_EMULATOR_CERT_OUT", cert)
	_, conn := startCommand(t, bin)
	if !strings.HasPrefix(conn, "endpoint=https://127.0.0.1:") {
		t.Fatalf("connection string %q: the environment did not turn on -tls", conn)
	}
	if _, err := os.Stat(cert); err != nil {
		t.Fatalf("ACSIDENTITY_EMULATOR_CERT_OUT: %v", err)
	}
	addr := strings.TrimSuffix(strings.TrimPrefix(strings.Split(conn, ";")[0], "endpoint=https://"), "/")
	t.Setenv("ACSIDENTITY_EMULATOR_ADDR", addr)
	if out, err := exec.Command(bin, "health").CombinedOutput(); err != nil {
		t.Fatalf("health with ACSIDENTITY_EMULATOR_ADDR=%s: %v\n%s", addr, err, out)
	}

	bad := exec.Command(bin, "-addr", "127.0.0.1:0")
	bad.Env = append(os.Environ(), "ACSIDENTITY_EMULATOR_TSL=1")
	var stderr bytes.Buffer
	bad.Stderr = &stderr
	err := bad.Run()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 || !strings.Contains(stderr.String(), "ACSIDENTITY_EMULATOR_TSL is not a setting") {
		t.Fatalf("a misspelt variable: %v, stderr %q; want exit 2 naming it", err, stderr.String())
	}
}

// TestAllowHostFromEnv: ACSIDENTITY_EMULATOR_ALLOW_HOST takes several
// names, separated by spaces, as the repeated -allow-host does.
func TestAllowHostFromEnv(t *testing.T) {
	t.Parallel()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	var hosts hostList
	fs.Var(&hosts, "allow-host", "")
	if err := flagsFromEnv(fs, []string{"ACSIDENTITY_EMULATOR_ALLOW_HOST=emulator.test  dev.example.test"}); err != nil {
		t.Fatal(err)
	}
	if hosts.String() != "emulator.test,dev.example.test" {
		t.Errorf("allow-host %q, want both names", hosts.String())
	}
}
