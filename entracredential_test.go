package acsidentity

// The Entra user credential against the official SDKs' own unit tests:
// communication-common's entraCommunicationTokenCredential.spec.ts (JS),
// EntraTokenCredentialTest.cs and EntraTokenGuardPolicyTests.cs (.NET),
// EntraTokenCredentialTests.java and EntraTokenGuardPolicyTests.java (Java),
// test_token_exchange.py and test_entra_token_guard_policy.py (Python). Each
// Go test names the cases it transcribes. The SDKs' cases run against a
// mocked HTTP client and a mocked TokenCredential; so do these, with a
// scripted azcore transport and a scripted azcore.TokenCredential, and with
// the real pipeline (bearer policy, guard, retries) in between.

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	azlog "github.com/Azure/azure-sdk-for-go/sdk/azcore/log"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/google/go-cmp/cmp"
)

const (
	entraTestEndpoint   = "https://myresource.communication.azure.com"
	commClientsScope    = CommunicationClientsScopePrefix + "VoIP"
	teamsExtensionScope = TeamsExtensionScopePrefix + "TeamsExtension.ManageCalls"
	commClientsPath     = "/access/entra/:exchangeAccessToken"
	teamsExtensionPath  = "/access/teamsExtension/:exchangeAccessToken"
	// waitLong bounds every wait for an event: generous, for a loaded machine.
	waitLong = 30 * time.Second
)

// entraScopeCases are the SDKs' validScopes (.NET, Java) and the two
// endpoints of the JS loop, plus the GCC High prefix of JS 2.5.0 and .NET 1.4.1.
var entraScopeCases = []struct {
	name, scope, path, version string
}{
	{"CommunicationClients", commClientsScope, commClientsPath, "2025-03-02-preview"},
	{"TeamsExtension", teamsExtensionScope, teamsExtensionPath, "2025-06-30"},
	{"TeamsExtensionGCCHigh", TeamsExtensionGCCHighScopePrefix + "TeamsExtension.ManageCalls", teamsExtensionPath, "2025-06-30"},
}

// exchangeAnswer is the body of a successful exchange.
func exchangeAnswer(token string, expiresOn time.Time) string {
	return `{"identity":{"id":"` + extUser + `"},"accessToken":{"token":"` + token + `","expiresOn":"` + expiresOn.UTC().Format(time.RFC3339Nano) + `"}}`
}

// scriptedAnswer is one answer of a scriptedTransport; err, when set, is
// returned instead of a response.
type scriptedAnswer struct {
	status int
	body   string
	header http.Header
	err    error
	// hold, when set, is waited for (or the request's context) before answering.
	hold <-chan struct{}
}

// sentRequest is what a scriptedTransport saw of one request.
type sentRequest struct {
	Method, Path, Query, Body, Authorization, Accept, ContentType string
}

// scriptedTransport answers requests in order from its script; a request
// beyond the script is a test failure (answered 418, which azcore does not
// retry). seen receives every request as it arrives.
type scriptedTransport struct {
	t       testing.TB
	mu      sync.Mutex
	script  []scriptedAnswer
	sent    []sentRequest
	arrived chan struct{}
}

func newScriptedTransport(t testing.TB, script ...scriptedAnswer) *scriptedTransport {
	return &scriptedTransport{t: t, script: script, arrived: make(chan struct{}, 1000)}
}

func (s *scriptedTransport) Do(r *http.Request) (*http.Response, error) {
	var body []byte
	if r.Body != nil {
		body, _ = io.ReadAll(r.Body)
	}
	s.mu.Lock()
	s.sent = append(s.sent, sentRequest{r.Method, r.URL.Path, r.URL.RawQuery, string(body),
		r.Header.Get("Authorization"), r.Header.Get("Accept"), r.Header.Get("Content-Type")})
	n := len(s.sent)
	var a scriptedAnswer
	if n <= len(s.script) {
		a = s.script[n-1]
	} else {
		s.t.Errorf("request %d beyond the script of %d: %s %s", n, len(s.script), r.Method, r.URL.Path)
		a = scriptedAnswer{status: http.StatusTeapot}
	}
	s.mu.Unlock()
	s.arrived <- struct{}{}
	if a.hold != nil {
		select {
		case <-a.hold:
		case <-r.Context().Done():
			return nil, r.Context().Err()
		}
	}
	if a.err != nil {
		return nil, a.err
	}
	h := a.header.Clone()
	if h == nil {
		h = http.Header{}
	}
	h.Set("Content-Type", "application/json")
	return &http.Response{StatusCode: a.status, Status: fmt.Sprintf("%d %s", a.status, http.StatusText(a.status)),
		Header: h, Body: io.NopCloser(strings.NewReader(a.body)), Request: r}, nil
}

func (s *scriptedTransport) requests() []sentRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]sentRequest(nil), s.sent...)
}

// awaitRequests waits until n requests have arrived.
func (s *scriptedTransport) awaitRequests(n int) {
	s.t.Helper()
	deadline := time.After(waitLong)
	for len(s.requests()) < n {
		select {
		case <-s.arrived:
		case <-deadline:
			s.t.Fatalf("%d requests arrived, want %d", len(s.requests()), n)
		}
	}
}

// scriptedEntra is a TokenCredential that returns its tokens in order, then
// "entra-default-<n>" valid for an hour (as Java's MockTokenCredential does),
// and records every call's scopes.
type scriptedEntra struct {
	mu     sync.Mutex
	tokens []azcore.AccessToken
	err    error
	scopes [][]string
}

func (e *scriptedEntra) GetToken(_ context.Context, o policy.TokenRequestOptions) (azcore.AccessToken, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.scopes = append(e.scopes, append([]string(nil), o.Scopes...))
	if e.err != nil {
		return azcore.AccessToken{}, e.err
	}
	if n := len(e.scopes); n <= len(e.tokens) {
		return e.tokens[n-1], nil
	}
	return azcore.AccessToken{Token: fmt.Sprintf("entra-default-%d", len(e.scopes)), ExpiresOn: time.Now().Add(time.Hour)}, nil
}

func (e *scriptedEntra) calls() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.scopes)
}

