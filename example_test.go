package acsidentity_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"

	"github.com/acsgo/acsidentity"
	"github.com/acsgo/acsidentity/emulator"
)

// connectionString starts the emulator, so that the examples run anywhere
// with no Azure account. With a real resource, use the connection string
// from the Azure portal instead.
func connectionString() (string, func()) {
	srv, err := emulator.Start(nil)
	if err != nil {
		log.Fatal(err)
	}
	return srv.ConnectionString(), func() { srv.Close() }
}

func ExampleNewClientFromConnectionString() {
	cs, stop := connectionString()
	defer stop()

	client, err := acsidentity.NewClientFromConnectionString(cs, nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("api-version:", client.APIVersion())
	// Output: api-version: 2025-06-30
}

func ExampleClient_CreateUserAndToken() {
	cs, stop := connectionString()
	defer stop()
	client, err := acsidentity.NewClientFromConnectionString(cs, nil)
	if err != nil {
		log.Fatal(err)
	}

	resp, err := client.CreateUserAndToken(context.Background(),
		[]acsidentity.TokenScope{acsidentity.TokenScopeChat, acsidentity.TokenScopeVoIP},
		&acsidentity.CreateUserAndTokenOptions{TokenExpiresIn: time.Hour})
	if err != nil {
		log.Fatal(err)
	}
	// Hand resp.Token and resp.ExpiresOn to the user; never log the token.
	fmt.Println("ACS user:", strings.HasPrefix(resp.User.ID, "8:acs:"))
	fmt.Println("expires in about an hour:", time.Until(resp.ExpiresOn).Round(time.Hour))
	// Output:
	// ACS user: true
	// expires in about an hour: 1h0m0s
}

func ExampleClient_GetToken() {
	cs, stop := connectionString()
	defer stop()
	client, err := acsidentity.NewClientFromConnectionString(cs, nil)
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	created, err := client.CreateUser(ctx, nil)
	if err != nil {
		log.Fatal(err)
	}

	// Refresh a user's token: same identity, new token.
	tok, err := client.GetToken(ctx, created.User, []acsidentity.TokenScope{acsidentity.TokenScopeChatJoin}, nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("default lifetime:", time.Until(tok.ExpiresOn).Round(time.Hour))
	// Output: default lifetime: 24h0m0s
}

func ExampleClient_RevokeTokens() {
	cs, stop := connectionString()
	defer stop()
	client, err := acsidentity.NewClientFromConnectionString(cs, nil)
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	created, err := client.CreateUserAndToken(ctx, []acsidentity.TokenScope{acsidentity.TokenScopeChat}, nil)
	if err != nil {
		log.Fatal(err)
	}

	// Every token issued so far stops working; the identity stays.
	if _, err := client.RevokeTokens(ctx, created.User, nil); err != nil {
		log.Fatal(err)
	}
	fmt.Println("revoked")
	// Output: revoked
}

func ExampleClient_DeleteUser() {
	cs, stop := connectionString()
	defer stop()
	client, err := acsidentity.NewClientFromConnectionString(cs, nil)
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	created, err := client.CreateUser(ctx, nil)
	if err != nil {
		log.Fatal(err)
	}
	if _, err := client.DeleteUser(ctx, created.User, nil); err != nil {
		log.Fatal(err)
	}

	// A deleted identity is gone: the service answers 404.
	_, err = client.GetToken(ctx, created.User, []acsidentity.TokenScope{acsidentity.TokenScopeChat}, nil)
	var re *azcore.ResponseError
	if errors.As(err, &re) && re.StatusCode == http.StatusNotFound {
		fmt.Println("not found:", re.ErrorCode)
	}
	// Output: not found: IdentityNotFound
}

func ExampleClient_CreateUser_customID() {
	cs, stop := connectionString()
	defer stop()
	// Custom IDs need the preview api-version.
	options := &acsidentity.ClientOptions{}
	options.APIVersion = "2025-03-02-preview"
	client, err := acsidentity.NewClientFromConnectionString(cs, options)
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()

	// The same custom ID always returns the same identity: no database needed
	// to map your users to ACS identities.
	first, err := client.CreateUser(ctx, &acsidentity.CreateUserOptions{CustomID: "alice@contoso.com"})
	if err != nil {
		log.Fatal(err)
	}
	second, err := client.CreateUser(ctx, &acsidentity.CreateUserOptions{CustomID: "alice@contoso.com"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("same identity:", first.User == second.User)
	// Output: same identity: true
}

func ExampleAPIVersionError() {
	client, err := acsidentity.NewClientFromConnectionString("endpoint=https://contoso.communication.azure.com/;accesskey=c2VjcmV0", nil)
	if err != nil {
		log.Fatal(err)
	}
	// The default api-version has no custom IDs: the call fails before any I/O.
	_, err = client.CreateUser(context.Background(), &acsidentity.CreateUserOptions{CustomID: "alice"})
	var verr *acsidentity.APIVersionError
	if errors.As(err, &verr) {
		fmt.Println(verr.Feature, "needs", verr.Supported)
	}
	// Output: custom ID (customId) needs [2025-03-02-preview]
}

func ExampleParseConnectionString() {
	cs, err := acsidentity.ParseConnectionString("endpoint=https://contoso.communication.azure.com/;accesskey=c2VjcmV0")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(cs) // the key is redacted
	// Output: endpoint=https://contoso.communication.azure.com/;accesskey=REDACTED
}

func ExampleNewEntraCommunicationTokenCredential() {
	// The resource, and the Entra ID credential of the signed-in user. In an
	// application: the resource's endpoint, and an azidentity credential such
	// as azidentity.NewInteractiveBrowserCredential. An administrator has
	// assigned the user (Client.CreateOrReplaceTeamsExtensionAssignment).
	endpoint, user, stop := teamsPhoneSetup()
	defer stop()

	// A Teams Phone extension: Teams scopes, exchanged at
	// /access/teamsExtension/:exchangeAccessToken. Leave Scopes nil for an
	// Entra-authenticated app (DefaultEntraScope).
	cred, err := acsidentity.NewEntraCommunicationTokenCredential(acsidentity.EntraCommunicationTokenCredentialOptions{
		ResourceEndpoint: endpoint,
		TokenCredential:  user,
		Scopes:           []string{acsidentity.TeamsExtensionScopePrefix + "TeamsExtension.ManageCalls"},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer cred.Close()

	// Each call returns the cached ACS token, or exchanges anew when it has
	// expired or the user's Entra token has changed.
	tok, err := cred.GetToken(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	// Hand the credential or tok to the Calling or Chat SDK; never log the token.
	fmt.Println("valid:", tok.ExpiresOn.After(time.Now()))
	// Output: valid: true
}

// teamsPhoneSetup starts the emulator, which accepts Entra ID tokens without
// checking their signatures, and assigns a user to the Teams Phone extension.
func teamsPhoneSetup() (endpoint string, user azcore.TokenCredential, stop func()) {
	srv, err := emulator.Start(&emulator.Options{AllowBearer: true})
	if err != nil {
		log.Fatal(err)
	}
	const tid, oid = "0d5b6f8c-77a1-4a0b-9d12-2b7e0f6a1c33", "b8a1c2d3-4e5f-6789-abcd-ef0123456789"
	user = entraCredential{tid: tid, oid: oid, appid: "1fd5118e-2576-4263-8130-9503064c837a"}
	admin, err := acsidentity.NewClient(srv.URL, user, nil)
	if err != nil {
		log.Fatal(err)
	}
	if _, err := admin.CreateOrReplaceTeamsExtensionAssignment(context.Background(), tid, oid,
		acsidentity.TeamsExtensionAssignmentUpdate{PrincipalType: acsidentity.TeamsExtensionPrincipalTypeUser}, nil); err != nil {
		log.Fatal(err)
	}
	return srv.URL, user, func() { srv.Close() }
}

// NewKeyCredentialPolicy signs requests to any ACS API; here, sending an
// email (POST /emails:send) through a pipeline of one's own.
func ExampleNewKeyCredentialPolicy() {
	// The Email resource's endpoint and access key. A stand-in on loopback
	// here, which verifies the signature as ACS does.
	endpoint, accessKey, stop := acsStandIn(http.StatusAccepted)
	defer stop()

	cred, err := acsidentity.NewKeyCredential(accessKey)
	if err != nil {
		log.Fatal(err)
	}
	pl := runtime.NewPipeline("myemailclient", "v1.0.0", runtime.PipelineOptions{
		PerRetry: []policy.Policy{acsidentity.NewKeyCredentialPolicy(cred, nil)},
	}, nil)

	req, err := runtime.NewRequest(context.Background(), http.MethodPost, endpoint+"/emails:send?api-version=2023-03-31")
	if err != nil {
		log.Fatal(err)
	}
	// Set the body through azcore (MarshalAsJSON or SetBody), so that the
	// policy hashes exactly what is sent, on every retry.
	if err := runtime.MarshalAsJSON(req, map[string]any{
		"senderAddress": "DoNotReply@contoso.azurecomm.net",
		"recipients":    map[string]any{"to": []map[string]string{{"address": "alice@example.com"}}},
		"content":       map[string]string{"subject": "Hello", "plainText": "Signed in Go."},
	}); err != nil {
		log.Fatal(err)
	}
	resp, err := pl.Do(req)
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	fmt.Println(resp.Status)
	// Output: 202 Accepted
}

// acsStandIn serves on loopback and answers status to requests signed as
// ACS requires (x-ms-content-sha256 the hash of the body, x-ms-date recent,
// Authorization the HMAC-SHA256 of method, path and query, date, host and
// hash), 401 to any other. It returns its endpoint and its access key.
func acsStandIn(status int) (endpoint, accessKey string, stop func()) {
	key := []byte("a stand-in access key, not a real one")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		sum := sha256.Sum256(body)
		hash := base64.StdEncoding.EncodeToString(sum[:])
		date := r.Header.Get("x-ms-date")
		t, err := http.ParseTime(date)
		mac := hmac.New(sha256.New, key)
		fmt.Fprintf(mac, "%s\n%s\n%s;%s;%s", r.Method, r.URL.RequestURI(), date, r.Host, hash)
		want := "HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature=" + base64.StdEncoding.EncodeToString(mac.Sum(nil))
		if err != nil || time.Since(t).Abs() > 15*time.Minute || r.Header.Get("x-ms-content-sha256") != hash || r.Header.Get("Authorization") != want {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.WriteHeader(status)
	}))
	return srv.URL, base64.StdEncoding.EncodeToString(key), srv.Close
}
