package main

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/acsgo/acsidentity/emulator"
)

// TestEndToEndEmulatorOIDCIssuer: with the emulator serving HTTPS (as
// with -tls) and its development OIDC issuer as
// TRUSTED_SERVICE_OIDC_ISSUER, a bearer token the issuer minted for
// {"sub":"alice","aud":"api://acs-test"} gets an ACS token, a second one
// for the same sub the same identity, and one for another audience 401.
// The handler trusts the emulator's self-signed certificate through
// SSL_CERT_FILE, as a user would.
func TestEndToEndEmulatorOIDCIssuer(t *testing.T) {
	t.Parallel()
	em, err := emulator.StartTLS(nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { em.Close() })
	certFile := filepath.Join(t.TempDir(), "emulator.crt")
	if err := os.WriteFile(certFile, em.CertificatePEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	testEmulatorIssuer(t, em, map[string]string{"SSL_CERT_FILE": certFile})
}

// TestEndToEndEmulatorOIDCIssuerHTTP: the same over plain HTTP on
// loopback, as the embedded emulator serves: tokenservice/oidc fetches
// from an http issuer only on a loopback host.
func TestEndToEndEmulatorOIDCIssuerHTTP(t *testing.T) {
	t.Parallel()
	em, err := emulator.Start(nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { em.Close() })
	testEmulatorIssuer(t, em, nil)
}

// testEmulatorIssuer runs the handler with the emulator em as its ACS and
// its issuer, and env besides.
func testEmulatorIssuer(t *testing.T, em *emulator.Server, env map[string]string) {
	issuer := em.URL + emulator.OIDCIssuerPath

	// The discovery document names the issuer.
	resp, err := em.Client().Get(issuer + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	json.NewDecoder(resp.Body).Decode(&doc)
	resp.Body.Close()
	if resp.StatusCode != 200 || doc.Issuer != issuer || !strings.HasPrefix(doc.JWKSURI, issuer+"/") {
		t.Fatalf("discovery: %d %+v, want issuer %s", resp.StatusCode, doc, issuer)
	}

	mint := func(body string) map[string]string {
		t.Helper()
		resp, err := em.Client().Post(issuer+"/token", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var tok struct {
			AccessToken string `json:"access_token"`
			TokenType   string `json:"token_type"`
		}
		json.NewDecoder(resp.Body).Decode(&tok)
		if resp.StatusCode != http.StatusOK || tok.TokenType != "Bearer" || tok.AccessToken == "" {
			t.Fatalf("POST %s/token: %d %+v", issuer, resp.StatusCode, tok)
		}
		return map[string]string{"Authorization": "Bearer " + tok.AccessToken}
	}

	settings := map[string]string{
		envConnectionString: em.ConnectionString(),
		envOIDCIssuer:       issuer,
		envOIDCAudience:     "api://acs-test",
	}
	for k, v := range env {
		settings[k] = v
	}
	h := startAsFunctionsHost(t, settings)
	first := wantToken(t, "alice", h.send(hostRequest{method: "GET", path: "/api/token", header: mint(`{"sub":"alice","aud":"api://acs-test"}`)}), true)
	second := wantToken(t, "alice again", h.send(hostRequest{method: "GET", path: "/api/token", header: mint(`{"sub":"alice","aud":"api://acs-test"}`)}), true)
	if first.User.CommunicationUserID != second.User.CommunicationUserID {
		t.Errorf("the same sub got two identities: %s and %s", first.User.CommunicationUserID, second.User.CommunicationUserID)
	}
	if st := em.Emulator.Introspect(second.Token); st.Status != emulator.StatusValid || st.User != first.User.CommunicationUserID {
		t.Errorf("introspect: %+v", st)
	}
	bob := wantToken(t, "bob", h.send(hostRequest{method: "GET", path: "/api/token", header: mint(`{"sub":"bob","aud":"api://acs-test"}`)}), true)
	if bob.User.CommunicationUserID == first.User.CommunicationUserID {
		t.Error("bob got alice's identity")
	}
	wantError(t, "another audience", h.send(hostRequest{method: "GET", path: "/api/token", header: mint(`{"sub":"alice","aud":"api://other"}`)}), http.StatusUnauthorized, "InvalidToken")
}

// TestEndToEndEmbeddedEmulatorOIDCIssuer: the README's main command with
// TRUSTED_SERVICE_OIDC_ISSUER=emulator trusts its embedded emulator's
// development issuer, at the address TRUSTED_SERVICE_EMULATOR_ADDR gives:
// a token minted there for alice gets an ACS token (the same identity
// twice), another audience or no token 401, and the X-Caller-Id header buys
// nothing.
func TestEndToEndEmbeddedEmulatorOIDCIssuer(t *testing.T) {
	t.Parallel()
	emulatorURL := "http://127.0.0.1:" + freePort(t)
	h := startAsFunctionsHost(t, map[string]string{
		envOIDCIssuer:   "emulator",
		envOIDCAudience: "api://acs-test",
		envEmulatorAddr: strings.TrimPrefix(emulatorURL, "http://"),
	})
	issuer := emulatorURL + emulator.OIDCIssuerPath
	mint := func(body string) map[string]string {
		t.Helper()
		resp, err := http.Post(issuer+"/token", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var tok struct {
			AccessToken string `json:"access_token"`
		}
		json.NewDecoder(resp.Body).Decode(&tok)
		if resp.StatusCode != http.StatusOK || tok.AccessToken == "" {
			t.Fatalf("POST %s/token: %d", issuer, resp.StatusCode)
		}
		return map[string]string{"Authorization": "Bearer " + tok.AccessToken}
	}
	alice := `{"sub":"alice","aud":"api://acs-test"}`
	first := wantToken(t, "alice", h.send(hostRequest{method: "GET", path: "/api/token", header: mint(alice)}), true)
	second := wantToken(t, "alice again", h.send(hostRequest{method: "GET", path: "/api/token", header: mint(alice)}), true)
	if first.User.CommunicationUserID != second.User.CommunicationUserID {
		t.Errorf("the same sub got two identities: %s and %s", first.User.CommunicationUserID, second.User.CommunicationUserID)
	}
	wantError(t, "another audience", h.send(hostRequest{method: "GET", path: "/api/token", header: mint(`{"sub":"alice","aud":"api://other"}`)}), http.StatusUnauthorized, "InvalidToken")
	if r := h.send(hostRequest{method: "GET", path: "/api/token", header: map[string]string{"X-Caller-Id": "alice"}}); r.status != http.StatusUnauthorized {
		t.Errorf("X-Caller-Id without a bearer token: %d, want 401 (body %s)", r.status, r.body)
	}
}
