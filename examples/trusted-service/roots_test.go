package main

import (
	"crypto/x509"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/acsgo/acsidentity/emulator"
)

// TestEmbeddedRoots checks that the service verifies TLS on a machine with
// no CA bundle, as in its FROM scratch image: in a child process whose
// SSL_CERT_FILE and SSL_CERT_DIR lead nowhere, the roots that Azure's
// endpoints (ACS, Entra ID) chain to verify as trusted, and a self-signed
// certificate (the emulator's) does not.
func TestEmbeddedRoots(t *testing.T) {
	if os.Getenv("TRUSTED_SERVICE_ROOTS_CHILD") == "1" {
		checkEmbeddedRoots(t)
		return
	}
	empty := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestEmbeddedRoots$", "-test.v")
	cmd.Env = append(os.Environ(),
		"TRUSTED_SERVICE_ROOTS_CHILD=1",
		"SSL_CERT_FILE="+filepath.Join(empty, "none.pem"),
		"SSL_CERT_DIR="+empty,
	)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child process: %v\n%s", err, out)
	}
	t.Logf("child process:\n%s", out)
}

func checkEmbeddedRoots(t *testing.T) {
	for _, name := range []string{"DigiCert_Global_Root_G2.pem", "Microsoft_RSA_Root_Certificate_Authority_2017.pem"} {
		cert := readCert(t, filepath.Join("testdata", "azure-roots", name))
		if _, err := cert.Verify(x509.VerifyOptions{}); err != nil {
			t.Errorf("%s is not trusted without a system bundle: %v", cert.Subject.CommonName, err)
		}
	}
	srv, err := emulator.StartTLS(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if _, err := srv.Certificate().Verify(x509.VerifyOptions{DNSName: "localhost"}); err == nil {
		t.Error("a self-signed certificate verified against the embedded roots")
	}
}

func readCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(b)
	if block == nil {
		t.Fatalf("%s: no PEM block", path)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}