// newEntraCredentialForTest makes an Entra user credential on tr with fast
// retries, closed when the test ends.
func newEntraCredentialForTest(t testing.TB, scopes []string, cred azcore.TokenCredential, tr policy.Transporter) *CommunicationTokenCredential {
	t.Helper()
	c, err := NewEntraCommunicationTokenCredential(EntraCommunicationTokenCredentialOptions{
		ResourceEndpoint: entraTestEndpoint, TokenCredential: cred, Scopes: scopes,
		ClientOptions: &azcore.ClientOptions{Transport: tr, Retry: policy.RetryOptions{RetryDelay: time.Millisecond, MaxRetryDelay: 5 * time.Millisecond}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// awaitIdle waits for the credential's running exchange (such as the
// pre-warm) to end. In .NET and Java the pre-warm completes inside the
// constructor when the transport is a mock; here it runs on a goroutine.
func awaitIdle(t testing.TB, c *CommunicationTokenCredential) {
	t.Helper()
	c.mu.Lock()
	call := c.inflight
	c.mu.Unlock()
	if call == nil {
		return
	}
	select {
	case <-call.done:
	case <-time.After(waitLong):
		t.Fatal("the exchange did not end")
	}
}

// awaitWaiting waits until n GetToken calls wait for an exchange.
func awaitWaiting(t *testing.T, c *CommunicationTokenCredential, n int) {
	t.Helper()
	for deadline := time.Now().Add(waitLong); ; time.Sleep(time.Millisecond) {
		c.mu.Lock()
		w := c.waiting
		c.mu.Unlock()
		if w >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d calls waiting, want %d", w, n)
		}
	}
}

func validEntra(token string) azcore.AccessToken {
	return azcore.AccessToken{Token: token, ExpiresOn: time.Now().Add(time.Hour)}
}

// .NET EntraTokenCredentialTest.EntraCommunicationTokenCredentialOptions_Init_ThrowsErrorWithNulls
// (both valid scopes) and EntraTokenCredential_Ctor_NullOptionsThrows (Go
// options are a value: the zero value stands for null); Java
// EntraTokenCredentialTests.entraTokenCredentialOptionsConstructThrowsOnNulls.
func TestEntraCommunicationTokenCredentialOptions_Init_ThrowsErrorWithNulls(t *testing.T) {
	t.Parallel()
	for _, sc := range entraScopeCases {
		for name, o := range map[string]EntraCommunicationTokenCredentialOptions{
			"zero options":   {},
			"no endpoint":    {TokenCredential: &scriptedEntra{}, Scopes: []string{sc.scope}},
			"blank endpoint": {ResourceEndpoint: "  ", TokenCredential: &scriptedEntra{}, Scopes: []string{sc.scope}},
			"no credential":  {ResourceEndpoint: entraTestEndpoint, Scopes: []string{sc.scope}},
		} {
			if c, err := NewEntraCommunicationTokenCredential(o); !errors.Is(err, ErrMissingArgument) || c != nil {
				t.Errorf("%s, %s: %v, %v; want ErrMissingArgument", sc.name, name, c, err)
			}
		}
	}
	// A malformed endpoint and plain HTTP are refused as by NewClient.
	for _, ep := range []string{"not a url", "ftp://x", "http://contoso.communication.azure.com"} {
		if _, err := NewEntraCommunicationTokenCredential(EntraCommunicationTokenCredentialOptions{ResourceEndpoint: ep, TokenCredential: &scriptedEntra{}}); err == nil {
			t.Errorf("%q accepted", ep)
		}
	}
}

// .NET EntraTokenCredentialTest.EntraCommunicationTokenCredentialOptions_NullOrEmptyScopes_ThrowsError
// (the empty list; a nil slice is Go's "not set" and means the default),
// EntraCommunicationTokenCredentialOptions_InvalidScopes_ThrowsForInvalidScopes
// and EntraTokenCredential_GetToken_ThrowsForInvalidScopes (4 cases each);
// Java EntraTokenCredentialTests.entraTokenCredentialOptionsConstructWithNullOrEmptyScopesThrowsException
// and entraTokenCredentialOptionsConstructWithInvalidScopesThrowsException
// (4 cases); JS "It returns error when empty scopes provided" and "It
// returns error when unrecognized scopes provided" (JS fails at getToken,
// .NET and Java at construction, as here); Python
// test_token_exchange.py::test_determine_endpoint_and_api_version_invalid_scope.
// Nothing is asked of Entra ID and nothing is sent.
func TestEntraCommunicationTokenCredentialOptions_InvalidScopes_ThrowsForInvalidScopes(t *testing.T) {
	t.Parallel()
	for name, scopes := range map[string][]string{
		"empty list":                     {},
		"clients then teams":             {commClientsScope, teamsExtensionScope},
		"teams then clients":             {teamsExtensionScope, commClientsScope},
		"invalidScope":                   {"invalidScope"},
		"empty string":                   {""},
		"empty string after a valid one": {commClientsScope, ""},
		"JS unrecognized":                {"https://contoso.com/clients/unknown"},
		"Python invalid-scope":           {"invalid-scope"},
		"teams and GCC High":             {teamsExtensionScope, TeamsExtensionGCCHighScopePrefix + "TeamsExtension.ManageCalls"},
		"prefix in another case":         {"https://Communication.azure.com/clients/VoIP"},
		"the Identity admin scope":       {"https://communication.azure.com//.default"},
	} {
		cred := &scriptedEntra{}
		tr := newScriptedTransport(t)
		c, err := NewEntraCommunicationTokenCredential(EntraCommunicationTokenCredentialOptions{
			ResourceEndpoint: entraTestEndpoint, TokenCredential: cred, Scopes: scopes,
			ClientOptions: &azcore.ClientOptions{Transport: tr},
		})
		if !errors.Is(err, ErrInvalidEntraScopes) || c != nil {
			t.Errorf("%s: %v; want ErrInvalidEntraScopes", name, err)
		}
		if cred.calls() != 0 || len(tr.requests()) != 0 {
			t.Errorf("%s: %d Entra calls, %d requests", name, cred.calls(), len(tr.requests()))
		}
	}
}

// .NET EntraTokenCredentialTest.EntraCommunicationTokenCredentialOptions_InitWithoutScopes_InitsWithDefaultScope
// and EntraTokenCredential_InitWithoutScopes_ReturnsCommunicationClientsToken;
// Java EntraTokenCredentialTests.entraTokenCredentialOptionsConstructWithoutScopesDefaultScopeIsSet
// and entraTokenCredentialConstructWithoutScopesExchangeEntraTokenReturnsCommunicationClientsToken;
// JS "Token exchange is called with default scopes when not passing scopes
// on AzureCommunicationTokenCredential".
func TestEntraCommunicationTokenCredentialOptions_InitWithoutScopes_InitsWithDefaultScope(t *testing.T) {
	t.Parallel()
	exp := time.Date(2034, 10, 4, 10, 21, 29, 472939300, time.UTC)
	cred := &scriptedEntra{}
	tr := newScriptedTransport(t, scriptedAnswer{status: 200, body: exchangeAnswer("acs-token", exp)})
	c := newEntraCredentialForTest(t, nil, cred, tr)
	tok, err := c.GetToken(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if tok.Token != "acs-token" || !tok.ExpiresOn.Equal(exp) {
		t.Errorf("token %v", tok)
	}
	if diff := cmp.Diff([][]string{{"https://communication.azure.com/clients/.default"}}, cred.scopes); diff != "" {
		t.Errorf("scopes asked of Entra ID (-want +got):\n%s", diff)
	}
	if r := tr.requests(); len(r) != 1 || r[0].Path != commClientsPath || r[0].Query != "api-version=2025-03-02-preview" {
		t.Errorf("requests %+v", r)
	}
}

// .NET EntraTokenCredentialTest.EntraTokenCredential_GetToken_ReturnsToken (both
// scopes); Java EntraTokenCredentialTests.entraTokenCredentialWithExplicitScopesExchangeEntraTokenReturnsAccessToken
// (both) and entraTokenCredentialOptionsConstructWithExplicitScopesScopesAreSet;
// JS "Token exchange is called when passing Entra credential" (both
// endpoints); Python test_token_exchange.py::test_exchange_entra_token_success
// (and its async twin), test_create_request_message_and_uri,
// test_determine_endpoint_and_api_version_teams_extension,
// test_determine_endpoint_and_api_version_communication_clients and
// test_parse_expires_on_iso_string. The request is exactly the SDKs': POST,
// the endpoint's path and api-version, the Entra token as a bearer token,
// JSON in and out, an empty object as the body.
func TestEntraTokenCredential_GetToken_ReturnsToken(t *testing.T) {
	t.Parallel()
	for _, sc := range entraScopeCases {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			exp := time.Date(2034, 10, 4, 10, 21, 29, 472939300, time.UTC)
			cred := &scriptedEntra{tokens: []azcore.AccessToken{validEntra("entraToken")}}
			tr := newScriptedTransport(t, scriptedAnswer{status: 200, body: exchangeAnswer("acsToken", exp)})
			c := newEntraCredentialForTest(t, []string{sc.scope}, cred, tr)
			tok, err := c.GetToken(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if tok.Token != "acsToken" || !tok.ExpiresOn.Equal(exp) {
				t.Errorf("token %v, want acsToken expiring %v", tok, exp)
			}
			want := []sentRequest{{Method: "POST", Path: sc.path, Query: "api-version=" + sc.version, Body: "{}",
				Authorization: "Bearer entraToken", Accept: "application/json", ContentType: "application/json"}}
			if diff := cmp.Diff(want, tr.requests()); diff != "" {
				t.Errorf("requests (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff([][]string{{sc.scope}}, cred.scopes); diff != "" {
				t.Errorf("Entra calls (-want +got):\n%s", diff)
			}
		})
	}
}

// .NET EntraTokenCredentialTest.EntraTokenCredential_Init_FetchesTokenImmediately
// (both scopes); Java EntraTokenCredentialTests.entraTokenCredentialConstructFetchesAccessTokenImmediately.
// No GetToken: the constructor alone asks Entra ID once and exchanges once.
func TestEntraTokenCredential_Init_FetchesTokenImmediately(t *testing.T) {
	t.Parallel()
	for _, sc := range entraScopeCases {
		cred := &scriptedEntra{}
		tr := newScriptedTransport(t, scriptedAnswer{status: 200, body: exchangeAnswer("acsToken", time.Now().Add(time.Hour))})
		c := newEntraCredentialForTest(t, []string{sc.scope}, cred, tr)
		tr.awaitRequests(1)
		awaitIdle(t, c)
		if cred.calls() != 1 || len(tr.requests()) != 1 {
			t.Errorf("%s: %d Entra calls, %d requests; want 1 and 1", sc.name, cred.calls(), len(tr.requests()))
		}
	}
}

// .NET EntraTokenCredentialTest.EntraTokenCredential_GetToken_MultipleCallsReturnsCachedToken
// (both scopes, 11 calls); Java EntraTokenCredentialTests.entraTokenCredentialExchangeEntraTokenMultipleCallsReturnsCachedToken
// (both, 6 calls); JS "Token exchange is not called again when Entra token
// stays the same" (both endpoints).
func TestEntraTokenCredential_GetToken_MultipleCallsReturnsCachedToken(t *testing.T) {
	t.Parallel()
	for _, sc := range entraScopeCases {
		cred := &scriptedEntra{}
		tr := newScriptedTransport(t, scriptedAnswer{status: 200, body: exchangeAnswer("acsToken", time.Now().Add(time.Hour))})
		c := newEntraCredentialForTest(t, []string{sc.scope}, cred, tr)
		for i := range 11 {
			tok, err := c.GetToken(context.Background())
			if err != nil || tok.Token != "acsToken" {
				t.Fatalf("%s: call %d: %v, %v", sc.name, i, tok, err)
			}
		}
		if cred.calls() != 1 || len(tr.requests()) != 1 {
			t.Errorf("%s: %d Entra calls, %d requests; want 1 and 1", sc.name, cred.calls(), len(tr.requests()))
		}
	}
}

// .NET EntraTokenCredentialTest.EntraTokenCredential_GetToken_InternalEntraTokenChangeInvalidatesCachedToken
// (both scopes); Java EntraTokenCredentialTests.entraTokenCredentialExchangeEntraTokenInternalEntraTokenChangedInvalidatesCachedToken
// (both); JS "Token exchange gets called again when Entra token changes"
// (both endpoints). As in .NET and Java, the Entra token changes because the
// first one expired and the bearer policy asks Entra ID again; JS asks on
// every call and compares (the majority's way is documented on
// NewEntraCommunicationTokenCredential). The ACS token from the first Entra
// token is still valid: only the change forces the new exchange.
func TestEntraTokenCredential_GetToken_InternalEntraTokenChangeInvalidatesCachedToken(t *testing.T) {
	t.Parallel()
	for _, sc := range entraScopeCases {
		cred := &scriptedEntra{tokens: []azcore.AccessToken{
			{Token: "Entra token for call from constructor", ExpiresOn: time.Now().Add(-time.Minute)},
			validEntra("Entra token for the first getToken call"),
		}}
		later := time.Now().Add(time.Hour)
		tr := newScriptedTransport(t,
			scriptedAnswer{status: 200, body: exchangeAnswer("acsToken", later)},
			scriptedAnswer{status: 200, body: exchangeAnswer("newToken", later)})
		c := newEntraCredentialForTest(t, []string{sc.scope}, cred, tr)
		awaitIdle(t, c)
		for i := range 3 { // JS: the next call, with the same new Entra token, does not exchange
			tok, err := c.GetToken(context.Background())
			if err != nil || tok.Token != "newToken" {
				t.Fatalf("%s: call %d: %v, %v; want newToken", sc.name, i, tok, err)
			}
		}
		r := tr.requests()
		if cred.calls() != 2 || len(r) != 2 || r[1].Authorization != "Bearer Entra token for the first getToken call" {
			t.Errorf("%s: %d Entra calls, requests %+v", sc.name, cred.calls(), r)
		}
	}
}

// JS "Token exchange gets called again when acs token expires" (both
// endpoints). The exchange answers with an ACS token that has already
// expired: it is returned as it is (JS, .NET and Java do; Python's
// credential refuses it), and the next call exchanges again.
func TestEntraTokenCredential_GetToken_CalledAgainWhenAcsTokenExpires(t *testing.T) {
	t.Parallel()
	for _, sc := range entraScopeCases {
		expired := time.Now().Add(-time.Minute).Truncate(time.Millisecond)
		cred := &scriptedEntra{}
		tr := newScriptedTransport(t,
			scriptedAnswer{status: 200, body: exchangeAnswer("expired-pre-warm", expired)},
			scriptedAnswer{status: 200, body: exchangeAnswer("expired", expired)},
			scriptedAnswer{status: 200, body: exchangeAnswer("acsToken", time.Now().Add(time.Hour))})
		c := newEntraCredentialForTest(t, []string{sc.scope}, cred, tr)
		awaitIdle(t, c)
		tok, err := c.GetToken(context.Background())
		if err != nil || tok.Token != "expired" || !tok.ExpiresOn.Equal(expired) {
			t.Fatalf("%s: %v, %v; want the expired token as it is", sc.name, tok, err)
		}
		for range 2 {
			if tok, err = c.GetToken(context.Background()); err != nil || tok.Token != "acsToken" {
				t.Fatalf("%s: %v, %v; want acsToken", sc.name, tok, err)
			}
		}
		if n := len(tr.requests()); n != 3 || cred.calls() != 1 {
			t.Errorf("%s: %d requests, %d Entra calls; want 3 and 1", sc.name, n, cred.calls())
		}
	}
}

// .NET EntraTokenCredentialTest.EntraTokenCredential_GetToken_ThrowsFailedResponse
// (both scopes); Java EntraTokenCredentialTests.entraTokenCredentialExchangeEntraTokenFailedResponseThrowsException
// (both); JS "It returns error when tokenExchange fails"; Python
// test_token_exchange.py::test_exchange_entra_token_failure (and its async
// twin). As in .NET and Java (whose mocks answer the pre-warm and the call
// alike), the pre-warm's failure is not handed to GetToken: GetToken
// exchanges itself and returns its own failure, an *azcore.ResponseError.
// In JS, getToken joins the pre-warm and gets its error; JS's "success" mock
// after one 401 would not be used there, and is not scripted here.
func TestEntraTokenCredential_GetToken_ThrowsFailedResponse(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		status   int
		body     string
		wantCode string
	}{
		{400, `{"error":{"code":"BadRequest","message":"Invalid request."}}`, "BadRequest"}, // .NET, Java
		{401, `{"error":"Unauthorized"}`, ""},                                               // JS
		{403, `{"error":{"code":"Forbidden","message":"No assignment."}}`, "Forbidden"},
	} {
		for _, sc := range entraScopeCases {
			tr := newScriptedTransport(t, scriptedAnswer{status: tc.status, body: tc.body}, scriptedAnswer{status: tc.status, body: tc.body})
			c := newEntraCredentialForTest(t, []string{sc.scope}, &scriptedEntra{}, tr)
			_, err := c.GetToken(context.Background())
			var re *azcore.ResponseError
			if !errors.As(err, &re) || re.StatusCode != tc.status || re.ErrorCode != tc.wantCode {
				t.Errorf("%s %d: %v; want an *azcore.ResponseError %d %q", sc.name, tc.status, err, tc.status, tc.wantCode)
			}
			if tc.status == 401 && !strings.Contains(err.Error(), "Unauthorized") {
				t.Errorf("JS: the error does not say Unauthorized: %v", err)
			}
			if n := len(tr.requests()); n != 2 {
				t.Errorf("%s %d: %d requests; want 2 (the pre-warm's and GetToken's own)", sc.name, tc.status, n)
			}
		}
	}
}

// .NET EntraTokenCredentialTest.EntraTokenCredential_GetToken_ThrowsInvalidJson
// (both scopes; a 200 whose body is an error object); Java
// EntraTokenCredentialTests.entraTokenCredentialExchangeEntraTokenInvalidJsonThrowsException
// (both; {"notAccessToken":true}); Python test_token_exchange.py::
// test_parse_access_token_from_response_invalid_json, ..._missing_fields
// (and their async twins), test_parse_expires_on_invalid_type and
// test_parse_expires_on_invalid_string. .NET and Java throw their HTTP error
// type, Python a ClientAuthenticationError; here it is an error that says
// what is wrong, without quoting the answer (it may hold a token), and the
// bad answer is not cached: the next call exchanges again (Java
// EntraTokenGuardPolicyTests.process_WithInvalidResponseBody_InvokesNextProcessAgain).
func TestEntraTokenCredential_GetToken_ThrowsInvalidJson(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct{ body, why string }{
		".NET error body":          {`{"error":{"code":"BadRequest","message":"Invalid request."}}`, "no accessToken"},
		"Java notAccessToken":      {`{"notAccessToken":true}`, "no accessToken"},
		"Python not json":          {`not json`, "malformed JSON"},
		"Python missing fields":    {`{"invalid": "data"}`, "no accessToken"},
		"Python expiresOn None":    {`{"accessToken":{"token":"secret-tok","expiresOn":null}}`, "expiresOn is not"},
		"Python invalid-date":      {`{"accessToken":{"token":"secret-tok","expiresOn":"invalid-date"}}`, "expiresOn is not"},
		"no expiresOn":             {`{"accessToken":{"token":"secret-tok"}}`, "expiresOn is missing"},
		"empty token":              {`{"accessToken":{"token":"","expiresOn":"2034-10-04T10:21:29Z"}}`, "token is missing or empty"},
		"token of the wrong type":  {`{"accessToken":{"token":7,"expiresOn":"2034-10-04T10:21:29Z"}}`, "wrong JSON type"},
		"empty body":               {``, "malformed JSON"},
		"truncated after a secret": {`{"accessToken":{"token":"secret-tok","expi`, "malformed JSON"},
	} {
		tr := newScriptedTransport(t, scriptedAnswer{status: 200, body: tc.body}, scriptedAnswer{status: 200, body: tc.body}, scriptedAnswer{status: 200, body: tc.body})
		c := newEntraCredentialForTest(t, []string{commClientsScope}, &scriptedEntra{}, tr)
		awaitIdle(t, c)
		for range 2 {
			_, err := c.GetToken(context.Background())
			if err == nil || !strings.Contains(err.Error(), "is not an access token") || !strings.Contains(err.Error(), tc.why) {
				t.Errorf("%s: %v; want an error saying %q", name, err, tc.why)
			} else if strings.Contains(err.Error(), "secret-tok") || strings.Contains(err.Error(), "invalid-date") {
				t.Errorf("%s: the error quotes the answer: %v", name, err)
			}
		}
		if n := len(tr.requests()); n != 3 {
			t.Errorf("%s: %d requests; want 3 (nothing cached)", name, n)
		}
	}
}

// .NET EntraTokenCredentialTest.EntraTokenCredential_GetToken_RetriesThreeTimesOnTransientError
// (both scopes) and Java EntraTokenCredentialTests.entraTokenCredentialExchangeEntraTokenRetriesThreeTimesOnTransientError
// (both): four 500s for the pre-warm, four for GetToken, whose error is the
// last answer's; a ninth answer is never asked for. JS "It retries only 3
// times when service is busy": four 503s with Retry-After 0 and then a
// success that is not reached (in JS by getToken joining the pre-warm; here,
// the majority's way, by GetToken's own four tries after the pre-warm's).
func TestEntraTokenCredential_GetToken_RetriesThreeTimesOnTransientError(t *testing.T) {
	t.Parallel()
	for _, status := range []int{500, 503} {
		for _, sc := range entraScopeCases {
			var script []scriptedAnswer
			for i := range 8 {
				script = append(script, scriptedAnswer{status: status, body: fmt.Sprintf(`{"error":{"code":"Busy","message":"try %d"}}`, i+1),
					header: http.Header{"Retry-After": {"0"}}})
			}
			tr := newScriptedTransport(t, script...)
			c := newEntraCredentialForTest(t, []string{sc.scope}, &scriptedEntra{}, tr)
			_, err := c.GetToken(context.Background())
			var re *azcore.ResponseError
			if !errors.As(err, &re) || re.StatusCode != status || !strings.Contains(err.Error(), "try 8") {
				t.Errorf("%s %d: %v; want the eighth answer as an *azcore.ResponseError", sc.name, status, err)
			}
			if n := len(tr.requests()); n != 8 {
				t.Errorf("%s %d: %d requests; want 8", sc.name, status, n)
			}
		}
	}
}

// JS "Retries when service is busy" (both endpoints): one 503 with
// Retry-After 0, then success; the token arrives.
func TestEntraTokenCredential_RetriesWhenServiceIsBusy(t *testing.T) {
	t.Parallel()
	for _, sc := range entraScopeCases {
		tr := newScriptedTransport(t,
			scriptedAnswer{status: 503, body: `{"error":"Service Unavailable"}`, header: http.Header{"Retry-After": {"0"}}},
			scriptedAnswer{status: 200, body: exchangeAnswer("acsToken", time.Now().Add(time.Hour))})
		c := newEntraCredentialForTest(t, []string{sc.scope}, &scriptedEntra{}, tr)
		if tok, err := c.GetToken(context.Background()); err != nil || tok.Token != "acsToken" {
			t.Errorf("%s: %v, %v", sc.name, tok, err)
		}
		if n := len(tr.requests()); n != 2 {
			t.Errorf("%s: %d requests; want 2", sc.name, n)
		}
	}
}

// .NET EntraTokenCredentialTest.EntraTokenCredential_GetToken_NoIssueIfScopesChanged;
// Java EntraTokenCredentialTests.entraTokenCredentialScopesChangedAfterCredentialConstructionNoImpactReturnsToken
// and entraTokenCredentialScopesChangedAfterOptionsConstructionDoesAffectOriginalScopes:
// the credential keeps its own copy of the scopes; a change made before it
// is made counts.
func TestEntraTokenCredential_GetToken_NoIssueIfScopesChanged(t *testing.T) {
	t.Parallel()
	later := time.Now().Add(time.Hour)
	t.Run("after construction", func(t *testing.T) {
		t.Parallel()
		scopes := []string{commClientsScope, CommunicationClientsScopePrefix + "Chat"}
		cred := &scriptedEntra{tokens: []azcore.AccessToken{
			{Token: "Entra token for call from constructor", ExpiresOn: time.Now().Add(-time.Minute)},
			validEntra("Entra token for the exchangeToken call"),
		}}
		tr := newScriptedTransport(t,
			scriptedAnswer{status: 200, body: exchangeAnswer("to-be-replaced", later)},
			scriptedAnswer{status: 200, body: exchangeAnswer("acsToken", later)})
		c := newEntraCredentialForTest(t, scopes, cred, tr)
		scopes[0], scopes[1] = teamsExtensionScope, teamsExtensionScope
		awaitIdle(t, c)
		if tok, err := c.GetToken(context.Background()); err != nil || tok.Token != "acsToken" {
			t.Fatalf("%v, %v", tok, err)
		}
		r := tr.requests()
		if len(r) != 2 || r[1].Path != commClientsPath {
			t.Errorf("requests %+v", r)
		}
		want := []string{commClientsScope, CommunicationClientsScopePrefix + "Chat"}
		if diff := cmp.Diff([][]string{want, want}, cred.scopes); diff != "" {
			t.Errorf("scopes asked of Entra ID (-want +got):\n%s", diff)
		}
	})
	t.Run("before construction", func(t *testing.T) {
		t.Parallel()
		o := EntraCommunicationTokenCredentialOptions{ResourceEndpoint: entraTestEndpoint, TokenCredential: &scriptedEntra{}, Scopes: []string{commClientsScope}}
		o.Scopes[0] = teamsExtensionScope
		tr := newScriptedTransport(t, scriptedAnswer{status: 200, body: exchangeAnswer("acsToken", later)})
		o.ClientOptions = &azcore.ClientOptions{Transport: tr}
		c, err := NewEntraCommunicationTokenCredential(o)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := c.GetToken(context.Background()); err != nil {
			t.Fatal(err)
		}
		if r := tr.requests(); len(r) != 1 || r[0].Path != teamsExtensionPath {
			t.Errorf("requests %+v", r)
		}
	})
}

// JS "Respects abort signal" and "Continues when abort signal isn't
// aborted": with the cached token cleared (here: an Entra token that
// expired, so a call would have to ask Entra ID and exchange), a call whose
// context has ended neither asks Entra ID nor exchanges. JS returns an empty
// token; Go returns the context's error.
func TestEntraTokenCredential_RespectsAbortSignal(t *testing.T) {
	t.Parallel()
	for _, abort := range []bool{true, false} {
		cred := &scriptedEntra{tokens: []azcore.AccessToken{{Token: "expired entra", ExpiresOn: time.Now().Add(-time.Minute)}}}
		later := time.Now().Add(time.Hour)
		tr := newScriptedTransport(t, scriptedAnswer{status: 200, body: exchangeAnswer("pre-warm", later)}, scriptedAnswer{status: 200, body: exchangeAnswer("acsToken", later)})
		c := newEntraCredentialForTest(t, []string{commClientsScope}, cred, tr)
		awaitIdle(t, c)
		ctx, cancel := context.WithCancel(context.Background())
		if abort {
			cancel()
		}
		tok, err := c.GetToken(ctx)
		cancel()
		if abort {
			if !errors.Is(err, context.Canceled) || tok.Token != "" || cred.calls() != 1 || len(tr.requests()) != 1 {
				t.Errorf("aborted: %v, %v; %d Entra calls, %d requests", tok, err, cred.calls(), len(tr.requests()))
			}
		} else if err != nil || tok.Token != "acsToken" || cred.calls() != 2 || len(tr.requests()) != 2 {
			t.Errorf("not aborted: %v, %v; %d Entra calls, %d requests", tok, err, cred.calls(), len(tr.requests()))
		}
	}
}

// Concurrent GetToken calls share one exchange (the issue's guard; .NET and
// Python serialize callers on a lock, JS on one pending promise).
func TestEntraTokenCredential_ConcurrentCallsShareOneExchange(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	tr := newScriptedTransport(t, scriptedAnswer{status: 200, body: exchangeAnswer("acsToken", time.Now().Add(time.Hour)), hold: release})
	cred := &scriptedEntra{}
	c := newEntraCredentialForTest(t, []string{commClientsScope}, cred, tr)
	const n = 20
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			tok, err := c.GetToken(context.Background())
			if err == nil && tok.Token != "acsToken" {
				err = fmt.Errorf("token %q", tok.Token)
			}
			errs <- err
		})
	}
	awaitWaiting(t, c, n)
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if len(tr.requests()) != 1 || cred.calls() != 1 {
		t.Errorf("%d requests, %d Entra calls; want 1 and 1", len(tr.requests()), cred.calls())
	}
}

