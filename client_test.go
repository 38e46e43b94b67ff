package acsidentity

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/google/go-cmp/cmp"

	"github.com/acsgo/acsidentity/internal/wire"
)

const (
	testKey  = "dGVzdC1hY2Nlc3Mta2V5LW5vdC1hLXJlYWwtb25lLTAxMjM0NTY3ODk=" // base64 of a test key
	basePath = "/gateway/acs"                                             // every test server is mounted under it
	userID   = "8:acs:2dee53b4-368b-45b4-ab52-8493fb117652_00000005-14a2-493b-8a72-5a3a0d000081"
	escUser  = "8%3Aacs%3A2dee53b4-368b-45b4-ab52-8493fb117652_00000005-14a2-493b-8a72-5a3a0d000081"
	jwt      = "eyJhbGciOiJub25lIn0.eyJleHAiOjE4OTM0NTYwMDB9.c2lnbmF0dXJlLXNlY3JldA"
)

// seen is what the fake service recorded of one request.
type seen struct {
	Method, EscapedPath, RawQuery, Body string
	Header                              http.Header
	SignatureOK                         bool
	SignatureProblem                    string
}

// fakeService is a loopback ACS stand-in mounted under basePath that
// records every request, checks its HMAC signature from first principles
// and answers with the next queued response.
type fakeService struct {
	t    *testing.T
	srv  *httptest.Server
	mu   sync.Mutex
	reqs []seen
	// answer returns status and body for the n-th request (from 1).
	answer func(n int, r *http.Request) (int, string)
}

func newFakeService(t *testing.T, answer func(n int, r *http.Request) (int, string)) *fakeService {
	t.Helper()
	f := &fakeService{t: t, answer: answer}
	mux := http.NewServeMux()
	mux.Handle(basePath+"/", f)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("request outside the base path: %s %s", r.Method, r.URL.EscapedPath())
		w.WriteHeader(http.StatusTeapot)
	})
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeService) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	s := seen{Method: r.Method, EscapedPath: strings.TrimPrefix(r.URL.EscapedPath(), basePath), RawQuery: r.URL.RawQuery, Body: string(body), Header: r.Header.Clone()}
	s.SignatureOK, s.SignatureProblem = verifyIndependently(r, body, testKey)
	f.mu.Lock()
	f.reqs = append(f.reqs, s)
	n := len(f.reqs)
	f.mu.Unlock()
	status, resp := f.answer(n, r)
	w.Header().Set("MS-CV", "cv-1")
	if resp == "" {
		w.WriteHeader(status)
		return
	}
	writeJSON(w, status, resp)
}

func (f *fakeService) requests() []seen {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]seen(nil), f.reqs...)
}

func (f *fakeService) endpoint() string { return f.srv.URL + basePath }

// verifyIndependently recomputes the signature from the documented rules with
// the standard library alone, not with the package's signing code.
func verifyIndependently(r *http.Request, body []byte, keyB64 string) (bool, string) {
	sum := sha256.Sum256(body)
	hash := base64.StdEncoding.EncodeToString(sum[:])
	if got := r.Header.Get("x-ms-content-sha256"); got != hash {
		return false, "content hash " + got + " != " + hash
	}
	date := r.Header.Get("x-ms-date")
	if _, err := time.Parse(http.TimeFormat, date); err != nil {
		return false, "bad x-ms-date " + date
	}
	key, _ := base64.StdEncoding.DecodeString(keyB64)
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(r.Method + "\n" + r.URL.RequestURI() + "\n" + date + ";" + r.Host + ";" + hash))
	want := "HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature=" + base64.StdEncoding.EncodeToString(mac.Sum(nil))
	if got := r.Header.Get("Authorization"); got != want {
		return false, "authorization " + got + " != " + want
	}
	return true, ""
}

func writeJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	io.WriteString(w, body)
}

