package acsidentity

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

// clientAnswering returns a client whose every request is answered with
// status and body, without a network.
func clientAnswering(t testing.TB, status int, body []byte) *Client {
	t.Helper()
	tr := transportFunc(func(r *http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: status, Body: io.NopCloser(bytes.NewReader(body)), Request: r,
			Header: http.Header{"Content-Type": {"application/json"}}, ContentLength: int64(len(body))}, nil
	})
	cred, err := NewKeyCredential(testKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewClientWithKeyCredential("https://contoso.communication.azure.com", cred, &ClientOptions{ClientOptions: azcore.ClientOptions{
		APIVersion: "2025-03-02-preview", Transport: tr, Retry: policy.RetryOptions{MaxRetries: -1},
	}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// FuzzDecodeResponses feeds arbitrary service answers (truncated JSON,
// wrong types, bad expiresOn, any status) to every decoding path. Nothing
// may panic; a success must carry what it promises; a failure status must
// be an *azcore.ResponseError.
func FuzzDecodeResponses(f *testing.F) {
	for _, s := range []string{
		createdBody, tokenBody, `{"identity":{"id":"x"}}`, `{"id":"x","lastTokenIssuedAt":"nope"}`,
		`{"token":"t","expiresOn":"2025-07-10T21:39:39.3244584+00:00"`, `{"token":5,"expiresOn":[]}`,
		`{"token":"t","expiresOn":"2025-13-45T99:00:00Z"}`, `{"token":"t","expiresOn":null}`,
		`{"value":[{"objectId":"a"}],"nextLink":"https://contoso.communication.azure.com/x"}`,
		`{"error":{"code":"ValidationError","message":"m","target":"t"}}`, ``, `null`, `[]`, "\x00\xff",
	} {
		for _, st := range []int{200, 201, 204, 400, 404, 500} {
			f.Add(st, []byte(s))
		}
	}
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		if status < 100 || status > 599 {
			return
		}
		c := clientAnswering(t, status, body)
		ctx := context.Background()
		u := CommunicationUserIdentifier{ID: userID}
		chat := []TokenScope{TokenScopeChat}
		check := func(op string, ok bool, tok AccessToken, err error) {
			if err == nil {
				if ok && (tok.Token == "" || tok.ExpiresOn.IsZero()) {
					t.Fatalf("%s succeeded with an empty token or expiry: %+v", op, tok)
				}
				return
			}
			var re *azcore.ResponseError
			if status >= 400 && !errors.As(err, &re) {
				t.Fatalf("%s: HTTP %d gave %T %v, not an *azcore.ResponseError", op, status, err, err)
			}
			if strings.Contains(err.Error(), testKey) {
				t.Fatalf("%s: error shows the key", op)
			}
		}
		r1, err := c.CreateUserAndToken(ctx, chat, nil)
		check("CreateUserAndToken", true, r1.AccessToken, err)
		if err == nil && r1.User.ID == "" {
			t.Fatal("CreateUserAndToken succeeded without a user")
		}
		r2, err := c.GetToken(ctx, u, chat, nil)
		check("GetToken", true, r2.AccessToken, err)
		r3, err := c.GetUser(ctx, u, nil)
		check("GetUser", false, AccessToken{}, err)
		if err == nil && r3.User.ID == "" {
			t.Fatal("GetUser succeeded without a user")
		}
		_, err = c.NewListEntraAssignmentsPager(nil).NextPage(ctx)
		check("ListEntraAssignments", false, AccessToken{}, err)
		_, err = c.DeleteUser(ctx, u, nil)
		check("DeleteUser", false, AccessToken{}, err)
	})
}

// TestDecodeBadResponses pins the cases the fuzz target starts from.
func TestDecodeBadResponses(t *testing.T) {
	t.Parallel()
	for _, body := range []string{
		`{"token":"t","expiresOn":"2025-07-10T21:39:39.3244584+00:00"`, // truncated
		`{"token":5,"expiresOn":"2025-07-10T21:39:39.3244584+00:00"}`,  // wrong type
		`{"token":"t","expiresOn":"2025-13-45T99:00:00Z"}`,             // bad date
		`{"token":"t","expiresOn":null}`,                               // null date
		`{"token":"t"}`,                                                // no expiry
		`{"expiresOn":"2025-07-10T21:39:39.3244584+00:00"}`,            // no token
		``,
	} {
		_, err := clientAnswering(t, 200, []byte(body)).GetToken(context.Background(), CommunicationUserIdentifier{ID: userID}, []TokenScope{TokenScopeChat}, nil)
		if err == nil {
			t.Errorf("%q: no error", body)
		}
	}
	// A huge but well-formed token is decoded, not truncated.
	big := strings.Repeat("a", 4<<20)
	r, err := clientAnswering(t, 200, []byte(`{"token":"`+big+`","expiresOn":"2025-07-10T21:39:39.3244584+00:00"}`)).GetToken(context.Background(), CommunicationUserIdentifier{ID: userID}, []TokenScope{TokenScopeChat}, nil)
	if err != nil || len(r.Token) != len(big) {
		t.Errorf("4 MiB token: %d bytes, %v", len(r.Token), err)
	}
}
