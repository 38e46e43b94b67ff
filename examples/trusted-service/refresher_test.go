package main

import (
	"context"
	"net/http"
	"regexp"
	"testing"
	"time"

	"github.com/acsgo/acsidentity"
)

// TestRefresherAgainstService closes the loop of the module: a Go client of
// the trusted service gets a self-renewing ACS user credential from the
// library's NewTrustedServiceRefresher, pointed at the real binary.
func TestRefresherAgainstService(t *testing.T) {
	t.Parallel()
	h := launch(t, nil, "-addr", "127.0.0.1:0")
	m := h.waitLog(regexp.MustCompile(`msg=listening addr=(127\.0\.0\.1:\d+)`))
	refresher := acsidentity.NewTrustedServiceRefresher("http://"+m[1]+"/api/token", &acsidentity.TrustedServiceRefresherOptions{
		Scopes: []acsidentity.TokenScope{acsidentity.TokenScopeChat, acsidentity.TokenScopeVoIP},
		Authorize: func(r *http.Request) error {
			r.Header.Set(devCallerHeader, "refresher-test") // a lasting identity on the embedded emulator
			return nil
		},
	})
	cred, err := acsidentity.NewCommunicationTokenCredential(acsidentity.CommunicationTokenCredentialOptions{
		Refresher:          refresher,
		RefreshProactively: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer cred.Close()
	tok, err := cred.GetToken(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if life := time.Until(tok.ExpiresOn); life < 23*time.Hour || life > 25*time.Hour {
		t.Errorf("the token lives %v, want the service default of 24h", life)
	}
	again, err := cred.GetToken(context.Background())
	if err != nil || again.Token != tok.Token {
		t.Errorf("a second GetToken did not reuse the valid token: %v", err)
	}
	if err := h.stop(); err != nil {
		t.Errorf("exit after SIGTERM: %v", err)
	}
}
