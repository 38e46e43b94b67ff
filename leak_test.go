package acsidentity

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/log"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

// TestNoSecretInLogsOrErrors installs an azcore log listener, runs every
// operation (successes, a 401, a 503, retries) and proves that no log line
// and no error contains the access key, its decoded bytes or a signature;
// with default options no token either. With request and response bodies
// logged the key still never appears (tokens then do: the docs warn).
// Not parallel: the listener is process-wide.
func TestNoSecretInLogsOrErrors(t *testing.T) {
	for _, includeBody := range []bool{false, true} {
		var mu sync.Mutex
		var lines []string
		log.SetListener(func(_ log.Event, s string) {
			mu.Lock()
			lines = append(lines, s)
			mu.Unlock()
		})
		var signatures []string
		f := newFakeService(t, func(n int, r *http.Request) (int, string) {
			mu.Lock()
			signatures = append(signatures, strings.TrimPrefix(r.Header.Get("Authorization"), "HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature="))
			mu.Unlock()
			switch {
			case n%4 == 0:
				return 401, `{"error":{"code":"Denied","message":"Denied by the test"}}`
			case n%5 == 0:
				return 503, ""
			case strings.HasSuffix(r.URL.Path, "/identities"):
				return 201, createdBody
			case strings.HasSuffix(r.URL.Path, "Token"), strings.HasSuffix(r.URL.Path, "exchangeAccessToken"):
				return 200, tokenBody
			}
			return 204, ""
		})
		c := newTestClient(t, f.endpoint(), &ClientOptions{ClientOptions: azcore.ClientOptions{Logging: policy.LogOptions{IncludeBody: includeBody}}})
		ctx := context.Background()
		u := CommunicationUserIdentifier{ID: userID}
		var errs []error
		for range 3 {
			_, err := c.CreateUser(ctx, nil)
			errs = append(errs, err)
			_, err = c.CreateUserAndToken(ctx, []TokenScope{TokenScopeChat}, nil)
			errs = append(errs, err)
			_, err = c.GetToken(ctx, u, []TokenScope{TokenScopeVoIP}, nil)
			errs = append(errs, err)
			_, err = c.RevokeTokens(ctx, u, nil)
			errs = append(errs, err)
			_, err = c.DeleteUser(ctx, u, nil)
			errs = append(errs, err)
			_, err = c.GetTokenForTeamsUser(ctx, jwt, "app", "oid", nil)
			errs = append(errs, err)
		}
		log.SetListener(nil)
		mu.Lock()
		all := strings.Join(lines, "\n")
		secrets := map[string]string{"access key": testKey, "decoded key": "test-access-key"}
		for i, s := range signatures {
			if s != "" {
				secrets["signature "+string(rune('a'+i%26))] = s
			}
		}
		mu.Unlock()
		if !includeBody {
			secrets["token"] = jwt
		}
		if len(lines) == 0 {
			t.Fatal("no log lines: the listener saw nothing")
		}
		failures := 0
		for _, err := range errs {
			if err != nil {
				failures++
				all += "\n" + err.Error()
			}
		}
		if failures == 0 {
			t.Fatal("no errors were produced; the test proves nothing about them")
		}
		for what, s := range secrets {
			if strings.Contains(all, s) {
				t.Errorf("includeBody=%v: the %s appears in logs or errors", includeBody, what)
			}
		}
		if includeBody && !strings.Contains(all, jwt) {
			t.Error("with IncludeBody the token should be logged (the docs warn of it); the check is not looking at bodies")
		}
	}
}

// TestPrintingResponsesHidesTokens: a response printed with any verb shows
// no token, and still shows its user.
func TestPrintingResponsesHidesTokens(t *testing.T) {
	t.Parallel()
	tok := AccessToken{Token: jwt, ExpiresOn: wantExpires}
	user := CommunicationUserIdentifier{ID: userID}
	for _, tc := range []struct {
		v        any
		showUser bool
	}{
		{tok, false}, {&tok, false},
		{GetTokenResponse{tok}, false}, {GetTokenForTeamsUserResponse{tok}, false},
		{CreateUserAndTokenResponse{CommunicationUserDetail{User: user}, tok}, true},
		{ExchangeTeamsExtensionTokenResponse{User: user, AccessToken: tok}, true},
		{ExchangeEntraTokenResponse{User: user, AccessToken: tok}, true},
	} {
		s := fmtAll(tc.v)
		if strings.Contains(s, jwt) || strings.Contains(s, "eyJ") {
			t.Errorf("%T prints its token: %s", tc.v, s)
		}
		if tc.showUser && !strings.Contains(s, userID) {
			t.Errorf("%T hides its user: %s", tc.v, s)
		}
		if !strings.Contains(s, "2025-07-10T21:39:39Z") {
			t.Errorf("%T hides its expiry: %s", tc.v, s)
		}
	}
}
