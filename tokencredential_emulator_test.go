package acsidentity_test

// The user credential against the emulator's opaque tokens
// (emulator.Options.OpaqueTokens): issue 18's end-to-end case, with real
// HTTP, real HMAC and real timers.

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/acsgo/acsidentity"
	"github.com/acsgo/acsidentity/emulator"
)

// opaqueRefreshers are two ways an application refreshes its user tokens
// from an emulator that issues opaque tokens: a Refresher that calls the
// Client, and NewTrustedServiceRefresher in front of a trusted service
// built on the Client. Each counts its calls.
func opaqueRefreshers(t *testing.T, srv *emulator.Server) map[string]func(calls *atomic.Int32) (func(context.Context) (string, error), acsidentity.CommunicationUserIdentifier) {
	client := clientFor(t, srv, "")
	chat := []acsidentity.TokenScope{acsidentity.TokenScopeChat}
	newUser := func() acsidentity.CommunicationUserIdentifier {
		u, err := client.CreateUser(context.Background(), nil)
		if err != nil {
			t.Fatal(err)
		}
		return u.User
	}
	return map[string]func(*atomic.Int32) (func(context.Context) (string, error), acsidentity.CommunicationUserIdentifier){
		"client": func(calls *atomic.Int32) (func(context.Context) (string, error), acsidentity.CommunicationUserIdentifier) {
			user := newUser()
			return func(ctx context.Context) (string, error) {
				calls.Add(1)
				res, err := client.GetToken(ctx, user, chat, nil)
				return res.Token, err
			}, user
		},
		"trusted service": func(calls *atomic.Int32) (func(context.Context) (string, error), acsidentity.CommunicationUserIdentifier) {
			user := newUser()
			svc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				calls.Add(1)
				res, err := client.GetToken(r.Context(), user, chat, nil)
				if err != nil {
					http.Error(w, `{"error":{"code":"Upstream","message":"token issue failed"}}`, http.StatusBadGateway)
					return
				}
				w.Header().Set("Content-Type", "application/json")
				json.NewEncoder(w).Encode(map[string]any{
					"user":      map[string]string{"communicationUserId": user.ID},
					"token":     res.Token,
					"expiresOn": res.ExpiresOn.Format(time.RFC3339),
				})
			}))
			t.Cleanup(svc.Close)
			return acsidentity.NewTrustedServiceRefresher(svc.URL+"/api/token", nil), user
		},
	}
}

// A proactive credential renews opaque tokens at half their assumed
// lifetime, each one a token the emulator issued for the user.
func TestCredentialRefreshesOpaqueTokensFromEmulator(t *testing.T) {
	t.Parallel()
	srv := startEmulator(t, &emulator.Options{OpaqueTokens: true})
	for name, newRefresher := range opaqueRefreshers(t, srv) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var calls atomic.Int32
			refresher, user := newRefresher(&calls)
			const lifetime = 2 * time.Second
			cred, err := acsidentity.NewCommunicationTokenCredential(acsidentity.CommunicationTokenCredentialOptions{
				Refresher:                 refresher,
				RefreshProactively:        true,
				UndecodableTokenExpiresIn: lifetime,
			})
			if err != nil {
				t.Fatal(err)
			}
			defer cred.Close()

			seen := map[string]bool{}
			deadline := time.Now().Add(60 * time.Second)
			for len(seen) < 3 {
				before := time.Now()
				tok, err := cred.GetToken(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				if !seen[tok.Token] {
					seen[tok.Token] = true
					if n := strings.Count(tok.Token, "."); n != 4 {
						t.Fatalf("token with %d dots, want the emulator's five-part opaque token", n)
					}
					// Assumed lifetime from when it arrived, not the
					// service's 24 hours, which the credential cannot read.
					if !tok.ExpiresOn.After(before) || tok.ExpiresOn.After(time.Now().Add(lifetime)) {
						t.Fatalf("token expires %v, want after %v and at most %v from now", tok.ExpiresOn, before, lifetime)
					}
					if st := srv.Emulator.Introspect(tok.Token); st.Status != emulator.StatusValid || st.User != user.ID {
						t.Fatalf("Introspect = %+v, want valid for %s", st, user.ID)
					}
				}
				if time.Now().After(deadline) {
					t.Fatalf("%d distinct tokens after a minute, want 3", len(seen))
				}
				time.Sleep(50 * time.Millisecond)
			}
			if n := calls.Load(); n < 3 {
				t.Fatalf("%d refresher calls for 3 tokens", n)
			}
		})
	}
}

// Without RefreshProactively an opaque token is used for its whole assumed
// lifetime and refreshed on the first GetToken after it.
func TestCredentialRefreshesOpaqueTokensOnDemand(t *testing.T) {
	t.Parallel()
	srv := startEmulator(t, &emulator.Options{OpaqueTokens: true})
	var calls atomic.Int32
	refresher, _ := opaqueRefreshers(t, srv)["trusted service"](&calls)
	const lifetime = time.Second
	cred, err := acsidentity.NewCommunicationTokenCredential(acsidentity.CommunicationTokenCredentialOptions{Refresher: refresher, UndecodableTokenExpiresIn: lifetime})
	if err != nil {
		t.Fatal(err)
	}
	defer cred.Close()
	first, err := cred.GetToken(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for time.Now().Before(first.ExpiresOn) {
		tok, err := cred.GetToken(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if tok.Token != first.Token && time.Now().Before(first.ExpiresOn) {
			t.Fatal("the token was replaced within its assumed lifetime")
		}
		time.Sleep(20 * time.Millisecond)
	}
	next, err := cred.GetToken(context.Background())
	if err != nil || next.Token == first.Token || srv.Emulator.Introspect(next.Token).Status != emulator.StatusValid {
		t.Fatalf("after the assumed lifetime: %v, %v", next, err)
	}
	if n := calls.Load(); n != 2 {
		t.Fatalf("%d refresher calls, want 2", n)
	}
}