// newTestClient makes a key client for endpoint with fast retries.
func newTestClient(t *testing.T, endpoint string, o *ClientOptions) *Client {
	t.Helper()
	if o == nil {
		o = &ClientOptions{}
	}
	o.Retry.RetryDelay = time.Millisecond
	o.Retry.MaxRetryDelay = 10 * time.Millisecond
	cred, err := NewKeyCredential(testKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewClientWithKeyCredential(endpoint, cred, o)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

const (
	tokenBody   = `{"token":"` + jwt + `","expiresOn":"2025-07-10T21:39:39.3244584+00:00"}`
	createdBody = `{"identity":{"id":"` + userID + `"},"accessToken":` + tokenBody + `}`
)

var wantExpires = time.Date(2025, 7, 10, 21, 39, 39, 324458400, time.UTC)

// TestOperationsOnTheWire checks method, path, query, headers and body of
// every operation, and the decoding of the service's answers.
func TestOperationsOnTheWire(t *testing.T) {
	t.Parallel()
	user := CommunicationUserIdentifier{ID: userID}
	ctx := context.Background()
	cases := []struct {
		name       string
		version    string
		call       func(c *Client) (any, error)
		status     int
		answer     string
		wantMethod string
		wantPath   string
		wantBody   string
		wantResp   any
	}{
		{
			name: "CreateUser", call: func(c *Client) (any, error) { return c.CreateUser(ctx, nil) },
			status: 201, answer: `{"identity":{"id":"` + userID + `"}}`,
			wantMethod: "POST", wantPath: "/identities", wantBody: `{}`,
			wantResp: CreateUserResponse{CommunicationUserDetail{User: user}},
		},
		{
			name: "CreateUser with custom ID", version: "2025-03-02-preview",
			call: func(c *Client) (any, error) {
				return c.CreateUser(ctx, &CreateUserOptions{CustomID: "sally@contoso.com"})
			},
			status: 201, answer: `{"identity":{"id":"` + userID + `","customId":"sally@contoso.com","lastTokenIssuedAt":"2025-07-10T20:39:39.3244584+00:00"}}`,
			wantMethod: "POST", wantPath: "/identities", wantBody: `{"customId":"sally@contoso.com"}`,
			wantResp: CreateUserResponse{CommunicationUserDetail{User: user, CustomID: "sally@contoso.com", LastTokenIssuedAt: wantExpires.Add(-time.Hour)}},
		},
		{
			name: "CreateUserAndToken", call: func(c *Client) (any, error) {
				return c.CreateUserAndToken(ctx, PossibleTokenScopeValues(), &CreateUserAndTokenOptions{TokenExpiresIn: time.Hour})
			},
			status: 201, answer: createdBody,
			wantMethod: "POST", wantPath: "/identities",
			wantBody: `{"createTokenWithScopes":["chat","voip","chat.join","chat.join.limited","voip.join"],"expiresInMinutes":60}`,
			wantResp: CreateUserAndTokenResponse{CommunicationUserDetail{User: user}, AccessToken{Token: jwt, ExpiresOn: wantExpires}},
		},
		{
			name: "GetToken", call: func(c *Client) (any, error) { return c.GetToken(ctx, user, []TokenScope{TokenScopeVoIP}, nil) },
			status: 200, answer: tokenBody,
			wantMethod: "POST", wantPath: "/identities/" + escUser + "/:issueAccessToken", wantBody: `{"scopes":["voip"]}`,
			wantResp: GetTokenResponse{AccessToken{Token: jwt, ExpiresOn: wantExpires}},
		},
		{
			name: "GetToken with lifetime", call: func(c *Client) (any, error) {
				return c.GetToken(ctx, user, []TokenScope{TokenScopeChat, TokenScopeVoIP}, &GetTokenOptions{TokenExpiresIn: 1440 * time.Minute})
			},
			status: 200, answer: tokenBody,
			wantMethod: "POST", wantPath: "/identities/" + escUser + "/:issueAccessToken", wantBody: `{"scopes":["chat","voip"],"expiresInMinutes":1440}`,
			wantResp: GetTokenResponse{AccessToken{Token: jwt, ExpiresOn: wantExpires}},
		},
		{
			name: "RevokeTokens", call: func(c *Client) (any, error) { return c.RevokeTokens(ctx, user, nil) },
			status: 204, wantMethod: "POST", wantPath: "/identities/" + escUser + "/:revokeAccessTokens",
			wantResp: RevokeTokensResponse{},
		},
		{
			name: "DeleteUser", call: func(c *Client) (any, error) { return c.DeleteUser(ctx, user, nil) },
			status: 204, wantMethod: "DELETE", wantPath: "/identities/" + escUser,
			wantResp: DeleteUserResponse{},
		},
		{
			name: "GetUser", version: "2025-03-02-preview", call: func(c *Client) (any, error) { return c.GetUser(ctx, user, nil) },
			status: 200, answer: `{"id":"` + userID + `","customId":"alice","lastTokenIssuedAt":"2025-07-10T21:39:39.3244584+00:00"}`,
			wantMethod: "GET", wantPath: "/identities/" + escUser,
			wantResp: GetUserResponse{CommunicationUserDetail{User: user, CustomID: "alice", LastTokenIssuedAt: wantExpires}},
		},
		{
			name: "GetTokenForTeamsUser", call: func(c *Client) (any, error) {
				return c.GetTokenForTeamsUser(ctx, "aad-token", "app-id", "object-id", nil)
			},
			status: 200, answer: tokenBody,
			wantMethod: "POST", wantPath: "/teamsUser/:exchangeAccessToken", wantBody: `{"token":"aad-token","appId":"app-id","userId":"object-id"}`,
			wantResp: GetTokenForTeamsUserResponse{AccessToken{Token: jwt, ExpiresOn: wantExpires}},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeService(t, func(int, *http.Request) (int, string) { return tc.status, tc.answer })
			c := newTestClient(t, f.endpoint(), &ClientOptions{ClientOptions: azcore.ClientOptions{APIVersion: tc.version}})
			got, err := tc.call(c)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.wantResp, got); diff != "" {
				t.Errorf("response (-want +got):\n%s", diff)
			}
			reqs := f.requests()
			if len(reqs) != 1 {
				t.Fatalf("%d requests, want 1", len(reqs))
			}
			r := reqs[0]
			version := tc.version
			if version == "" {
				version = "2025-06-30"
			}
			if r.Method != tc.wantMethod || r.EscapedPath != tc.wantPath || r.RawQuery != "api-version="+version || r.Body != tc.wantBody {
				t.Errorf("sent %s %s?%s %s\nwant %s %s?api-version=%s %s", r.Method, r.EscapedPath, r.RawQuery, r.Body, tc.wantMethod, tc.wantPath, version, tc.wantBody)
			}
			if !r.SignatureOK {
				t.Errorf("signature does not verify: %s", r.SignatureProblem)
			}
			if tc.wantBody != "" && r.Header.Get("Content-Type") != "application/json" {
				t.Errorf("Content-Type = %q", r.Header.Get("Content-Type"))
			}
			if ua := r.Header.Get("User-Agent"); !strings.HasPrefix(ua, "azsdk-go-acsidentity/v") {
				t.Errorf("User-Agent = %q", ua)
			}
			if id := r.Header.Get("x-ms-client-request-id"); len(id) != 36 {
				t.Errorf("x-ms-client-request-id = %q", id)
			}
		})
	}
}

