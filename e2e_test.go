package acsidentity_test

// The library against the emulator: every operation over real signed HTTP,
// with revoke and delete proven through the emulator's introspection.

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/acsgo/acsidentity"
	"github.com/acsgo/acsidentity/emulator"
)

const previewVersion = "2025-03-02-preview"

// startEmulator starts an emulator for one test.
func startEmulator(t testing.TB, opts *emulator.Options) *emulator.Server {
	t.Helper()
	srv, err := emulator.Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}

// clientFor makes a connection-string client of srv, with fast retries.
func clientFor(t testing.TB, srv *emulator.Server, version string) *acsidentity.Client {
	t.Helper()
	o := &acsidentity.ClientOptions{}
	o.APIVersion = version
	o.Retry = policy.RetryOptions{RetryDelay: time.Millisecond, MaxRetryDelay: 5 * time.Millisecond}
	c, err := acsidentity.NewClientFromConnectionString(srv.ConnectionString(), o)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// claims decodes a JWT's payload without checking it.
func claims(t *testing.T, token string) map[string]any {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d parts", len(parts))
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// verifyToken checks a token's Ed25519 signature with the emulator's public
// key, and that its exp is the response's expiresOn truncated to the
// second (the service's expiresOn keeps its sub-second part).
func verifyToken(t *testing.T, srv *emulator.Server, tok acsidentity.AccessToken) map[string]any {
	t.Helper()
	parts := strings.Split(tok.Token, ".")
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		t.Fatal(err)
	}
	if !ed25519.Verify(srv.Emulator.PublicKey().(ed25519.PublicKey), []byte(parts[0]+"."+parts[1]), sig) {
		t.Fatal("token signature does not verify with the emulator's key")
	}
	c := claims(t, tok.Token)
	if exp := int64(c["exp"].(float64)); exp != tok.ExpiresOn.Unix() {
		t.Errorf("exp %d != expiresOn %v", exp, tok.ExpiresOn)
	}
	return c
}

func TestEmulatorLifecycle(t *testing.T) {
	t.Parallel()
	srv := startEmulator(t, nil)
	c := clientFor(t, srv, "")
	ctx := context.Background()

	created, err := c.CreateUserAndToken(ctx, []acsidentity.TokenScope{acsidentity.TokenScopeChat}, &acsidentity.CreateUserAndTokenOptions{TokenExpiresIn: 60 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(created.User.ID, "8:acs:"+emulator.DevelopmentResourceID+"_") {
		t.Errorf("user ID %q", created.User.ID)
	}
	if life := time.Until(created.ExpiresOn); life < 58*time.Minute || life > 61*time.Minute {
		t.Errorf("a 60-minute token expires in %v", life)
	}
	cl := verifyToken(t, srv, created.AccessToken)
	if cl["skypeid"] != strings.TrimPrefix(created.User.ID, "8:") || cl["acsScope"] != "chat" {
		t.Errorf("claims %v", cl)
	}

	all := acsidentity.PossibleTokenScopeValues()
	tok, err := c.GetToken(ctx, created.User, all, nil)
	if err != nil {
		t.Fatal(err)
	}
	if life := time.Until(tok.ExpiresOn); life < 23*time.Hour || life > 25*time.Hour {
		t.Errorf("default lifetime %v, want 24h", life)
	}
	if got := srv.Emulator.Introspect(tok.Token); got.Status != "valid" || len(got.Scopes) != 5 {
		t.Errorf("fresh token: %+v", got)
	}

	if _, err := c.RevokeTokens(ctx, created.User, nil); err != nil {
		t.Fatal(err)
	}
	for _, old := range []string{created.Token, tok.Token} {
		if got := srv.Emulator.Introspect(old).Status; got != "revoked" {
			t.Errorf("after revoke a token is %q", got)
		}
	}
	after, err := c.GetToken(ctx, created.User, []acsidentity.TokenScope{acsidentity.TokenScopeVoIP}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := srv.Emulator.Introspect(after.Token).Status; got != "valid" {
		t.Errorf("a token issued after the revoke is %q", got)
	}

	if _, err := c.DeleteUser(ctx, created.User, nil); err != nil {
		t.Fatal(err)
	}
	if got := srv.Emulator.Introspect(after.Token).Status; got != "deleted" {
		t.Errorf("after delete a token is %q", got)
	}
	_, err = c.GetToken(ctx, created.User, []acsidentity.TokenScope{acsidentity.TokenScopeChat}, nil)
	var re *azcore.ResponseError
	if !errors.As(err, &re) || re.StatusCode != http.StatusNotFound {
		t.Errorf("GetToken of a deleted user: %v", err)
	}

	plain, err := c.CreateUser(ctx, nil)
	if err != nil || plain.User.ID == "" || plain.User.ID == created.User.ID {
		t.Fatalf("CreateUser: %+v %v", plain, err)
	}
}

func TestEmulatorErrors(t *testing.T) {
	t.Parallel()
	srv := startEmulator(t, nil)
	c := clientFor(t, srv, "")
	ctx := context.Background()
	var re *azcore.ResponseError

	_, err := c.CreateUserAndToken(ctx, []acsidentity.TokenScope{acsidentity.TokenScopeChat}, &acsidentity.CreateUserAndTokenOptions{TokenExpiresIn: 1441 * time.Minute})
	if !errors.As(err, &re) || re.StatusCode != 400 || re.ErrorCode != "ValidationError" || !strings.Contains(err.Error(), "ExpiresInMinutes value 1441 is invalid. Value must be within the [60, 1440] interval.") {
		t.Errorf("1441 minutes: %v", err)
	}
	_, err = c.GetToken(ctx, acsidentity.CommunicationUserIdentifier{ID: "8:acs:" + emulator.DevelopmentResourceID + "_nobody"}, []acsidentity.TokenScope{acsidentity.TokenScopeChat}, nil)
	if !errors.As(err, &re) || re.StatusCode != 404 {
		t.Errorf("unknown user: %v", err)
	}
	_, err = c.CreateUserAndToken(ctx, []acsidentity.TokenScope{"admin"}, nil)
	if !errors.As(err, &re) || re.StatusCode != 400 || re.ErrorCode != "ValidationError" {
		t.Errorf("unknown scope: %v", err)
	}

	// A wrong key is refused with 401, and the error does not show the key.
	const wrongKey = "d3Jvbmcta2V5LXdyb25nLWtleS13cm9uZy1rZXk="
	bad, err := acsidentity.NewClientFromConnectionString("endpoint="+srv.URL+"/;accesskey="+wrongKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = bad.CreateUser(ctx, nil)
	if !errors.As(err, &re) || re.StatusCode != 401 {
		t.Fatalf("wrong key: %v", err)
	}
	if strings.Contains(err.Error(), wrongKey) || strings.Contains(err.Error(), emulator.DevelopmentKey) {
		t.Error("the 401 shows a key")
	}
}

// TestEmulatorUnknownAPIVersion: a version this module does not know is sent
// as given, and the service's refusal comes back as a ResponseError (as
// when ACS retired 2020-07-20-preview2).
func TestEmulatorUnknownAPIVersion(t *testing.T) {
	t.Parallel()
	srv := startEmulator(t, nil)
	c := clientFor(t, srv, "2020-07-20-preview2")
	_, err := c.CreateUser(context.Background(), nil)
	var re *azcore.ResponseError
	if !errors.As(err, &re) || re.StatusCode != http.StatusBadRequest || !strings.Contains(err.Error(), "2020-07-20-preview2") {
		t.Fatalf("got %v", err)
	}
	if re.RawResponse.Header.Get("api-supported-versions") == "" {
		t.Error("the error's response does not list the supported versions")
	}
}

func TestEmulatorCustomIDAndGetUser(t *testing.T) {
	t.Parallel()
	srv := startEmulator(t, nil)
	c := clientFor(t, srv, previewVersion)
	ctx := context.Background()
	first, err := c.CreateUser(ctx, &acsidentity.CreateUserOptions{CustomID: "alice@contoso.com"})
	if err != nil {
		t.Fatal(err)
	}
	again, err := c.CreateUserAndToken(ctx, []acsidentity.TokenScope{acsidentity.TokenScopeChat}, &acsidentity.CreateUserAndTokenOptions{CustomID: "alice@contoso.com"})
	if err != nil {
		t.Fatal(err)
	}
	if again.User != first.User || again.CustomID != "alice@contoso.com" {
		t.Fatalf("same custom ID gave %+v then %+v", first, again)
	}
	got, err := c.GetUser(ctx, first.User, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got.CustomID != "alice@contoso.com" || got.LastTokenIssuedAt.IsZero() || got.LastTokenIssuedAt.After(time.Now().Add(time.Minute)) {
		t.Errorf("GetUser: %+v", got)
	}
}

// TestEmulatorCustomIDConcurrent: 50 goroutines create with one custom ID
// and all get the same identity.
// TestEmulatorCustomIDSurrogates: the library and the emulator agree on
// UTF-16 surrogates. A Go string cannot hold a lone surrogate and still be
// UTF-8: converting one gives U+FFFD, which both take as an ID of its own,
// and its WTF-8 encoding is refused before any I/O, as the emulator
// refuses the \ud800 escape a JavaScript client sends.
func TestEmulatorCustomIDSurrogates(t *testing.T) {
	t.Parallel()
	srv := startEmulator(t, nil)
	c := clientFor(t, srv, previewVersion)
	ctx := context.Background()
	converted := string(utf16.Decode([]uint16{'a', 0xD800}))
	if converted != "a\uFFFD" {
		t.Fatalf("a lone surrogate converted to %q", converted)
	}
	r1, err := c.CreateUser(ctx, &acsidentity.CreateUserOptions{CustomID: converted})
	if err != nil {
		t.Fatal(err)
	}
	r2, err := c.CreateUser(ctx, &acsidentity.CreateUserOptions{CustomID: "a\uFFFD"})
	if err != nil || r2.User != r1.User || r2.CustomID != "a\uFFFD" {
		t.Errorf("U+FFFD twice: %v %v (%v), want one identity", r1.User, r2.User, err)
	}
	pair, err := c.CreateUser(ctx, &acsidentity.CreateUserOptions{CustomID: string(utf16.Decode([]uint16{'a', 0xD83D, 0xDE00}))})
	if err != nil || pair.User == r1.User || pair.CustomID != "a\U0001F600" {
		t.Errorf("a surrogate pair: %v %q (%v), want the identity of its character", pair.User, pair.CustomID, err)
	}
	if _, err := c.CreateUser(ctx, &acsidentity.CreateUserOptions{CustomID: "a\xed\xa0\x80"}); !errors.Is(err, acsidentity.ErrInvalidCustomID) {
		t.Errorf("a WTF-8 lone surrogate: %v, want ErrInvalidCustomID", err)
	}
	if n := len(srv.Emulator.Identities()); n != 2 {
		t.Errorf("%d identities, want 2", n)
	}
}

func TestEmulatorCustomIDConcurrent(t *testing.T) {
	t.Parallel()
	srv := startEmulator(t, nil)
	c := clientFor(t, srv, previewVersion)
	var wg sync.WaitGroup
	ids := make([]string, 50)
	errs := make([]error, 50)
	for i := range ids {
		wg.Go(func() {
			r, err := c.CreateUser(context.Background(), &acsidentity.CreateUserOptions{CustomID: "shared"})
			ids[i], errs[i] = r.User.ID, err
		})
	}
	wg.Wait()
	for i := range ids {
		if errs[i] != nil || ids[i] != ids[0] {
			t.Fatalf("goroutine %d: %q %v, want %q", i, ids[i], errs[i], ids[0])
		}
	}
}

// TestEmulatorCommitThen503: the service acts and then fails. With a custom
// ID the retry returns the same identity and none extra; without one the
// client does not retry, so it makes no second identity either.
func TestEmulatorCommitThen503(t *testing.T) {
	t.Parallel()
	srv := startEmulator(t, nil)
	c := clientFor(t, srv, previewVersion)
	ctx := context.Background()
	srv.Emulator.InjectFault(emulator.Fault{Count: 1, Operation: emulator.OpCreate, Status: 503, AfterCommit: true})
	r, err := c.CreateUserAndToken(ctx, []acsidentity.TokenScope{acsidentity.TokenScopeChat}, &acsidentity.CreateUserAndTokenOptions{CustomID: "bob"})
	if err != nil {
		t.Fatalf("the retry should succeed: %v", err)
	}
	again, err := c.CreateUser(ctx, &acsidentity.CreateUserOptions{CustomID: "bob"})
	if err != nil || again.User != r.User {
		t.Fatalf("custom ID bob now maps to %v (%v), want %v", again.User, err, r.User)
	}

	srv.Emulator.InjectFault(emulator.Fault{Count: 1, Operation: emulator.OpCreate, Status: 503, AfterCommit: true})
	_, err = c.CreateUser(ctx, nil)
	var re *azcore.ResponseError
	if !errors.As(err, &re) || re.StatusCode != 503 {
		t.Fatalf("create without custom ID after commit-then-503: %v", err)
	}
}

// TestEmulatorDeleteCommittedThenFailed: the service deletes and then fails
// (503, or the connection drops); the retry finds the identity gone and
// DeleteUser succeeds. A 404 on the first try stays an error.
func TestEmulatorDeleteCommittedThenFailed(t *testing.T) {
	t.Parallel()
	srv := startEmulator(t, nil)
	c := clientFor(t, srv, "")
	ctx := context.Background()
	for _, f := range []emulator.Fault{
		{Count: 1, Operation: emulator.OpDelete, Status: 503, AfterCommit: true},
		{Count: 1, Operation: emulator.OpDelete, AfterCommit: true, DropConnection: true},
	} {
		u, err := c.CreateUserAndToken(ctx, []acsidentity.TokenScope{acsidentity.TokenScopeChat}, nil)
		if err != nil {
			t.Fatal(err)
		}
		srv.Emulator.InjectFault(f)
		if _, err := c.DeleteUser(ctx, u.User, nil); err != nil {
			t.Errorf("%v: %v", f, err)
		}
		if st := srv.Emulator.Introspect(u.Token).Status; st != "deleted" {
			t.Errorf("%v: token is %q", f, st)
		}
		_, err = c.DeleteUser(ctx, u.User, nil)
		var re *azcore.ResponseError
		if !errors.As(err, &re) || re.StatusCode != http.StatusNotFound {
			t.Errorf("deleting again: %v, want the 404", err)
		}
	}
}

// TestEmulatorThrottleRetried: a burst of 429 with Retry-After is waited
// out and the create succeeds.
func TestEmulatorThrottleRetried(t *testing.T) {
	t.Parallel()
	srv := startEmulator(t, nil)
	o := &acsidentity.ClientOptions{}
	o.Retry.MaxRetryDelay = 5 * time.Second // the emulator's Retry-After is whole seconds
	c, err := acsidentity.NewClientFromConnectionString(srv.ConnectionString(), o)
	if err != nil {
		t.Fatal(err)
	}
	srv.Emulator.InjectFault(emulator.Fault{Count: 2, Operation: emulator.OpCreate, Status: 429, RetryAfter: time.Second})
	if _, err := c.CreateUser(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
}

func TestEmulatorPersistence(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "state.json")
	srv, err := emulator.Start(&emulator.Options{DataFile: file})
	if err != nil {
		t.Fatal(err)
	}
	c := clientFor(t, srv, previewVersion)
	ctx := context.Background()
	keep, err := c.CreateUserAndToken(ctx, []acsidentity.TokenScope{acsidentity.TokenScopeChat}, &acsidentity.CreateUserAndTokenOptions{CustomID: "carol"})
	if err != nil {
		t.Fatal(err)
	}
	gone, err := c.CreateUserAndToken(ctx, []acsidentity.TokenScope{acsidentity.TokenScopeChat}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteUser(ctx, gone.User, nil); err != nil {
		t.Fatal(err)
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}

	srv2 := startEmulator(t, &emulator.Options{DataFile: file})
	c2 := clientFor(t, srv2, previewVersion)
	same, err := c2.CreateUser(ctx, &acsidentity.CreateUserOptions{CustomID: "carol"})
	if err != nil || same.User != keep.User {
		t.Fatalf("after restart carol is %v (%v), want %v", same.User, err, keep.User)
	}
	if st := srv2.Emulator.Introspect(keep.Token).Status; st != "valid" {
		t.Errorf("a token from before the restart is %q", st)
	}
	if st := srv2.Emulator.Introspect(gone.Token).Status; st != "deleted" {
		t.Errorf("a deleted identity's token is %q after restart", st)
	}
}

func TestEmulatorTLS(t *testing.T) {
	t.Parallel()
	srv, err := emulator.StartTLS(nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	o := &acsidentity.ClientOptions{}
	o.Transport = srv.Client()
	c, err := acsidentity.NewClientFromConnectionString(srv.ConnectionString(), o)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(c.Endpoint(), "https://") {
		t.Fatalf("endpoint %s", c.Endpoint())
	}
	if _, err := c.CreateUserAndToken(context.Background(), []acsidentity.TokenScope{acsidentity.TokenScopeVoIP}, nil); err != nil {
		t.Fatal(err)
	}
	// Without trusting the certificate the TLS handshake fails.
	plain, _ := acsidentity.NewClientFromConnectionString(srv.ConnectionString(), &acsidentity.ClientOptions{ClientOptions: azcore.ClientOptions{Retry: policy.RetryOptions{MaxRetries: -1}}})
	if _, err := plain.CreateUser(context.Background(), nil); err == nil {
		t.Fatal("an untrusted certificate was accepted")
	}
}

// entraCredential is an Entra ID credential that mints unsigned JWTs with
// the claims the emulator reads (it does not check signatures).
type entraCredential struct{ tid, oid, appid string }

func (e entraCredential) GetToken(_ context.Context, o policy.TokenRequestOptions) (azcore.AccessToken, error) {
	exp := time.Now().Add(time.Hour)
	return azcore.AccessToken{Token: fakeJWT(map[string]any{
		"aud": "https://communication.azure.com", "tid": e.tid, "oid": e.oid, "appid": e.appid, "exp": exp.Unix(),
	}), ExpiresOn: exp}, nil
}

func fakeJWT(claims map[string]any) string {
	h := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"RS256","typ":"JWT"}`))
	b, _ := json.Marshal(claims)
	return h + "." + base64.RawURLEncoding.EncodeToString(b) + ".c2ln"
}

func TestEmulatorEntraIDAndTeams(t *testing.T) {
	t.Parallel()
	srv := startEmulator(t, &emulator.Options{AllowBearer: true, PageSize: 2})
	ctx := context.Background()
	const tid, oid, app = "11111111-1111-1111-1111-111111111111", "22222222-2222-2222-2222-222222222222", "33333333-3333-3333-3333-333333333333"
	newBearer := func(version string) *acsidentity.Client {
		o := &acsidentity.ClientOptions{}
		o.APIVersion = version
		c, err := acsidentity.NewClient(srv.URL, entraCredential{tid, oid, app}, o)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	ga, preview := newBearer(""), newBearer(previewVersion)

	// Entra ID authentication on the classic operations.
	u, err := ga.CreateUserAndToken(ctx, []acsidentity.TokenScope{acsidentity.TokenScopeChat}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ga.DeleteUser(ctx, u.User, nil); err != nil {
		t.Fatal(err)
	}

	// Teams user exchange: appId and userId must match the Teams token's claims.
	teamsToken := fakeJWT(map[string]any{"aud": "https://auth.msft.communication.azure.com", "appid": app, "oid": oid, "tid": tid, "exp": time.Now().Add(time.Hour).Unix()})
	if _, err := ga.GetTokenForTeamsUser(ctx, teamsToken, app, oid, nil); err != nil {
		t.Fatalf("Teams exchange: %v", err)
	}
	var re *azcore.ResponseError
	if _, err := ga.GetTokenForTeamsUser(ctx, teamsToken, app, tid, nil); !errors.As(err, &re) || re.StatusCode/100 != 4 {
		t.Errorf("Teams exchange with the tenant ID as user ID: %v", err)
	}

	// Teams Phone extension: no assignment → 403; assigned → a token for 8:acs:<res>_<tid>_<oid>.
	if _, err := ga.ExchangeTeamsExtensionToken(ctx, nil); !errors.As(err, &re) || re.StatusCode != 403 {
		t.Errorf("unassigned exchange: %v", err)
	}
	put, err := ga.CreateOrReplaceTeamsExtensionAssignment(ctx, tid, oid, acsidentity.TeamsExtensionAssignmentUpdate{PrincipalType: acsidentity.TeamsExtensionPrincipalTypeUser}, nil)
	if err != nil || !put.Created {
		t.Fatalf("assign: %+v %v", put, err)
	}
	put, err = ga.CreateOrReplaceTeamsExtensionAssignment(ctx, tid, oid, acsidentity.TeamsExtensionAssignmentUpdate{PrincipalType: acsidentity.TeamsExtensionPrincipalTypeUser, ClientIDs: []string{app}}, nil)
	if err != nil || put.Created {
		t.Fatalf("replace: %+v %v", put, err)
	}
	if got, err := ga.GetTeamsExtensionAssignment(ctx, tid, oid, nil); err != nil || len(got.ClientIDs) != 1 {
		t.Fatalf("get: %+v %v", got, err)
	}
	ext, err := ga.ExchangeTeamsExtensionToken(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := "8:acs:" + emulator.DevelopmentResourceID + "_" + tid + "_" + oid; ext.User.ID != want {
		t.Errorf("extension user %q, want %q", ext.User.ID, want)
	}
	verifyToken(t, srv, ext.AccessToken)
	if _, err := ga.DeleteTeamsExtensionAssignment(ctx, tid, oid, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := ga.GetTeamsExtensionAssignment(ctx, tid, oid, nil); !errors.As(err, &re) || re.StatusCode != 404 {
		t.Errorf("get after delete: %v", err)
	}

	// Entra: assignments, paging over pages of 2, merge-patch, exchange.
	if _, err := preview.ExchangeEntraToken(ctx, nil); !errors.As(err, &re) || re.StatusCode != 403 {
		t.Errorf("unassigned Entra exchange: %v", err)
	}
	ids := []string{"a0000000-0000-0000-0000-000000000001", "a0000000-0000-0000-0000-000000000002", "a0000000-0000-0000-0000-000000000003", "a0000000-0000-0000-0000-000000000004", "a0000000-0000-0000-0000-000000000005"}
	for _, id := range ids {
		if _, err := preview.CreateOrReplaceEntraAssignment(ctx, id, acsidentity.EntraAssignmentUpdate{TenantID: tid, PrincipalType: acsidentity.EntraPrincipalTypeUser}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := preview.UpdateEntraAssignments(ctx, map[string]*acsidentity.EntraAssignmentUpdate{
		ids[4]: nil,
		oid:    {TenantID: tid, PrincipalType: acsidentity.EntraPrincipalTypeUser, ClientIDs: []string{app}},
	}, nil); err != nil {
		t.Fatal(err)
	}
	var listed []string
	pages := 0
	for pager := preview.NewListEntraAssignmentsPager(nil); pager.More(); {
		page, err := pager.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, a := range page.Assignments {
			listed = append(listed, a.ObjectID)
		}
	}
	if len(listed) != 5 || pages != 3 || strings.Contains(strings.Join(listed, ","), ids[4]) {
		t.Errorf("listed %v in %d pages", listed, pages)
	}
	if got, err := preview.GetEntraAssignment(ctx, oid, nil); err != nil || got.TenantID != tid {
		t.Fatalf("get: %+v %v", got, err)
	}
	tok, err := preview.ExchangeEntraToken(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	verifyToken(t, srv, tok.AccessToken)
	if _, err := preview.DeleteEntraAssignment(ctx, oid, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := preview.GetEntraAssignment(ctx, oid, nil); !errors.As(err, &re) || re.StatusCode != 404 {
		t.Errorf("get after delete: %v", err)
	}
}

// TestEmulatorConcurrentMixed runs 1000 mixed operations from many
// goroutines and checks the final state: every identity still alive works,
// every deleted one is gone, nothing was lost.
func TestEmulatorConcurrentMixed(t *testing.T) {
	t.Parallel()
	srv := startEmulator(t, nil)
	c := clientFor(t, srv, "")
	ctx := context.Background()
	const workers, perWorker = 20, 50 // 1000 operations
	type result struct {
		user    acsidentity.CommunicationUserIdentifier
		deleted bool
	}
	results := make([][]result, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			var mine []result
			for i := 0; i < perWorker; {
				r, err := c.CreateUserAndToken(ctx, []acsidentity.TokenScope{acsidentity.TokenScopeChat}, nil)
				i++
				if err != nil {
					t.Error(err)
					return
				}
				res := result{user: r.User}
				if i < perWorker {
					_, err = c.GetToken(ctx, r.User, []acsidentity.TokenScope{acsidentity.TokenScopeVoIP}, nil)
					i++
				}
				if err == nil && i < perWorker && i%3 == 0 {
					_, err = c.DeleteUser(ctx, r.User, nil)
					res.deleted = true
					i++
				}
				if err != nil {
					t.Error(err)
					return
				}
				mine = append(mine, res)
			}
			results[w] = mine
		})
	}
	wg.Wait()
	seen := map[string]bool{}
	var re *azcore.ResponseError
	for _, rs := range results {
		for _, r := range rs {
			if seen[r.user.ID] {
				t.Fatalf("identity %s was returned twice", r.user.ID)
			}
			seen[r.user.ID] = true
			_, err := c.GetToken(ctx, r.user, []acsidentity.TokenScope{acsidentity.TokenScopeChat}, nil)
			switch {
			case r.deleted && !(errors.As(err, &re) && re.StatusCode == 404):
				t.Errorf("deleted %s: %v", r.user.ID, err)
			case !r.deleted && err != nil:
				t.Errorf("live %s: %v", r.user.ID, err)
			}
		}
	}
	if len(seen) < workers*perWorker/3 {
		t.Errorf("only %d identities", len(seen))
	}
}
