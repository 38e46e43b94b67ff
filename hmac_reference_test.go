package acsidentity

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
)

// signObviously is the ACS signing scheme written the plain way, with no
// pooling, caching or shared header arrays: the reference the fast
// hmacPolicy.sign must always agree with. Each line is one rule of
// internal/hmacauth's package doc.
func signObviously(req *policy.Request, key []byte, now time.Time) error {
	raw := req.Raw()
	var body []byte
	if rs := req.Body(); rs != nil {
		var err error
		if body, err = io.ReadAll(rs); err != nil {
			return err
		}
		if _, err := rs.Seek(0, io.SeekStart); err != nil {
			return err
		}
	}
	sum := sha256.Sum256(body)
	contentHash := base64.StdEncoding.EncodeToString(sum[:])

	host := raw.URL.Host // what goes on the wire: no default port
	if port := raw.URL.Port(); port == "443" && raw.URL.Scheme == "https" || port == "80" && raw.URL.Scheme == "http" {
		host = strings.TrimSuffix(host, ":"+port)
	}
	raw.Host = host
	date := now.UTC().Format(http.TimeFormat)
	requestURI := raw.URL.RequestURI()

	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(raw.Method + "\n" + requestURI + "\n" + date + ";" + host + ";" + contentHash))
	raw.Header.Set("x-ms-date", date)
	raw.Header.Set("x-ms-content-sha256", contentHash)
	raw.Header.Set("Authorization", "HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature="+base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	return nil
}

// referenceRequests are requests with every wire form the signer must get
// right: bodies or none, escaped paths, queries, a lone "?", ports.
func referenceRequests(t testing.TB) []*policy.Request {
	var out []*policy.Request
	for _, tc := range []struct{ method, url, body string }{
		{http.MethodPost, "https://contoso.communication.azure.com/identities?api-version=2025-06-30", `{"createTokenWithScopes":["chat"]}`},
		{http.MethodPost, "https://contoso.communication.azure.com:443/identities/8%3Aacs%3Ar_u/:issueAccessToken?api-version=2025-06-30", `{"scopes":["voip"]}`},
		{http.MethodDelete, "https://contoso.communication.azure.com/identities/8%3Aacs%3Ar_u?api-version=2023-10-01", ""},
		{http.MethodGet, "http://127.0.0.1:10780/access/entra/assignments?api-version=2025-03-02-preview&maxpagesize=2", ""},
		{http.MethodGet, "http://localhost:80/gateway/acs/identities/x?", ""},
		{http.MethodPatch, "https://contoso.communication.azure.com:8443/gw/access/entra/assignments?api-version=2025-03-02-preview", `{"o":null}`},
		{http.MethodPost, "https://contoso.communication.azure.com/identities?api-version=2025-06-30", strings.Repeat("é", 3000)},
	} {
		req, err := runtime.NewRequest(context.Background(), tc.method, tc.url)
		if err != nil {
			t.Fatal(err)
		}
		if tc.body != "" {
			if err := req.SetBody(streaming.NopCloser(strings.NewReader(tc.body)), "application/json"); err != nil {
				t.Fatal(err)
			}
		}
		out = append(out, req)
	}
	return out
}

// TestSignMatchesObviousPath: the fast signer sets exactly the headers and
// Host that signObviously sets, for every reference request, twice in a
// row (the second time from the cached date and pooled HMAC state).
func TestSignMatchesObviousPath(t *testing.T) {
	t.Parallel()
	key := []byte("a key of any length, here not base64-decoded from anything")
	cred, err := NewKeyCredential(base64.StdEncoding.EncodeToString(key))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 30, 2, 3, 4, 500, time.UTC)
	p := newHMACPolicy(cred)
	p.now = func() time.Time { return now }
	for round := range 2 {
		for i, req := range referenceRequests(t) {
			want := req.Clone(context.Background())
			if err := signObviously(want, key, now); err != nil {
				t.Fatal(err)
			}
			if err := p.sign(req); err != nil {
				t.Fatal(err)
			}
			for _, h := range []string{"x-ms-date", "x-ms-content-sha256", "Authorization"} {
				if got, w := req.Raw().Header.Values(h), want.Raw().Header.Values(h); len(got) != 1 || got[0] != w[0] {
					t.Errorf("round %d, request %d (%s): %s is %q, the obvious path says %q", round, i, req.Raw().URL, h, got, w)
				}
			}
			if req.Raw().Host != want.Raw().Host {
				t.Errorf("request %d: Host %q, the obvious path says %q", i, req.Raw().Host, want.Raw().Host)
			}
			// And the body is still whole for the transport.
			if rs := req.Body(); rs != nil {
				if b, _ := io.ReadAll(rs); len(b) == 0 {
					t.Errorf("request %d: the body was consumed", i)
				}
			}
		}
	}
}

// BenchmarkHMACSignObvious is BenchmarkHMACSign's request signed the plain
// way, to show what the fast signer saves.
func BenchmarkHMACSignObvious(b *testing.B) {
	key := make([]byte, 64)
	req := benchSignRequest(b)
	for b.Loop() {
		if err := signObviously(req, key, time.Now()); err != nil {
			b.Fatal(err)
		}
	}
}