// TestServiceErrors decodes a real ValidationError body and a 404 into
// *azcore.ResponseError.
func TestServiceErrors(t *testing.T) {
	t.Parallel()
	const validation = `{"error":{"code":"ValidationError","message":"ExpiresInMinutes value 1441 is invalid. Value must be within the [60, 1440] interval.","target":"ExpiresInMinutes"}}`
	f := newFakeService(t, func(n int, r *http.Request) (int, string) {
		if strings.HasSuffix(r.URL.Path, ":issueAccessToken") {
			return 404, `{"error":{"code":"IdentityNotFound","message":"Identity not found."}}`
		}
		return 400, validation
	})
	c := newTestClient(t, f.endpoint(), nil)
	_, err := c.CreateUserAndToken(context.Background(), []TokenScope{TokenScopeChat}, &CreateUserAndTokenOptions{TokenExpiresIn: 1441 * time.Minute})
	var re *azcore.ResponseError
	if !errors.As(err, &re) {
		t.Fatalf("error %T %v is not an *azcore.ResponseError", err, err)
	}
	if re.StatusCode != 400 || re.ErrorCode != "ValidationError" || !strings.Contains(err.Error(), "ExpiresInMinutes value 1441") {
		t.Errorf("got status %d code %q: %v", re.StatusCode, re.ErrorCode, err)
	}
	_, err = c.GetToken(context.Background(), CommunicationUserIdentifier{ID: userID}, []TokenScope{TokenScopeChat}, nil)
	if !errors.As(err, &re) || re.StatusCode != 404 || re.ErrorCode != "IdentityNotFound" {
		t.Errorf("404: got %v", err)
	}
	if got := len(f.requests()); got != 2 {
		t.Errorf("%d requests: 400 and 404 must not be retried", got)
	}
}

