package acsidentity_test

// The Entra user credential end to end: the emulator's two exchange
// endpoints, real HTTP on loopback, Entra tokens of the shape the emulator's
// doc describes (aud https://communication.azure.com, tid, oid, appid, exp;
// it does not check their signatures), minted by a TokenCredential.

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/acsgo/acsidentity"
	"github.com/acsgo/acsidentity/emulator"
)

// rotatingEntra mints a new Entra token (valid for an hour, to the
// emulator) on every call, but tells azcore it expires at once, so that the
// bearer policy asks again on every exchange: an Entra token that changes
// every time.
type rotatingEntra struct {
	tid, oid, appid string
	n               atomic.Int64
}

func (e *rotatingEntra) GetToken(_ context.Context, _ policy.TokenRequestOptions) (azcore.AccessToken, error) {
	n := e.n.Add(1)
	return azcore.AccessToken{Token: fakeJWT(map[string]any{
		"aud": "https://communication.azure.com", "tid": e.tid, "oid": e.oid, "appid": e.appid,
		"exp": time.Now().Add(time.Hour).Unix(), "jti": n,
	}), ExpiresOn: time.Now().Add(-time.Second)}, nil
}

func TestEmulatorEntraCommunicationTokenCredential(t *testing.T) {
	t.Parallel()
	srv := startEmulator(t, &emulator.Options{AllowBearer: true})
	ctx := context.Background()
	const tid, oid, app = "44444444-4444-4444-4444-444444444444", "55555555-5555-5555-5555-555555555555", "66666666-6666-6666-6666-666666666666"
	const stranger = "77777777-7777-7777-7777-777777777777"
	wantUser := "8:acs:" + emulator.DevelopmentResourceID + "_" + tid + "_" + oid

	// The administrator assigns the user, with Entra ID (the exchanges need it).
	o := &acsidentity.ClientOptions{}
	o.APIVersion = previewVersion
	admin, err := acsidentity.NewClient(srv.URL, entraCredential{tid, oid, app}, o)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.CreateOrReplaceEntraAssignment(ctx, oid, acsidentity.EntraAssignmentUpdate{TenantID: tid, PrincipalType: acsidentity.EntraPrincipalTypeUser, ClientIDs: []string{app}}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.CreateOrReplaceTeamsExtensionAssignment(ctx, tid, oid, acsidentity.TeamsExtensionAssignmentUpdate{PrincipalType: acsidentity.TeamsExtensionPrincipalTypeUser}, nil); err != nil {
		t.Fatal(err)
	}

	newCred := func(t *testing.T, cred azcore.TokenCredential, scopes []string) *acsidentity.CommunicationTokenCredential {
		t.Helper()
		c, err := acsidentity.NewEntraCommunicationTokenCredential(acsidentity.EntraCommunicationTokenCredentialOptions{
			ResourceEndpoint: srv.URL, TokenCredential: cred, Scopes: scopes,
			ClientOptions: &azcore.ClientOptions{Retry: policy.RetryOptions{RetryDelay: time.Millisecond, MaxRetryDelay: 5 * time.Millisecond}},
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}

	for name, scopes := range map[string][]string{
		"communication clients (default scope)": nil,
		"Teams Phone extension":                 {acsidentity.TeamsExtensionScopePrefix + "TeamsExtension.ManageCalls"},
	} {
		t.Run(name, func(t *testing.T) {
			c := newCred(t, entraCredential{tid, oid, app}, scopes)
			tok, err := c.GetToken(ctx)
			if err != nil {
				t.Fatal(err)
			}
			verifyToken(t, srv, tok)
			if st := srv.Emulator.Introspect(tok.Token); st.Status != "valid" || st.User != wantUser {
				t.Errorf("introspection %+v; want a valid token of %s", st, wantUser)
			}
			// The same Entra token: the cached ACS token, no new exchange
			// (a new one would be another token: the emulator stamps each).
			for range 3 {
				if again, err := c.GetToken(ctx); err != nil || again.Token != tok.Token {
					t.Errorf("second call: %v; want the cached token", err)
				}
			}
		})
	}

	t.Run("changed Entra token", func(t *testing.T) {
		c := newCred(t, &rotatingEntra{tid: tid, oid: oid, appid: app}, nil)
		first, err := c.GetToken(ctx)
		if err != nil {
			t.Fatal(err)
		}
		second, err := c.GetToken(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if first.Token == second.Token {
			t.Error("a new Entra token did not bring a new exchange")
		}
		for _, tok := range []acsidentity.AccessToken{first, second} {
			if st := srv.Emulator.Introspect(tok.Token); st.Status != "valid" || st.User != wantUser {
				t.Errorf("introspection %+v", st)
			}
		}
	})

	t.Run("concurrent calls", func(t *testing.T) {
		c := newCred(t, entraCredential{tid, oid, app}, nil)
		var wg sync.WaitGroup
		toks := make([]string, 16)
		for i := range toks {
			wg.Go(func() {
				tok, err := c.GetToken(ctx)
				if err != nil {
					t.Error(err)
				}
				toks[i] = tok.Token
			})
		}
		wg.Wait()
		for _, tok := range toks[1:] {
			if tok != toks[0] {
				t.Fatal("concurrent calls got different tokens: more than one exchange")
			}
		}
	})

	t.Run("unassigned user", func(t *testing.T) {
		for _, scopes := range [][]string{nil, {acsidentity.TeamsExtensionScopePrefix + "TeamsExtension.ManageCalls"}} {
			c := newCred(t, entraCredential{tid, stranger, app}, scopes)
			_, err := c.GetToken(ctx)
			var re *azcore.ResponseError
			if !errors.As(err, &re) || re.StatusCode != 403 {
				t.Errorf("%v: %v; want a 403 *azcore.ResponseError", scopes, err)
			}
		}
	})

	t.Run("revoked assignment", func(t *testing.T) {
		c := newCred(t, &rotatingEntra{tid: tid, oid: oid, appid: app}, []string{acsidentity.TeamsExtensionScopePrefix + "TeamsExtension.ManageCalls"})
		if _, err := c.GetToken(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := admin.DeleteTeamsExtensionAssignment(ctx, tid, oid, nil); err != nil {
			t.Fatal(err)
		}
		// The next Entra token brings a new exchange, which the service refuses.
		var re *azcore.ResponseError
		if _, err := c.GetToken(ctx); !errors.As(err, &re) || re.StatusCode != 403 {
			t.Errorf("%v; want a 403 *azcore.ResponseError", err)
		}
	})
}
