package acsidentity_test

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/google/go-cmp/cmp"

	"github.com/acsgo/acsidentity"
	"github.com/acsgo/acsidentity/emulator"
	"github.com/acsgo/acsidentity/internal/hmacauth"
	"github.com/acsgo/acsidentity/internal/recorded"
)

// TestReplayRecordedResponses drives the client with what the real service
// answered (testdata/recorded/python.jsonl): a server on loopback answers
// each recorded request with the recorded status, content type and body.
// For every interaction the client must send the request the official SDK
// sent (method, path, api-version, signature, the same JSON less its nulls),
// decode every success exactly, and turn every error into an
// *azcore.ResponseError with the recorded status and code. Where the client
// refuses the call before any I/O (no scopes, an empty argument), the test
// checks that nothing was sent and then feeds the recorded error to a call
// that does go out.
func TestReplayRecordedResponses(t *testing.T) {
	t.Parallel()
	all, err := recorded.Load("testdata/recorded/python.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	if len(all) < 41 {
		t.Fatalf("%d interactions", len(all))
	}
	raw, _ := base64.StdEncoding.DecodeString(emulator.DevelopmentKey)
	key := hmacauth.NewKey(raw)
	for _, in := range all {
		t.Run(in.Name(), func(t *testing.T) {
			t.Parallel()
			srv := &recordedServer{t: t, in: in, key: key}
			ts := httptest.NewServer(srv)
			defer ts.Close()
			c := replayClient(t, ts.URL+replayBase, in)
			replayCall(t, c, srv, in)
		})
	}
}

const replayBase = "/gateway/acs"

// recordedServer answers every request with the recorded response and
// keeps what it was sent.
type recordedServer struct {
	t    *testing.T
	in   recorded.Interaction
	key  *hmacauth.Key
	reqs []sentRequest
}

type sentRequest struct {
	method, path, apiVersion string
	body                     []byte
	signed                   bool // the HMAC signature verifies, or a bearer token was sent
}

func (s *recordedServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	sr := sentRequest{method: r.Method, path: strings.TrimPrefix(r.URL.EscapedPath(), replayBase), apiVersion: r.URL.Query().Get("api-version"), body: body}
	authz := r.Header.Get("Authorization")
	switch {
	case strings.HasPrefix(authz, "Bearer "):
		sr.signed = s.in.Auth == "bearer"
	default:
		sig, err := hmacauth.ParseAuthorization(authz)
		want := s.key.Signature(r.Method, r.RequestURI, r.Header.Get(hmacauth.DateHeader), r.Host, hmacauth.ContentHash(body))
		sr.signed = err == nil && s.in.Auth == "hmac" && subtle.ConstantTimeCompare([]byte(sig), []byte(want)) == 1 &&
			r.Header.Get(hmacauth.ContentHashHeader) == hmacauth.ContentHash(body)
	}
	s.reqs = append(s.reqs, sr)
	h := w.Header()
	if s.in.ResponseHeaders.MSCV {
		h.Set("MS-CV", "replayed.0")
	}
	if !s.in.HasResponseBody() {
		w.WriteHeader(s.in.Status)
		return
	}
	h.Set("Content-Type", s.in.ResponseHeaders.ContentType)
	w.WriteHeader(s.in.Status)
	w.Write(s.in.ResponseBody)
}

// replayBearer is an Entra ID credential that hands out a fixed token.
type replayBearer struct{}

func (replayBearer) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{Token: "entra-token", ExpiresOn: time.Now().Add(time.Hour)}, nil
}

