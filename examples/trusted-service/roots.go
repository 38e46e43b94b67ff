package main

// The container image (images/trusted-service.Containerfile) is built FROM
// scratch: it has no /etc/ssl/certs, so without this import Go would find
// no root certificates and refuse every TLS connection, to ACS, to Entra ID
// and to an OIDC issuer alike. The package embeds the Mozilla root set as
// the Go team publishes it and installs it with x509.SetFallbackRoots, which
// Go uses only where the system has no roots of its own: on a machine with
// a CA bundle, and wherever SSL_CERT_FILE or SSL_CERT_DIR name one, nothing
// changes.
//
// Embedded rather than copied from the build machine's bundle: the roots
// are then pinned by go.sum and updated like any dependency, every build of
// a given commit carries the same ones, and the binary verifies TLS
// wherever it is copied, with or without a container.
import _ "golang.org/x/crypto/x509roots/fallback"
