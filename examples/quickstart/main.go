// Command quickstart walks through the ACS Identity basics: create an
// identity, issue it an access token, revoke its tokens and delete it. It
// prints identity IDs and expiry times, never a token.
//
// It uses the resource of COMMUNICATION_SERVICES_CONNECTION_STRING when that
// is set, and otherwise an in-process emulator (which is not Azure):
//
//	go run ./examples/quickstart
//	COMMUNICATION_SERVICES_CONNECTION_STRING='endpoint=https://<resource>.communication.azure.com/;accesskey=<key>' go run ./examples/quickstart
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"time"

	"github.com/acsgo/acsidentity"
	"github.com/acsgo/acsidentity/emulator"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Stdout, os.Getenv("COMMUNICATION_SERVICES_CONNECTION_STRING")); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

// run does the walk-through against the resource of connectionString, or
// the emulator if it is empty, writing what happens to out.
func run(ctx context.Context, out io.Writer, connectionString string) error {
	if connectionString == "" {
		em, err := emulator.Start(nil)
		if err != nil {
			return fmt.Errorf("starting the emulator: %w", err)
		}
		defer em.Close()
		connectionString = em.ConnectionString()
		fmt.Fprintf(out, "COMMUNICATION_SERVICES_CONNECTION_STRING is not set: using the in-process ACS Identity emulator at %s (not Azure).\n", em.URL)
	}

	client, err := acsidentity.NewClientFromConnectionString(connectionString, nil)
	if err != nil {
		return err // never contains the access key
	}
	fmt.Fprintf(out, "Endpoint: %s (api-version %s)\n", client.Endpoint(), client.APIVersion())

	// 1. Create an identity. Keep its ID: it is the user's ACS identity.
	user, err := client.CreateUser(ctx, nil)
	if err != nil {
		return fmt.Errorf("creating an identity: %w", err)
	}
	fmt.Fprintf(out, "Created identity %s\n", user.User.ID)

	// 2. Issue it a token for Calling (voip) that lasts an hour. Hand the
	// token to the client SDK; do not log it.
	tok, err := client.GetToken(ctx, user.User, []acsidentity.TokenScope{acsidentity.TokenScopeVoIP}, &acsidentity.GetTokenOptions{TokenExpiresIn: time.Hour})
	if err != nil {
		return fmt.Errorf("issuing a token: %w", err)
	}
	fmt.Fprintf(out, "Issued a voip token that expires at %s\n", tok.ExpiresOn.UTC().Format(time.RFC3339))

	// 3. Or create an identity and its token in one call.
	both, err := client.CreateUserAndToken(ctx, []acsidentity.TokenScope{acsidentity.TokenScopeChat, acsidentity.TokenScopeVoIP}, nil)
	if err != nil {
		return fmt.Errorf("creating an identity with a token: %w", err)
	}
	fmt.Fprintf(out, "Created identity %s with a chat+voip token that expires at %s\n", both.User.ID, both.ExpiresOn.UTC().Format(time.RFC3339))

	// 4. Revoke the first identity's tokens (it can get new ones), then
	// delete both identities (which also revokes their tokens).
	if _, err := client.RevokeTokens(ctx, user.User, nil); err != nil {
		return fmt.Errorf("revoking tokens: %w", err)
	}
	fmt.Fprintf(out, "Revoked the tokens of %s\n", user.User.ID)
	for _, u := range []acsidentity.CommunicationUserIdentifier{user.User, both.User} {
		if _, err := client.DeleteUser(ctx, u, nil); err != nil {
			return fmt.Errorf("deleting an identity: %w", err)
		}
		fmt.Fprintf(out, "Deleted identity %s\n", u.ID)
	}
	return nil
}
