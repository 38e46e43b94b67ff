package emulator_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/acsgo/acsidentity/emulator"
)

// Get a bearer token from the emulator's development OIDC issuer, as a
// test of a service's bearer path would, and check that it is one.
func ExampleEmulator_MintOIDCToken() {
	srv, err := emulator.Start(nil)
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	issuer := srv.URL + emulator.OIDCIssuerPath // what the service under test trusts
	tok, err := srv.Emulator.MintOIDCToken(issuer, emulator.OIDCTokenRequest{Subject: "alice", Audience: "api://my-app"})
	if err != nil {
		panic(err)
	}
	fmt.Println(tok.TokenType, tok.ExpiresIn, strings.Count(tok.AccessToken, "."))
	// Over HTTP, the same: POST {issuer}/token.
	resp, err := http.Post(issuer+"/token", "application/json", strings.NewReader(`{"sub":"alice","aud":"api://my-app"}`))
	if err != nil {
		panic(err)
	}
	resp.Body.Close()
	fmt.Println(resp.Status)
	// Output:
	// Bearer 3600 2
	// 200 OK
}

// Seed known identities, list them, and reset the emulator between tests.
func ExampleEmulator_Reset() {
	srv, err := emulator.Start(&emulator.Options{Seed: []emulator.SeedIdentity{{CustomID: "alice"}, {CustomID: "bob"}}})
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	client := newClient(srv)
	if _, err := client.CreateUser(context.Background(), nil); err != nil {
		panic(err)
	}
	page, err := srv.Emulator.ListIdentities(nil)
	if err != nil {
		panic(err)
	}
	fmt.Println(len(page.Identities), "identities")
	if err := srv.Emulator.Reset(); err != nil {
		panic(err)
	}
	page, _ = srv.Emulator.ListIdentities(nil)
	fmt.Println(len(page.Identities), "after the reset")
	// Output:
	// 3 identities
	// 0 after the reset
}