// A call that waited for an exchange that then failed does not get that
// exchange's error: it exchanges itself (.NET's and Python's waiters refresh
// after a failure, Java's calls never share; JS hands every waiter the first
// caller's error). Here the failed exchange is the pre-warm, whose error
// thus reaches no one.
func TestEntraTokenCredential_WaiterOnFailedExchangeExchangesAnew(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	tr := newScriptedTransport(t,
		scriptedAnswer{status: 400, body: `{"error":{"code":"BadRequest","message":"first"}}`, hold: release},
		scriptedAnswer{status: 200, body: exchangeAnswer("acsToken", time.Now().Add(time.Hour))})
	c := newEntraCredentialForTest(t, []string{commClientsScope}, &scriptedEntra{}, tr)
	done := make(chan error, 1)
	go func() {
		tok, err := c.GetToken(context.Background())
		if err == nil && tok.Token != "acsToken" {
			err = fmt.Errorf("token %q", tok.Token)
		}
		done <- err
	}()
	awaitWaiting(t, c, 1)
	close(release)
	if err := <-done; err != nil {
		t.Errorf("the waiter got %v", err)
	}
	if n := len(tr.requests()); n != 2 {
		t.Errorf("%d requests; want 2", n)
	}
}

// An Entra ID failure is the exchange's failure; the next call asks again.
func TestEntraTokenCredential_EntraFailure(t *testing.T) {
	t.Parallel()
	boom := errors.New("AADSTS50076: MFA required")
	cred := &scriptedEntra{err: boom}
	tr := newScriptedTransport(t, scriptedAnswer{status: 200, body: exchangeAnswer("acsToken", time.Now().Add(time.Hour))})
	c := newEntraCredentialForTest(t, []string{commClientsScope}, cred, tr)
	if _, err := c.GetToken(context.Background()); !errors.Is(err, boom) {
		t.Errorf("%v; want the Entra error", err)
	}
	cred.mu.Lock()
	cred.err = nil
	cred.mu.Unlock()
	if tok, err := c.GetToken(context.Background()); err != nil || tok.Token != "acsToken" {
		t.Errorf("after recovery: %v, %v", tok, err)
	}
}

