package emulator_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/acsgo/acsidentity"
	"github.com/acsgo/acsidentity/emulator"
)

// newClient returns a client of srv that retries quickly, as a test wants.
func newClient(srv *emulator.Server) *acsidentity.Client {
	options := &acsidentity.ClientOptions{}
	options.Retry = policy.RetryOptions{RetryDelay: time.Millisecond, MaxRetryDelay: 10 * time.Millisecond}
	client, err := acsidentity.NewClientFromConnectionString(srv.ConnectionString(), options)
	if err != nil {
		panic(err)
	}
	return client
}

// Start an emulator in process, as a test would (in a test, call
// t.Cleanup(func() { srv.Close() }) and t.Fatal instead of panic), and
// point a client at it with its connection string.
func Example_inATest() {
	srv, err := emulator.Start(nil) // a free loopback port, in memory
	if err != nil {
		panic(err)
	}
	defer srv.Close()

	client, err := acsidentity.NewClientFromConnectionString(srv.ConnectionString(), nil)
	if err != nil {
		panic(err)
	}
	resp, err := client.CreateUserAndToken(context.Background(), []acsidentity.TokenScope{acsidentity.TokenScopeChat}, nil)
	if err != nil {
		panic(err)
	}
	fmt.Println(strings.HasPrefix(resp.User.ID, "8:acs:"+emulator.DevelopmentResourceID+"_"))
	fmt.Println(time.Until(resp.ExpiresOn).Round(time.Hour)) // the service default
	// Output:
	// true
	// 24h0m0s
}

// Inject faults to see how a client copes: a 503 on issuing a token is
// retried and succeeds, while a create that the service carried out and
// then failed (AfterCommit) is not retried, because a retry would make a
// second identity; Identities shows what was made.
func ExampleEmulator_InjectFault() {
	srv, err := emulator.Start(nil)
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	client := newClient(srv)
	ctx := context.Background()

	srv.Emulator.InjectFault(emulator.Fault{Operation: "create", Status: http.StatusServiceUnavailable, AfterCommit: true})
	_, err = client.CreateUser(ctx, nil)
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		fmt.Println("create:", re.StatusCode)
	}
	fmt.Println("identities made:", len(srv.Emulator.Identities()))

	user := srv.Emulator.Identities()[0].ID
	srv.Emulator.InjectFault(emulator.Fault{Operation: "issueToken", Status: http.StatusServiceUnavailable, Count: 2})
	_, err = client.GetToken(ctx, acsidentity.CommunicationUserIdentifier{ID: user}, []acsidentity.TokenScope{acsidentity.TokenScopeVoIP}, nil)
	fmt.Println("token after two 503s:", err == nil)
	// Output:
	// create: 503
	// identities made: 1
	// token after two 503s: true
}

// Ask the emulator what it knows of a token: a test can prove that a
// revoke or a delete really took effect.
func ExampleEmulator_Introspect() {
	srv, err := emulator.Start(nil)
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	client := newClient(srv)
	ctx := context.Background()

	resp, err := client.CreateUserAndToken(ctx, []acsidentity.TokenScope{acsidentity.TokenScopeChat, acsidentity.TokenScopeVoIP}, nil)
	if err != nil {
		panic(err)
	}
	st := srv.Emulator.Introspect(resp.Token)
	fmt.Println(st.Status, st.User == resp.User.ID, st.Scopes)

	if _, err := client.RevokeTokens(ctx, resp.User, nil); err != nil {
		panic(err)
	}
	fmt.Println(srv.Emulator.Introspect(resp.Token).Status)
	if _, err := client.DeleteUser(ctx, resp.User, nil); err != nil {
		panic(err)
	}
	fmt.Println(srv.Emulator.Introspect(resp.Token).Status)
	fmt.Println(srv.Emulator.Introspect("not.a-token.at-all").Status)
	// Output:
	// valid true [chat voip]
	// revoked
	// deleted
	// invalid
}

// Keep the emulator's state in a file: identities, custom IDs and the
// signing key survive a restart, so tokens issued before it still verify.
func ExampleOptions_dataFile() {
	dir, err := os.MkdirTemp("", "acsidentity-emulator-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	opts := &emulator.Options{DataFile: filepath.Join(dir, "state.json")}

	srv, err := emulator.Start(opts)
	if err != nil {
		panic(err)
	}
	resp, err := newClient(srv).CreateUserAndToken(context.Background(), []acsidentity.TokenScope{acsidentity.TokenScopeChat}, nil)
	if err != nil {
		panic(err)
	}
	if err := srv.Close(); err != nil { // saves; every acknowledged change is already on disk
		panic(err)
	}

	srv, err = emulator.Start(opts) // a new port, the same state
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	fmt.Println(srv.Emulator.Introspect(resp.Token).Status)
	fmt.Println(len(srv.Emulator.Identities()))
	// Output:
	// valid
	// 1
}
