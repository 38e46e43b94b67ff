package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/acsgo/acsidentity"
)

// TestRunOpaqueTokens runs the command with -opaque-tokens: the library's
// client gets five-part encrypted tokens from it, and a user credential
// refreshed through that client accepts them with its assumed lifetime.
func TestRunOpaqueTokens(t *testing.T) {
	pr, pw := io.Pipe()
	var errb bytes.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int)
	go func() {
		done <- run(ctx, []string{"-addr", "127.0.0.1:0", "-opaque-tokens"}, pw, &errb)
		pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	go io.Copy(io.Discard, pr)

	client, err := acsidentity.NewClientFromConnectionString(strings.TrimSpace(line), nil)
	if err != nil {
		t.Fatal(err)
	}
	created, err := client.CreateUserAndToken(ctx, []acsidentity.TokenScope{acsidentity.TokenScopeChat}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(created.Token, "."); n != 4 {
		t.Fatalf("token with %d dots, want a five-part encrypted token", n)
	}
	cred, err := acsidentity.NewCommunicationTokenCredential(acsidentity.CommunicationTokenCredentialOptions{
		Refresher: func(ctx context.Context) (string, error) {
			res, err := client.GetToken(ctx, created.User, []acsidentity.TokenScope{acsidentity.TokenScopeChat}, nil)
			return res.Token, err
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer cred.Close()
	before := time.Now()
	tok, err := cred.GetToken(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(tok.Token, ".") != 4 || tok.ExpiresOn.Before(before.Add(10*time.Minute)) || tok.ExpiresOn.After(time.Now().Add(10*time.Minute)) {
		t.Fatalf("credential token expires %v, want 10 minutes from when it arrived", tok.ExpiresOn)
	}

	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
}
