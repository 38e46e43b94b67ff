package acsidentity_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"time"

	"github.com/acsgo/acsidentity"
	"github.com/acsgo/acsidentity/emulator"
)

func ExampleIdentifierFromRawID() {
	for _, raw := range []string{
		"8:acs:bbbcbc1e-9f06-482a-b5d8-20e3f26ef0cd_45ab2481-1c1c-4005-be24-0ffb879b1130",
		"4:+14255550123",
		"8:teamsvisitor:45ab2481-1c1c-4005-be24-0ffb879b1130",
		"28:gcch:01234567-89ab-cdef-0123-456789abcdef",
		"8:dod-acs:resource_tenant_user",
		"48:a-kind-from-the-future",
	} {
		switch id := acsidentity.IdentifierFromRawID(raw).(type) {
		case acsidentity.CommunicationUserIdentifier:
			fmt.Println("ACS user", id.ID)
		case acsidentity.PhoneNumberIdentifier:
			fmt.Println("phone number", id.PhoneNumber)
		case acsidentity.MicrosoftTeamsUserIdentifier:
			fmt.Println("Teams user", id.UserID, "anonymous:", id.IsAnonymous)
		case acsidentity.MicrosoftTeamsAppIdentifier:
			fmt.Println("Teams app", id.AppID, "in cloud", id.Cloud)
		case acsidentity.TeamsExtensionUserIdentifier:
			fmt.Println("Teams extension user", id.UserID, "of tenant", id.TenantID, "in cloud", id.Cloud)
		default:
			fmt.Println("unknown kind, raw ID", id.RawID())
		}
	}
	// Output:
	// ACS user 8:acs:bbbcbc1e-9f06-482a-b5d8-20e3f26ef0cd_45ab2481-1c1c-4005-be24-0ffb879b1130
	// phone number +14255550123
	// Teams user 45ab2481-1c1c-4005-be24-0ffb879b1130 anonymous: true
	// Teams app 01234567-89ab-cdef-0123-456789abcdef in cloud gcch
	// Teams extension user user of tenant tenant in cloud dod
	// unknown kind, raw ID 48:a-kind-from-the-future
}

func ExampleIdentifiersEqual() {
	stored := "4:+14255550123"
	caller := acsidentity.PhoneNumberIdentifier{PhoneNumber: "+14255550123"}
	fmt.Println(acsidentity.IdentifiersEqual(acsidentity.IdentifierFromRawID(stored), caller))
	// The "+" is part of the identity: numbers are kept verbatim.
	fmt.Println(acsidentity.IdentifiersEqual(acsidentity.IdentifierFromRawID("4:14255550123"), caller))
	// Output:
	// true
	// false
}

// exampleTrustedService stands in for the application's trusted token
// service: it issues a token valid for an hour.
func exampleTrustedService() *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		exp := time.Now().Add(time.Hour)
		payload := base64.RawURLEncoding.EncodeToString([]byte(`{"exp":` + strconv.FormatInt(exp.Unix(), 10) + `}`))
		json.NewEncoder(w).Encode(map[string]any{
			"user":      map[string]string{"communicationUserId": "8:acs:resource_user"},
			"token":     "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9." + payload + ".signature",
			"expiresOn": exp.Format(time.RFC3339),
		})
	}))
}

func ExampleNewCommunicationTokenCredential() {
	service := exampleTrustedService()
	defer service.Close()

	// A self-renewing credential: tokens come from the trusted service and
	// are renewed in the background 10 minutes before they expire.
	cred, err := acsidentity.NewCommunicationTokenCredential(acsidentity.CommunicationTokenCredentialOptions{
		Refresher:          acsidentity.NewTrustedServiceRefresher(service.URL+"/api/token", nil),
		RefreshProactively: true,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer cred.Close()

	token, err := cred.GetToken(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	// Hand token.Token to the Chat or Calling SDK; never log it.
	fmt.Println("valid for about", time.Until(token.ExpiresOn).Round(time.Hour))
	// Output: valid for about 1h0m0s
}

func ExampleNewCommunicationTokenCredential_static() {
	// A user token handed to the program, here one that expired in 1970.
	const token = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJleHAiOjEwMH0.1h_scYkNp-G98-O4cW6KvfJZwiz54uJMyeDACE4nypg"
	cred, err := acsidentity.NewCommunicationTokenCredential(acsidentity.CommunicationTokenCredentialOptions{Token: token})
	if err != nil {
		log.Fatal(err)
	}
	defer cred.Close()

	// Without a Refresher the token is returned even once it has expired,
	// as the other SDKs' credentials do; ExpiresOn tells.
	tok, err := cred.GetToken(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("expired:", !time.Now().Before(tok.ExpiresOn))
	// Output: expired: true
}

// An encrypted token, which the credential cannot decode, gets an assumed
// lifetime (UndecodableTokenExpiresIn, 10 minutes by default) and is
// renewed at half of it. The emulator issues such tokens with
// Options.OpaqueTokens (-opaque-tokens), so that an application can test
// that it copes with them.
func ExampleCommunicationTokenCredentialOptions_encryptedTokens() {
	srv, err := emulator.Start(&emulator.Options{OpaqueTokens: true})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	client, err := acsidentity.NewClientFromConnectionString(srv.ConnectionString(), nil)
	if err != nil {
		log.Fatal(err)
	}
	user, err := client.CreateUser(context.Background(), nil)
	if err != nil {
		log.Fatal(err)
	}

	cred, err := acsidentity.NewCommunicationTokenCredential(acsidentity.CommunicationTokenCredentialOptions{
		// In a real client this calls the trusted service, which calls GetToken.
		Refresher: func(ctx context.Context) (string, error) {
			res, err := client.GetToken(ctx, user.User, []acsidentity.TokenScope{acsidentity.TokenScopeChat}, nil)
			return res.Token, err
		},
		RefreshProactively: true,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer cred.Close()

	tok, err := cred.GetToken(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("parts:", len(strings.Split(tok.Token, ".")))
	fmt.Println("assumed lifetime:", time.Until(tok.ExpiresOn).Round(time.Minute))
	// Output:
	// parts: 5
	// assumed lifetime: 10m0s
}

func ExampleNewTrustedServiceRefresher() {
	service := exampleTrustedService()
	defer service.Close()

	refresh := acsidentity.NewTrustedServiceRefresher(service.URL+"/api/token", &acsidentity.TrustedServiceRefresherOptions{
		// Prove to the service who the caller is, e.g. with an Entra ID token.
		Authorize: func(r *http.Request) error {
			r.Header.Set("Authorization", "Bearer <the signed-in user's token>")
			return nil
		},
		Scopes: []acsidentity.TokenScope{acsidentity.TokenScopeChat, acsidentity.TokenScopeVoIP},
	})
	token, err := refresh(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("got a token:", token != "")
	// Output: got a token: true
}