// TestLocalValidation proves that bad arguments fail before any I/O with an
// error that says what is wrong.
func TestLocalValidation(t *testing.T) {
	t.Parallel()
	f := newFakeService(t, func(int, *http.Request) (int, string) { return 500, "" })
	c := newTestClient(t, f.endpoint(), nil)
	old := newTestClient(t, f.endpoint(), &ClientOptions{ClientOptions: azcore.ClientOptions{APIVersion: "2021-03-07"}})
	ctx := context.Background()
	u := CommunicationUserIdentifier{ID: userID}
	chat := []TokenScope{TokenScopeChat}
	var verr *APIVersionError
	errVersion := errors.New("version")
	cases := []struct {
		name string
		err  error
		want error
		says string
	}{
		{"GetToken empty user", second(c.GetToken(ctx, CommunicationUserIdentifier{}, chat, nil)), ErrEmptyUserID, "user ID"},
		{"GetToken nil scopes", second(c.GetToken(ctx, u, nil, nil)), ErrNoScopes, "scope"},
		{"GetToken empty scope", second(c.GetToken(ctx, u, []TokenScope{""}, nil)), ErrNoScopes, "scope 0"},
		{"GetToken negative lifetime", second(c.GetToken(ctx, u, chat, &GetTokenOptions{TokenExpiresIn: -time.Hour})), ErrInvalidTokenExpiresIn, "-1h0m0s"},
		{"GetToken partial minute", second(c.GetToken(ctx, u, chat, &GetTokenOptions{TokenExpiresIn: 90 * time.Second})), ErrInvalidTokenExpiresIn, "1m30s"},
		{"CreateUserAndToken no scopes", second(c.CreateUserAndToken(ctx, []TokenScope{}, nil)), ErrNoScopes, "scope"},
		{"CreateUserAndToken partial minute", second(c.CreateUserAndToken(ctx, chat, &CreateUserAndTokenOptions{TokenExpiresIn: time.Hour + time.Millisecond})), ErrInvalidTokenExpiresIn, "minutes"},
		{"RevokeTokens empty user", second(c.RevokeTokens(ctx, CommunicationUserIdentifier{ID: " "}, nil)), ErrEmptyUserID, "user ID"},
		{"DeleteUser empty user", second(c.DeleteUser(ctx, CommunicationUserIdentifier{}, nil)), ErrEmptyUserID, "user ID"},
		{"Teams empty token", second(c.GetTokenForTeamsUser(ctx, "", "app", "oid", nil)), ErrMissingArgument, "teamsUserAADToken"},
		{"Teams empty client", second(c.GetTokenForTeamsUser(ctx, "t", "", "oid", nil)), ErrMissingArgument, "clientID"},
		{"Teams empty user", second(c.GetTokenForTeamsUser(ctx, "t", "app", "", nil)), ErrMissingArgument, "userObjectID"},
		{"custom ID on GA", second(c.CreateUser(ctx, &CreateUserOptions{CustomID: "x"})), errVersion, "2025-03-02-preview"},
		{"lifetime on 2021-03-07", second(old.GetToken(ctx, u, chat, &GetTokenOptions{TokenExpiresIn: time.Hour})), errVersion, "2022-10-01"},
		{"join scope on 2021-03-07", second(old.GetToken(ctx, u, []TokenScope{TokenScopeVoIPJoin}, nil)), errVersion, "2023-10-01"},
		{"Teams on 2021-03-07", second(old.GetTokenForTeamsUser(ctx, "t", "a", "o", nil)), errVersion, "2022-06-01"},
	}
	for _, tc := range cases {
		if tc.err == nil {
			t.Errorf("%s: no error", tc.name)
			continue
		}
		if tc.want == errVersion {
			if !errors.As(tc.err, &verr) {
				t.Errorf("%s: %v is not an *APIVersionError", tc.name, tc.err)
			}
		} else if !errors.Is(tc.err, tc.want) {
			t.Errorf("%s: %v is not %v", tc.name, tc.err, tc.want)
		}
		if !strings.Contains(tc.err.Error(), tc.says) {
			t.Errorf("%s: %q does not say %q", tc.name, tc.err, tc.says)
		}
	}
	if n := len(f.requests()); n != 0 {
		t.Errorf("%d requests reached the service", n)
	}
}

