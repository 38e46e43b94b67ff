package acsidentity_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"

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