// Close ends a running exchange, forgets the token and the guard's cached
// answer; later calls fail with ErrCredentialClosed. Nothing prints a token.
func TestEntraTokenCredential_Close(t *testing.T) {
	t.Parallel()
	tr := newScriptedTransport(t,
		scriptedAnswer{status: 200, body: exchangeAnswer("acs-secret-token", time.Now().Add(time.Hour))},
		scriptedAnswer{status: 200, body: "{}", hold: make(chan struct{})}) // never released
	cred := &scriptedEntra{tokens: []azcore.AccessToken{
		{Token: "expiring", ExpiresOn: time.Now().Add(-time.Minute)}, validEntra("entra-secret-token")}}
	c := newEntraCredentialForTest(t, []string{commClientsScope}, cred, tr)
	awaitIdle(t, c)
	if s := c.String(); !strings.Contains(s, "Exchange: /access/entra/:exchangeAccessToken") || strings.Contains(s, "secret") {
		t.Errorf("String() = %s", s)
	}
	done := make(chan error, 1)
	go func() { _, err := c.GetToken(context.Background()); done <- err }()
	tr.awaitRequests(2)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, ErrCredentialClosed) {
		t.Errorf("running call: %v; want ErrCredentialClosed", err)
	}
	if _, err := c.GetToken(context.Background()); !errors.Is(err, ErrCredentialClosed) {
		t.Errorf("after Close: %v", err)
	}
	if c.exchange.guard.last != nil {
		t.Error("the guard still holds an answer")
	}
	if s := fmt.Sprintf("%v %#v", c, c); strings.Contains(s, "secret") {
		t.Errorf("printed: %s", s)
	}
}