func second[T any](_ T, err error) error { return err }

func TestConstructorErrors(t *testing.T) {
	t.Parallel()
	cred, _ := NewKeyCredential(testKey)
	if _, err := NewClientWithKeyCredential("https://x.communication.azure.com", nil, nil); !errors.Is(err, ErrMissingArgument) {
		t.Errorf("nil key credential: %v", err)
	}
	if _, err := NewClient("https://x.communication.azure.com", nil, nil); !errors.Is(err, ErrMissingArgument) {
		t.Errorf("nil token credential: %v", err)
	}
	for _, ep := range []string{"", "contoso", "ftp://x/", "https://", "https://x/?a=b", "https://u:p@x/"} {
		if _, err := NewClientWithKeyCredential(ep, cred, nil); err == nil || !strings.Contains(err.Error(), "endpoint") {
			t.Errorf("endpoint %q: %v", ep, err)
		}
	}
	c, err := NewClientFromConnectionString("endpoint=https://contoso.communication.azure.com/;accesskey="+testKey, nil)
	if err != nil || c.Endpoint() != "https://contoso.communication.azure.com" || c.APIVersion() != "2025-06-30" {
		t.Errorf("got %v, %v", c, err)
	}
}

// TestCreateRetries pins the retry rule of a create without a custom ID.
func TestCreateRetries(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t.Run("429 twice then success is three requests", func(t *testing.T) {
		t.Parallel()
		f := newFakeService(t, func(n int, r *http.Request) (int, string) {
			if n <= 2 {
				return 429, `{"error":{"code":"TooManyRequests","message":"slow down"}}`
			}
			return 201, createdBody
		})
		c := newTestClient(t, f.endpoint(), nil)
		if _, err := c.CreateUserAndToken(ctx, []TokenScope{TokenScopeChat}, nil); err != nil {
			t.Fatal(err)
		}
		if n := len(f.requests()); n != 3 {
			t.Errorf("%d requests, want 3", n)
		}
	})
	t.Run("503 on create is one request and the error", func(t *testing.T) {
		t.Parallel()
		f := newFakeService(t, func(n int, r *http.Request) (int, string) {
			if n == 1 {
				return 503, `{"error":{"code":"ServiceUnavailable","message":"try later"}}`
			}
			return 201, createdBody
		})
		c := newTestClient(t, f.endpoint(), nil)
		_, err := c.CreateUser(ctx, nil)
		var re *azcore.ResponseError
		if !errors.As(err, &re) || re.StatusCode != 503 {
			t.Fatalf("got %v, want the 503", err)
		}
		if n := len(f.requests()); n != 1 {
			t.Errorf("%d requests, want 1", n)
		}
	})
	t.Run("503 on create with custom ID is retried", func(t *testing.T) {
		t.Parallel()
		f := newFakeService(t, func(n int, r *http.Request) (int, string) {
			if n == 1 {
				return 503, ""
			}
			return 201, `{"identity":{"id":"` + userID + `","customId":"c"}}`
		})
		c := newTestClient(t, f.endpoint(), &ClientOptions{ClientOptions: azcore.ClientOptions{APIVersion: "2025-03-02-preview"}})
		if _, err := c.CreateUser(ctx, &CreateUserOptions{CustomID: "c"}); err != nil {
			t.Fatal(err)
		}
		if n := len(f.requests()); n != 2 {
			t.Errorf("%d requests, want 2", n)
		}
	})
	t.Run("503 once on GetToken is retried", func(t *testing.T) {
		t.Parallel()
		f := newFakeService(t, func(n int, r *http.Request) (int, string) {
			if n == 1 {
				return 503, ""
			}
			return 200, tokenBody
		})
		c := newTestClient(t, f.endpoint(), nil)
		if _, err := c.GetToken(ctx, CommunicationUserIdentifier{ID: userID}, []TokenScope{TokenScopeChat}, nil); err != nil {
			t.Fatal(err)
		}
		if n := len(f.requests()); n != 2 {
			t.Errorf("%d requests, want 2", n)
		}
	})
	t.Run("connection refused on create is retried", func(t *testing.T) {
		t.Parallel()
		if !safeToRetryCreate(nil, &netOpError) {
			t.Error("a dial error must be retried")
		}
		if safeToRetryCreate(nil, context.DeadlineExceeded) || safeToRetryCreate(nil, io.ErrUnexpectedEOF) {
			t.Error("a timeout or a broken response must not be retried")
		}
	})
	t.Run("caller's status codes without 429 are respected", func(t *testing.T) {
		t.Parallel()
		f := newFakeService(t, func(n int, r *http.Request) (int, string) {
			return 429, `{"error":{"code":"TooManyRequests","message":"slow down"}}`
		})
		c := newTestClient(t, f.endpoint(), &ClientOptions{ClientOptions: azcore.ClientOptions{Retry: policy.RetryOptions{StatusCodes: []int{503}}}})
		if _, err := c.CreateUser(ctx, nil); err == nil {
			t.Fatal("no error")
		}
		if n := len(f.requests()); n != 1 {
			t.Errorf("%d requests, want 1: the caller does not retry 429", n)
		}
	})
	t.Run("caller's ShouldRetry is asked too", func(t *testing.T) {
		t.Parallel()
		ro := createRetryOptions(policy.RetryOptions{ShouldRetry: func(*http.Response, error) bool { return false }})
		if ro.ShouldRetry(&http.Response{StatusCode: 429}, nil) {
			t.Error("the caller said no")
		}
		ro = createRetryOptions(policy.RetryOptions{ShouldRetry: func(*http.Response, error) bool { return true }})
		if ro.ShouldRetry(&http.Response{StatusCode: 503}, nil) {
			t.Error("a 503 on a create must never be retried")
		}
	})
}

