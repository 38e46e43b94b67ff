package acsidentity_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"

	"github.com/acsgo/acsidentity"
	"github.com/acsgo/acsidentity/emulator"
)

// startEmulatorTLS stands in for
//
//	acsidentity-emulator -tls -cert-out FILE
//
// (or its container): an emulator over HTTPS whose self-signed certificate
// is in a PEM file. It returns the connection string and the file.
func startEmulatorTLS() (conn, certFile string, stop func()) {
	srv, err := emulator.StartTLS(nil)
	if err != nil {
		log.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "acs-emulator")
	if err != nil {
		log.Fatal(err)
	}
	certFile = filepath.Join(dir, "acs-emulator.crt")
	if err := os.WriteFile(certFile, srv.CertificatePEM(), 0o644); err != nil {
		log.Fatal(err)
	}
	return srv.ConnectionString(), certFile, func() { srv.Close(); os.RemoveAll(dir) }
}

// A client for the emulator started with -tls: trust the certificate it
// wrote to -cert-out through ClientOptions.Transport. This works on every
// OS; on Linux, SSL_CERT_FILE=FILE does the same without code.
func ExampleNewClientFromConnectionString_emulatorTLS() {
	conn, certFile, stop := startEmulatorTLS()
	defer stop()

	pem, err := os.ReadFile(certFile) // e.g. /tmp/acs-emulator.crt
	if err != nil {
		log.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		log.Fatalf("%s holds no PEM certificate", certFile)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	client, err := acsidentity.NewClientFromConnectionString(conn, &acsidentity.ClientOptions{
		ClientOptions: azcore.ClientOptions{Transport: &http.Client{Transport: tr}},
	})
	if err != nil {
		log.Fatal(err)
	}

	u, err := client.CreateUser(context.Background(), nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("over https:", strings.HasPrefix(conn, "endpoint=https://"))
	fmt.Println("ACS user:", strings.HasPrefix(u.User.ID, "8:acs:"))
	// Output:
	// over https: true
	// ACS user: true
}