// ClientOptions.APIVersion replaces the exchange's api-version, and one
// this module knows to lack the exchange is refused before any I/O.
func TestEntraTokenCredential_APIVersion(t *testing.T) {
	t.Parallel()
	tr := newScriptedTransport(t, scriptedAnswer{status: 200, body: exchangeAnswer("acsToken", time.Now().Add(time.Hour))})
	c, err := NewEntraCommunicationTokenCredential(EntraCommunicationTokenCredentialOptions{ResourceEndpoint: entraTestEndpoint,
		TokenCredential: &scriptedEntra{}, Scopes: []string{teamsExtensionScope},
		ClientOptions: &azcore.ClientOptions{Transport: tr, APIVersion: "2026-07-22"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.GetToken(context.Background()); err != nil {
		t.Fatal(err)
	}
	if q := tr.requests()[0].Query; q != "api-version=2026-07-22" {
		t.Errorf("query %q", q)
	}
	for scope, version := range map[string]string{commClientsScope: "2025-06-30", teamsExtensionScope: "2023-10-01"} {
		var verr *APIVersionError
		_, err := NewEntraCommunicationTokenCredential(EntraCommunicationTokenCredentialOptions{ResourceEndpoint: entraTestEndpoint,
			TokenCredential: &scriptedEntra{}, Scopes: []string{scope}, ClientOptions: &azcore.ClientOptions{Transport: tr, APIVersion: version}})
		if !errors.As(err, &verr) {
			t.Errorf("%s with %s: %v; want an *APIVersionError", scope, version, err)
		}
	}
}

// guardPipeline is a pipeline of an Authorization setter, the guard and a
// counting transport, without retries: the SDKs' guard tests put the policy
// in front of a mock next policy in the same way.
type guardPipeline struct {
	auth    string
	answers func(n int) (int, string)
	calls   int
	guard   *entraTokenGuard
	pl      runtime.Pipeline
}

func newGuardPipeline(answers func(n int) (int, string)) *guardPipeline {
	g := &guardPipeline{auth: "Bearer Token", answers: answers, guard: newEntraTokenGuard()}
	setAuth := policyFunc(func(req *policy.Request) (*http.Response, error) {
		if g.auth != "" {
			req.Raw().Header.Set("Authorization", g.auth)
		}
		return req.Next()
	})
	tr := transportFunc(func(r *http.Request) (*http.Response, error) {
		g.calls++
		status, body := g.answers(g.calls)
		if status == 0 {
			return nil, errors.New("no response")
		}
		return &http.Response{StatusCode: status, Header: http.Header{}, Body: io.NopCloser(strings.NewReader(body)), Request: r}, nil
	})
	g.pl = runtime.NewPipeline("guardtest", "v0", runtime.PipelineOptions{PerRetry: []policy.Policy{setAuth, g.guard}},
		&policy.ClientOptions{Transport: tr, Retry: policy.RetryOptions{MaxRetries: -1}})
	return g
}

type policyFunc func(*policy.Request) (*http.Response, error)

func (f policyFunc) Do(req *policy.Request) (*http.Response, error) { return f(req) }

// send sends one exchange request and returns the status and body got.
func (g *guardPipeline) send(t *testing.T) (int, string, error) {
	t.Helper()
	req, err := runtime.NewRequest(context.Background(), http.MethodPost, entraTestEndpoint+commClientsPath)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := g.pl.Do(req)
	if err != nil {
		return 0, "", err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp.StatusCode, string(b), err
}

// The guard itself, as the SDKs test their EntraTokenGuardPolicy:
// .NET EntraTokenGuardPolicyTests (5 cases, each sync and async), Java
// EntraTokenGuardPolicyTests (6) and Python test_entra_token_guard_policy.py
// (8: TestEntraTokenGuardPolicy 3, TestEntraTokenGuardUtils 2,
// TestAsyncEntraTokenGuardPolicy 3, the async ones being the same cases).
func TestEntraTokenGuardPolicy(t *testing.T) {
	t.Parallel()
	valid := exchangeAnswer("token", time.Date(2034, 10, 4, 10, 21, 29, 0, time.UTC))
	expired := exchangeAnswer("token", time.Now().Add(-time.Minute))
	ok := func(body string) func(int) (int, string) { return func(int) (int, string) { return 200, body } }
	cases := []struct {
		name      string
		answers   func(n int) (int, string)
		auths     []string // Authorization of each call
		wantCalls int
		// wantSame: the second call got the first call's answer.
		wantSame bool
	}{
		// .NET ProcessAsync_WithNoToken_CallsProcessNextAsync; Java
		// process_FirstCall_WithNoCachedToken_InvokesNextProcess; Python
		// test_send_cache_miss (sync and async).
		{"first call goes through", ok(valid), []string{"Bearer Token"}, 1, false},
		// .NET Process_WithDifferentToken_CallsProcessNext; Java
		// process_SecondCall_WithDifferentToken_InvokesNextProcessAgain;
		// Python test_is_entra_token_cache_valid.
		{"different Entra token", ok(valid), []string{"Bearer Token", "Bearer Token2"}, 2, false},
		// .NET Process_WithInvalidAcsToken_CallsProcessNext; Java
		// process_WithExpiredAcsTokenInResponse_InvokesNextProcessAgain;
		// Python test_is_acs_token_cache_valid (expired).
		{"expired ACS token", ok(expired), []string{"Bearer Token", "Bearer Token"}, 2, false},
		// .NET Process_PrevExchangeCallFailed_CallsProcessNext; Java
		// process_PreviousExchangeCallFailed_InvokesNextProcessAgain;
		// Python test_is_acs_token_cache_valid (400).
		{"previous exchange failed", func(int) (int, string) { return 400, "" }, []string{"Bearer Token", "Bearer Token"}, 2, false},
		// Java process_WithInvalidResponseBody_InvokesNextProcessAgain;
		// Python test_is_acs_token_cache_valid (not json).
		{"invalid response body", ok("not-json"), []string{"Bearer Token", "Bearer Token"}, 2, false},
		// .NET ProcessAsync_WithSameToken_DoesNotCallProcessNextAsync; Java
		// process_SecondCall_WithSameTokenAndValidAcsToken_UsesCacheAndReturnsOriginalResponse;
		// Python test_send_cache_hit (sync and async), test_is_acs_token_cache_valid (valid).
		// The next answer would be a 400: the cached 200 is returned instead.
		{"same Entra token, valid ACS token", func(n int) (int, string) {
			if n == 1 {
				return 200, valid
			}
			return 400, ""
		}, []string{"Bearer Token", "Bearer Token", "Bearer Token"}, 1, true},
		// Java's isEntraTokenCacheValid: no Authorization is never a hit.
		{"no Authorization", ok(valid), []string{"", ""}, 2, false},
		// A changed token and back: the cache holds one answer, the last.
		{"token, token2, token", ok(valid), []string{"Bearer Token", "Bearer Token2", "Bearer Token"}, 3, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			g := newGuardPipeline(tc.answers)
			var first string
			for i, a := range tc.auths {
				g.auth = a
				status, body, err := g.send(t)
				if err != nil {
					t.Fatal(err)
				}
				if i == 0 {
					first = fmt.Sprint(status, body)
				} else if tc.wantSame && fmt.Sprint(status, body) != first {
					t.Errorf("call %d got %d %s; want the first answer %s", i+1, status, body, first)
				}
			}
			if g.calls != tc.wantCalls {
				t.Errorf("the next policy ran %d times; want %d", g.calls, tc.wantCalls)
			}
		})
	}
	// Python test_send_invalid_response (sync) and
	// test_send_invalid_response_raises (async): no response is an error,
	// and nothing is cached.
	t.Run("no response", func(t *testing.T) {
		t.Parallel()
		g := newGuardPipeline(func(n int) (int, string) {
			if n == 1 {
				return 0, ""
			}
			return 200, valid
		})
		if _, _, err := g.send(t); err == nil {
			t.Error("no error")
		}
		if status, _, err := g.send(t); err != nil || status != 200 || g.calls != 2 {
			t.Errorf("%d, %v after %d calls", status, err, g.calls)
		}
	})
	// Python test_send_cache_miss (async) also checks what is cached: the
	// answer and (here as a hash) the Entra token; a hit is an equal answer.
	t.Run("what is cached", func(t *testing.T) {
		t.Parallel()
		g := newGuardPipeline(ok(valid))
		if _, _, err := g.send(t); err != nil {
			t.Fatal(err)
		}
		last := g.guard.last
		if last == nil || string(last.body) != valid || !last.expiresOn.Equal(time.Date(2034, 10, 4, 10, 21, 29, 0, time.UTC)) {
			t.Fatalf("cached %+v", last)
		}
		if last.auth != sha256.Sum256([]byte("Bearer Token")) {
			t.Error("the cached answer is not keyed by the hash of the Authorization header")
		}
	})
}

// BenchmarkEntraCredentialGetTokenCached is the cost of a GetToken that
// finds the ACS token valid and the Entra token unchanged: a pass through
// the pipeline (bearer policy, guard) that the guard answers, as .NET's
// credential runs its pipeline on every call.
func BenchmarkEntraCredentialGetTokenCached(b *testing.B) {
	tr := newScriptedTransport(b, scriptedAnswer{status: 200, body: exchangeAnswer("acsToken", time.Now().Add(time.Hour))})
	c := newEntraCredentialForTest(b, nil, &scriptedEntra{}, tr)
	awaitIdle(b, c)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.GetToken(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// With azcore's logging on (default options), no log line shows the Entra
// token or the ACS token: Authorization is redacted, bodies are not logged,
// and the guard's replayed answers are not requests. Not parallel: the
// listener is process-wide.
func TestEntraTokenCredential_NoTokenInLogs(t *testing.T) {
	var mu sync.Mutex
	var lines []string
	azlog.SetListener(func(_ azlog.Event, s string) {
		mu.Lock()
		lines = append(lines, s)
		mu.Unlock()
	})
	defer azlog.SetListener(nil)
	cred := &scriptedEntra{tokens: []azcore.AccessToken{{Token: "entra-secret-1", ExpiresOn: time.Now().Add(-time.Minute)}, validEntra("entra-secret-2")}}
	tr := newScriptedTransport(t,
		scriptedAnswer{status: 503, body: `{"error":{"code":"Busy","message":"busy"}}`},
		scriptedAnswer{status: 200, body: exchangeAnswer("acs-secret-1", time.Now().Add(time.Hour))},
		scriptedAnswer{status: 200, body: exchangeAnswer("acs-secret-2", time.Now().Add(time.Hour))})
	c := newEntraCredentialForTest(t, nil, cred, tr)
	awaitIdle(t, c)
	for range 3 {
		if _, err := c.GetToken(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(lines) == 0 {
		t.Fatal("nothing was logged: is the listener on?")
	}
	for _, l := range lines {
		if strings.Contains(l, "secret") {
			t.Errorf("a log line shows a token: %s", l)
		}
	}
}