// TestInsecureTransport: credentials never leave over plain HTTP to a host
// that is not loopback, and the refusal is not retried.
func TestInsecureTransport(t *testing.T) {
	t.Parallel()
	calls := 0
	tr := transportFunc(func(r *http.Request) (*http.Response, error) {
		calls++
		return &http.Response{StatusCode: 204, Body: http.NoBody, Header: http.Header{}, Request: r}, nil
	})
	cred, _ := NewKeyCredential(testKey)
	plain := &ClientOptions{ClientOptions: azcore.ClientOptions{Transport: tr}}
	const insecure = "http://contoso.communication.azure.com"
	for name, err := range map[string]error{
		"NewClientWithKeyCredential":    second(NewClientWithKeyCredential(insecure, cred, plain)),
		"NewClient":                     second(NewClient(insecure, &fakeTokenCredential{}, plain)),
		"NewClientFromConnectionString": second(NewClientFromConnectionString("endpoint="+insecure+"/;accesskey="+testKey, plain)),
	} {
		if !errors.Is(err, ErrInsecureTransport) || !strings.Contains(err.Error(), "InsecureAllowCredentialWithHTTP") || strings.Contains(err.Error(), testKey) {
			t.Errorf("%s: got %v, want ErrInsecureTransport at once", name, err)
		}
	}
	// A request that leaves for another host over plain HTTP (as a next link
	// could) is still refused by the pipeline, and not retried.
	c, err := NewClientWithKeyCredential("https://contoso.communication.azure.com", cred, plain)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.send(context.Background(), http.MethodGet, insecure+"/access/entra/assignments", "", nil, nil, http.StatusOK)
	if !errors.Is(err, ErrInsecureTransport) {
		t.Fatalf("got %v", err)
	}
	if calls != 0 {
		t.Fatalf("%d requests were sent", calls)
	}
	for _, ep := range []string{"http://localhost:1234", "http://127.0.0.2", "http://[::1]:80"} {
		c, _ := NewClientWithKeyCredential(ep, cred, &ClientOptions{ClientOptions: azcore.ClientOptions{Transport: tr}})
		if _, err := c.DeleteUser(context.Background(), CommunicationUserIdentifier{ID: userID}, nil); err != nil {
			t.Errorf("%s: %v", ep, err)
		}
	}
	c, _ = NewClientWithKeyCredential("http://contoso.communication.azure.com", cred, &ClientOptions{ClientOptions: azcore.ClientOptions{Transport: tr, InsecureAllowCredentialWithHTTP: true}})
	if _, err := c.DeleteUser(context.Background(), CommunicationUserIdentifier{ID: userID}, nil); err != nil {
		t.Errorf("with InsecureAllowCredentialWithHTTP: %v", err)
	}
}

