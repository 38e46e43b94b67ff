package acsidentity_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"

	"github.com/acsgo/acsidentity"
)

// TestEmulatorTLSWithSSLCertFile checks the README's no-code recipe for the
// -tls emulator on Linux: a program with default options fails with
// "certificate signed by unknown authority", and the same program with
// SSL_CERT_FILE naming the emulator's certificate works. Each runs in a
// child process, since Go reads SSL_CERT_FILE once per process.
func TestEmulatorTLSWithSSLCertFile(t *testing.T) {
	if conn := os.Getenv("ACSIDENTITY_TLS_CHILD"); conn != "" {
		client, err := acsidentity.NewClientFromConnectionString(conn, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := client.CreateUser(context.Background(), nil); err != nil {
			t.Fatal(err)
		}
		return
	}
	if runtime.GOOS == "darwin" || runtime.GOOS == "windows" || runtime.GOOS == "ios" || runtime.GOOS == "android" {
		t.Skip("Go ignores SSL_CERT_FILE on " + runtime.GOOS + "; the Transport recipe (ExampleNewClientFromConnectionString_emulatorTLS) works there")
	}
	conn, certFile, stop := startEmulatorTLS()
	defer stop()
	child := func(env ...string) (string, error) {
		cmd := exec.Command(os.Args[0], "-test.run=^TestEmulatorTLSWithSSLCertFile$", "-test.count=1")
		cmd.Env = append(os.Environ(), append([]string{"ACSIDENTITY_TLS_CHILD=" + conn}, env...)...)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	empty := t.TempDir()
	out, err := child("SSL_CERT_FILE="+empty+"/none.pem", "SSL_CERT_DIR="+empty)
	var exit *exec.ExitError
	if !errors.As(err, &exit) || !strings.Contains(out, "certificate signed by unknown authority") {
		t.Fatalf("without the certificate: %v\n%s\nwant the x509 error a newcomer sees", err, out)
	}
	if out, err := child("SSL_CERT_FILE=" + certFile); err != nil { // as the README says
		t.Fatalf("with SSL_CERT_FILE=%s: %v\n%s", certFile, err, out)
	}
}