func replayClient(t *testing.T, endpoint string, in recorded.Interaction) *acsidentity.Client {
	t.Helper()
	o := &acsidentity.ClientOptions{}
	o.APIVersion = in.APIVersion
	o.Retry.MaxRetries = -1 // one try: the server answers the recording once
	var (
		c   *acsidentity.Client
		err error
	)
	if in.Auth == "bearer" {
		c, err = acsidentity.NewClient(endpoint, replayBearer{}, o)
	} else {
		var cred *acsidentity.KeyCredential
		if cred, err = acsidentity.NewKeyCredential(emulator.DevelopmentKey); err != nil {
			t.Fatal(err)
		}
		c, err = acsidentity.NewClientWithKeyCredential(endpoint, cred, o)
	}
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// replayRequest is the recorded request body, as the official SDK sent it.
type replayRequest struct {
	CreateTokenWithScopes []acsidentity.TokenScope `json:"createTokenWithScopes"`
	Scopes                []acsidentity.TokenScope `json:"scopes"`
	ExpiresInMinutes      *int                     `json:"expiresInMinutes"`
	Token                 string                   `json:"token"`
	AppID                 string                   `json:"appId"`
	UserID                string                   `json:"userId"`
}

func (r replayRequest) lifetime() time.Duration {
	if r.ExpiresInMinutes == nil {
		return 0
	}
	return time.Duration(*r.ExpiresInMinutes) * time.Minute
}

// replayCall makes the client call that sends the recorded request, and
// checks what the client sent and what it made of the answer.
func replayCall(t *testing.T, c *acsidentity.Client, srv *recordedServer, in recorded.Interaction) {
	ctx := context.Background()
	var rq replayRequest
	if in.HasRequestBody() {
		if err := json.Unmarshal(in.RequestBody, &rq); err != nil {
			t.Fatal(err)
		}
	}
	user := acsidentity.CommunicationUserIdentifier{ID: recorded.Sanitized}
	var (
		err      error
		token    *acsidentity.AccessToken
		userID   string
		refused  error // the sentinel error of a call refused before any I/O
		fallback func() error
	)
	switch {
	case in.Method == http.MethodPost && in.Path == "/identities":
		if len(rq.CreateTokenWithScopes) == 0 {
			var r acsidentity.CreateUserResponse
			r, err = c.CreateUser(ctx, nil)
			userID = r.User.ID
		} else {
			var r acsidentity.CreateUserAndTokenResponse
			r, err = c.CreateUserAndToken(ctx, rq.CreateTokenWithScopes, &acsidentity.CreateUserAndTokenOptions{TokenExpiresIn: rq.lifetime()})
			userID, token = r.User.ID, &r.AccessToken
		}
	case in.Method == http.MethodPost && strings.HasSuffix(in.Path, "/:issueAccessToken"):
		var r acsidentity.GetTokenResponse
		r, err = c.GetToken(ctx, user, rq.Scopes, &acsidentity.GetTokenOptions{TokenExpiresIn: rq.lifetime()})
		token = &r.AccessToken
		if len(rq.Scopes) == 0 {
			refused = acsidentity.ErrNoScopes
			fallback = func() error {
				_, err := c.GetToken(ctx, user, []acsidentity.TokenScope{acsidentity.TokenScopeChat}, nil)
				return err
			}
		}
	case in.Method == http.MethodPost && strings.HasSuffix(in.Path, "/:revokeAccessTokens"):
		_, err = c.RevokeTokens(ctx, user, nil)
	case in.Method == http.MethodDelete:
		_, err = c.DeleteUser(ctx, user, nil)
	case in.Path == "/teamsUser/:exchangeAccessToken":
		var r acsidentity.GetTokenForTeamsUserResponse
		r, err = c.GetTokenForTeamsUser(ctx, rq.Token, rq.AppID, rq.UserID, nil)
		token = &r.AccessToken
		if rq.Token == "" || rq.AppID == "" || rq.UserID == "" {
			refused = acsidentity.ErrMissingArgument
			fallback = func() error {
				_, err := c.GetTokenForTeamsUser(ctx, or(rq.Token), or(rq.AppID), or(rq.UserID), nil)
				return err
			}
		}
	default:
		t.Fatalf("no client call for %s %s", in.Method, in.Path)
	}

	if refused != nil {
		if !errors.Is(err, refused) || len(srv.reqs) != 0 {
			t.Fatalf("the client sent %d requests and returned %v; want %v before any I/O", len(srv.reqs), err, refused)
		}
		err = fallback()
		checkSent(t, srv, in, false)
	} else {
		checkSent(t, srv, in, true)
	}

	if in.Status >= 300 {
		var re *azcore.ResponseError
		if !errors.As(err, &re) {
			t.Fatalf("error %v is not an *azcore.ResponseError", err)
		}
		var want struct {
			Error struct{ Code string } `json:"error"`
		}
		json.Unmarshal(in.ResponseBody, &want)
		if re.StatusCode != in.Status || re.ErrorCode != want.Error.Code {
			t.Errorf("ResponseError %d %q, the service answered %d %q", re.StatusCode, re.ErrorCode, in.Status, want.Error.Code)
		}
		return
	}
	if err != nil {
		t.Fatalf("the client failed on the service's answer: %v", err)
	}
	var body struct {
		Identity    struct{ ID string } `json:"identity"`
		AccessToken *struct {
			Token     string `json:"token"`
			ExpiresOn string `json:"expiresOn"`
		} `json:"accessToken"`
		Token     string `json:"token"`
		ExpiresOn string `json:"expiresOn"`
	}
	if in.HasResponseBody() {
		if err := json.Unmarshal(in.ResponseBody, &body); err != nil {
			t.Fatal(err)
		}
	}
	if userID != body.Identity.ID {
		t.Errorf("user %q, the service answered %q", userID, body.Identity.ID)
	}
	tok, exp := body.Token, body.ExpiresOn
	if body.AccessToken != nil {
		tok, exp = body.AccessToken.Token, body.AccessToken.ExpiresOn
	}
	if tok == "" {
		return
	}
	wantExp, err := time.Parse(time.RFC3339Nano, exp)
	if err != nil {
		t.Fatal(err)
	}
	// Exactly: the sub-second part the service sent is kept to the 100 ns.
	if token == nil || token.Token != tok || !token.ExpiresOn.Equal(wantExp) || token.ExpiresOn.Nanosecond() != wantExp.Nanosecond() {
		t.Errorf("decoded %+v, the service answered token %q expiresOn %s", token, tok, exp)
	}
}

// checkSent checks the one request the client sent against the recorded
// one. A fallback call (sent=false) sends other values, so only its route is
// compared.
func checkSent(t *testing.T, srv *recordedServer, in recorded.Interaction, sent bool) {
	t.Helper()
	if len(srv.reqs) != 1 {
		t.Fatalf("the client sent %d requests, want 1", len(srv.reqs))
	}
	got := srv.reqs[0]
	if got.method != in.Method || got.path != in.Path || got.apiVersion != in.APIVersion || !got.signed {
		t.Errorf("sent %s %s api-version %s (signed %v), the SDK sent %s %s api-version %s with %s auth",
			got.method, got.path, got.apiVersion, got.signed, in.Method, in.Path, in.APIVersion, in.Auth)
	}
	if !sent {
		return
	}
	if diff := cmp.Diff(withoutNulls(t, in.RequestBody), withoutNulls(t, got.body)); diff != "" {
		t.Errorf("request body differs from the official SDK's (-sdk +ours):\n%s", diff)
	}
}

// withoutNulls decodes a JSON object and drops its null members: the
// official SDK sends unset options as null, this client leaves them out,
// and the service reads both the same. No body reads as {}.
func withoutNulls(t *testing.T, b []byte) map[string]any {
	t.Helper()
	out := map[string]any{}
	if t := bytes.TrimSpace(b); len(t) == 0 || string(t) == "null" {
		return out
	}
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("%v in %s", err, b)
	}
	for k, v := range out {
		if v == nil {
			delete(out, k)
		}
	}
	return out
}

// or is s, or a placeholder where s is empty.
func or(s string) string {
	if s == "" {
		return "placeholder"
	}
	return s
}