// fakeTokenCredential is an Entra ID credential that records the scopes asked for.
type fakeTokenCredential struct {
	mu     sync.Mutex
	scopes []string
}

func (f *fakeTokenCredential) GetToken(_ context.Context, o policy.TokenRequestOptions) (azcore.AccessToken, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.scopes = append(f.scopes, o.Scopes...)
	return azcore.AccessToken{Token: "entra-token", ExpiresOn: time.Now().Add(time.Hour)}, nil
}

func TestEntraID(t *testing.T) {
	t.Parallel()
	f := newFakeService(t, func(int, *http.Request) (int, string) { return 201, `{"identity":{"id":"` + userID + `"}}` })
	cred := &fakeTokenCredential{}
	c, err := NewClient(f.endpoint(), cred, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateUser(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	r := f.requests()[0]
	if got := r.Header.Get("Authorization"); got != "Bearer entra-token" {
		t.Errorf("Authorization = %q", got)
	}
	if diff := cmp.Diff([]string{"https://communication.azure.com//.default"}, cred.scopes); diff != "" {
		t.Errorf("scopes (-want +got):\n%s", diff)
	}
}

var netOpError = netOpErr()

// TestCustomIDChecked proves that a custom ID the service would misread is
// refused before any I/O, with an error that says what is wrong: invalid
// bytes would each become U+FFFD, so "tenantA-\xff" and "tenantA-\xfe" would
// name one identity.
func TestCustomIDChecked(t *testing.T) {
	t.Parallel()
	f := newFakeService(t, func(int, *http.Request) (int, string) { return 500, "" })
	c := newTestClient(t, f.endpoint(), &ClientOptions{ClientOptions: azcore.ClientOptions{APIVersion: "2025-03-02-preview"}})
	ctx := context.Background()
	chat := []TokenScope{TokenScopeChat}
	cases := []struct {
		name, id, says string
	}{
		{"invalid byte ff", "tenantA-\xff", "not valid UTF-8"},
		{"invalid byte fe", "tenantA-\xfe", "not valid UTF-8"},
		{"truncated rune", "é"[:1], "not valid UTF-8"},
		// UTF-16 surrogates encoded as if they were characters (WTF-8), as
		// a string converted from JavaScript or Windows UTF-16 may hold.
		{"lone high surrogate", "tenantA-\xed\xa0\x80", "surrogate U+D800"},
		{"lone low surrogate", "tenantA-\xed\xbf\xbf", "surrogate U+DFFF"},
		{"surrogate pair, each half encoded", "tenantA-\xed\xa0\xbd\xed\xb8\x80", "surrogate U+D83D"},
		{"257 characters", strings.Repeat("é", 257), "257 characters"},
	}
	for _, tc := range cases {
		for op, err := range map[string]error{
			"CreateUser":         second(c.CreateUser(ctx, &CreateUserOptions{CustomID: tc.id})),
			"CreateUserAndToken": second(c.CreateUserAndToken(ctx, chat, &CreateUserAndTokenOptions{CustomID: tc.id})),
		} {
			if !errors.Is(err, ErrInvalidCustomID) {
				t.Errorf("%s %s: got %v, want ErrInvalidCustomID", op, tc.name, err)
				continue
			}
			if !strings.Contains(err.Error(), tc.says) {
				t.Errorf("%s %s: %q does not say %q", op, tc.name, err, tc.says)
			}
		}
	}
	if n := len(f.requests()); n != 0 {
		t.Errorf("%d requests reached the service", n)
	}

	// 256 characters of 2 bytes each (512 bytes) is within the limit.
	f2 := newFakeService(t, func(int, *http.Request) (int, string) {
		return 201, `{"identity":{"id":"` + userID + `","customId":"x"}}`
	})
	c2 := newTestClient(t, f2.endpoint(), &ClientOptions{ClientOptions: azcore.ClientOptions{APIVersion: "2025-03-02-preview"}})
	if _, err := c2.CreateUser(ctx, &CreateUserOptions{CustomID: strings.Repeat("é", 256)}); err != nil {
		t.Errorf("256 characters: %v", err)
	}
}

// TestAPIVersionErrorSupportedIsACopy proves that a caller who edits the
// versions an *APIVersionError lists changes nothing for later calls: the
// local check still refuses without any I/O and names the same versions.
func TestAPIVersionErrorSupportedIsACopy(t *testing.T) {
	t.Parallel()
	f := newFakeService(t, func(int, *http.Request) (int, string) { return 500, "" })
	c := newTestClient(t, f.endpoint(), nil) // the GA default has no custom IDs
	ctx := context.Background()
	var first *APIVersionError
	if !errors.As(second(c.CreateUser(ctx, &CreateUserOptions{CustomID: "x"})), &first) {
		t.Fatal("no *APIVersionError")
	}
	want := slices.Clone(first.Supported)
	for i := range first.Supported {
		first.Supported[i] = DefaultAPIVersion // now the default would "have" the feature
	}
	first.Supported = append(first.Supported[:0], "edited")
	var again *APIVersionError
	if !errors.As(second(c.CreateUser(ctx, &CreateUserOptions{CustomID: "x"})), &again) {
		t.Fatal("second call: no *APIVersionError")
	}
	if diff := cmp.Diff(want, again.Supported); diff != "" {
		t.Errorf("Supported after editing an earlier error's (-want +got):\n%s", diff)
	}
	if n := len(f.requests()); n != 0 {
		t.Errorf("%d requests reached the service", n)
	}
}

// TestDefaultAPIVersionIsTheTables: DefaultAPIVersion is spelled out for
// godoc; the version table must agree with it.
func TestDefaultAPIVersionIsTheTables(t *testing.T) {
	if DefaultAPIVersion != wire.DefaultVersion {
		t.Errorf("DefaultAPIVersion %q, the version table's default %q", DefaultAPIVersion, wire.DefaultVersion)
	}
}
