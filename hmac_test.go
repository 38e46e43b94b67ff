package acsidentity

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"

	"github.com/acsgo/acsidentity/emulator"
	"github.com/acsgo/acsidentity/internal/hmacauth"
)

// hmacVector is one entry of testdata/hmac_vectors.json (from ../shared/testdata).
type hmacVector struct {
	Test                  string  `json:"test"`
	Kind                  string  `json:"kind"`
	Method                *string `json:"method"`
	URL                   *string `json:"url"`
	Date                  *string `json:"date"`
	Body                  string  `json:"body"`
	KeyBase64             string  `json:"key_base64"`
	SignedHost            string  `json:"signed_host"`
	SignedPathAndQuery    string  `json:"signed_path_and_query"`
	StringToSign          string  `json:"string_to_sign"`
	ExpectedContentSHA256 string  `json:"expected_content_sha256"`
	ExpectedSignature     string  `json:"expected_signature"`
	ExpectedAuthorization string  `json:"expected_authorization"`
}

func loadHMACVectors(t *testing.T) []hmacVector {
	t.Helper()
	b, err := os.ReadFile("testdata/hmac_vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var v []hmacVector
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	if len(v) == 0 {
		t.Fatal("no vectors")
	}
	return v
}

// TestHMACVectors runs every vector through the real policy in a real
// pipeline and compares the headers that reach the transport.
func TestHMACVectors(t *testing.T) {
	t.Parallel()
	for _, v := range loadHMACVectors(t) {
		t.Run(v.Test, func(t *testing.T) {
			t.Parallel()
			switch v.Kind {
			case "content_hash":
				if got := hmacauth.ContentHash([]byte(v.Body)); got != v.ExpectedContentSHA256 {
					t.Fatalf("ContentHash = %s, want %s", got, v.ExpectedContentSHA256)
				}
				got, err := hmacauth.HashReader(strings.NewReader(v.Body))
				if err != nil || got != v.ExpectedContentSHA256 {
					t.Fatalf("HashReader = %s, %v; want %s", got, err, v.ExpectedContentSHA256)
				}
				if !hmacauth.ContentHashMatches([]byte(v.Body), v.ExpectedContentSHA256) || hmacauth.ContentHashMatches([]byte(v.Body+"x"), v.ExpectedContentSHA256) {
					t.Fatalf("ContentHashMatches disagrees with %s", v.ExpectedContentSHA256)
				}
			case "hmac":
				raw, err := decodeAccessKey(v.KeyBase64)
				if err != nil {
					t.Fatal(err)
				}
				if got := hmacauth.NewKey(raw).MAC(v.StringToSign); got != v.ExpectedSignature {
					t.Fatalf("MAC = %s, want %s", got, v.ExpectedSignature)
				}
			case "request":
				date, err := time.Parse(http.TimeFormat, *v.Date)
				if err != nil {
					t.Fatal(err)
				}
				cred, err := NewKeyCredential(v.KeyBase64)
				if err != nil {
					t.Fatal(err)
				}
				p := NewKeyCredentialPolicy(cred, nil) // the exported policy, around the signer clients use
				p.hmac.now = func() time.Time { return date }
				var seen *http.Request
				tr := transportFunc(func(r *http.Request) (*http.Response, error) {
					seen = r
					return &http.Response{StatusCode: 200, Body: http.NoBody, Request: r, Header: http.Header{}}, nil
				})
				pl := runtime.NewPipeline("t", "v0.0.1", runtime.PipelineOptions{PerRetry: []policy.Policy{p}}, &policy.ClientOptions{Transport: tr})
				req, err := runtime.NewRequest(context.Background(), *v.Method, *v.URL)
				if err != nil {
					t.Fatal(err)
				}
				if v.Body != "" {
					if err := req.SetBody(streaming.NopCloser(strings.NewReader(v.Body)), "application/json"); err != nil {
						t.Fatal(err)
					}
				}
				if _, err := pl.Do(req); err != nil {
					t.Fatal(err)
				}
				check := map[string]string{
					"x-ms-date":           *v.Date,
					"x-ms-content-sha256": v.ExpectedContentSHA256,
					"Authorization":       v.ExpectedAuthorization,
				}
				for h, want := range check {
					if got := seen.Header.Get(h); got != want {
						t.Errorf("%s = %q, want %q", h, got, want)
					}
				}
				if seen.Host != v.SignedHost {
					t.Errorf("Host sent = %q, want the signed host %q", seen.Host, v.SignedHost)
				}
				if got := seen.URL.RequestURI(); got != v.SignedPathAndQuery {
					t.Errorf("RequestURI = %q, want %q", got, v.SignedPathAndQuery)
				}
				if got := hmacauth.StringToSign(*v.Method, v.SignedPathAndQuery, *v.Date, v.SignedHost, v.ExpectedContentSHA256); got != v.StringToSign {
					t.Errorf("StringToSign = %q, want %q", got, v.StringToSign)
				}
			default:
				t.Fatalf("unknown vector kind %q", v.Kind)
			}
		})
	}
}

type transportFunc func(*http.Request) (*http.Response, error)

func (f transportFunc) Do(r *http.Request) (*http.Response, error) { return f(r) }

func TestSignedHostDropsDefaultPort(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ url, want string }{
		{"https://contoso.communicationservices.azure.com:443/", "contoso.communicationservices.azure.com"},
		{"http://127.0.0.1:80/", "127.0.0.1"},
		{"https://example.com:8080/", "example.com:8080"},
		{"http://127.0.0.1:443/", "127.0.0.1:443"},
		{"https://[::1]:443/", "[::1]"},
		{"https://[::1]/", "[::1]"},
		{"https://[::1]:9000/", "[::1]:9000"},
	} {
		req, _ := http.NewRequest("GET", tc.url, nil)
		if got := hmacauth.SignedHost(req.URL); got != tc.want {
			t.Errorf("SignedHost(%s) = %q, want %q", tc.url, got, tc.want)
		}
	}
}

// TestRetrySignsSameBody proves that a retried request carries the whole
// body and the same content hash, and that each try is signed afresh.
func TestRetrySignsSameBody(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var hashes, bodies []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		hashes = append(hashes, r.Header.Get("x-ms-content-sha256"))
		bodies = append(bodies, string(b))
		n := len(bodies)
		mu.Unlock()
		if n == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		writeJSON(w, 200, `{"token":"t","expiresOn":"2030-01-01T00:00:00.0000000+00:00"}`)
	}))
	defer srv.Close()
	c := newTestClient(t, srv.URL, nil)
	if _, err := c.GetToken(context.Background(), CommunicationUserIdentifier{ID: "8:acs:r_u"}, []TokenScope{TokenScopeChat}, nil); err != nil {
		t.Fatal(err)
	}
	if len(bodies) != 2 {
		t.Fatalf("%d tries, want 2", len(bodies))
	}
	want := `{"scopes":["chat"]}`
	wantHash := hmacauth.ContentHash([]byte(want))
	for i := range bodies {
		if bodies[i] != want || hashes[i] != wantHash {
			t.Errorf("try %d: body %q hash %q; want %q %q", i+1, bodies[i], hashes[i], want, wantHash)
		}
	}
}

func TestKeyCredential(t *testing.T) {
	t.Parallel()
	const secret = "c2VjcmV0LWtleS1ieXRlcw=="
	for _, bad := range []string{"", "not base64!", "c2VjcmV0LWtleS1ieXRlcw", "===="} {
		_, err := NewKeyCredential(bad)
		if err == nil {
			t.Errorf("NewKeyCredential(%q): no error", bad)
			continue
		}
		if bad != "" && strings.Contains(err.Error(), bad) {
			t.Errorf("error %q shows the key", err)
		}
	}
	c, err := NewKeyCredential(secret)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{c.String(), c.GoString(), fmtAll(c)} {
		if strings.Contains(s, secret) || strings.Contains(s, "secret-key") {
			t.Errorf("credential prints its key: %s", s)
		}
	}
	before := c.key.Load()
	if err := c.Update("%%%"); err == nil {
		t.Fatal("Update accepted a bad key")
	}
	if c.key.Load() != before {
		t.Fatal("a failed Update replaced the key")
	}
	if err := c.Update(base64.StdEncoding.EncodeToString([]byte("another"))); err != nil || c.key.Load() == before {
		t.Fatalf("Update did not rotate the key: %v", err)
	}
}

// BenchmarkHMACSign measures what the policy adds to each try of a request
// with a 100-byte body: hashing it, the date, the host and the signature.
func BenchmarkHMACSign(b *testing.B) {
	cred, err := NewKeyCredential(base64.StdEncoding.EncodeToString(make([]byte, 64)))
	if err != nil {
		b.Fatal(err)
	}
	p := newHMACPolicy(cred)
	req := benchSignRequest(b)
	for b.Loop() {
		if err := p.sign(req); err != nil {
			b.Fatal(err)
		}
	}
}

// benchSignRequest is the request the signing benchmarks sign: an issue
// token call with a 100-byte body. It also starts the benchmark's counters.
func benchSignRequest(b *testing.B) *policy.Request {
	const body = "0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789"
	req, err := runtime.NewRequest(context.Background(), http.MethodPost, "https://contoso.communication.azure.com/identities/8%3Aacs%3Ar_u/:issueAccessToken?api-version=2025-06-30")
	if err != nil {
		b.Fatal(err)
	}
	if err := req.SetBody(streaming.NopCloser(strings.NewReader(body)), "application/json"); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	return req
}

func fmtAll(v any) string { return fmt.Sprintf("%v %+v %#v %s", v, v, v, v) }

// TestSignsWhatIsSent: for URLs whose wire form is unusual (a lone "?",
// escaped colons, a default port) the signature still covers exactly the
// request URI and Host that go on the wire.
func TestSignsWhatIsSent(t *testing.T) {
	t.Parallel()
	cred, err := NewKeyCredential(testKey)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{
		"https://example.com/x?",
		"https://example.com:443/identities/8%3Aacs%3Ar_u/:issueAccessToken?api-version=2025-06-30",
		"http://127.0.0.1:80/",
		"https://example.com",
	} {
		var seen *http.Request
		tr := transportFunc(func(r *http.Request) (*http.Response, error) {
			seen = r
			return &http.Response{StatusCode: 200, Body: http.NoBody, Request: r, Header: http.Header{}}, nil
		})
		pl := runtime.NewPipeline("t", "v0.0.1", runtime.PipelineOptions{PerRetry: []policy.Policy{newHMACPolicy(cred)}}, &policy.ClientOptions{Transport: tr})
		req, err := runtime.NewRequest(context.Background(), http.MethodGet, u)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := pl.Do(req); err != nil {
			t.Fatal(err)
		}
		if ok, why := verifyIndependently(seen, nil, testKey); !ok {
			t.Errorf("%s (sent %q to %q): %s", u, seen.URL.RequestURI(), seen.Host, why)
		}
	}
}

// TestAgainstEmulatorClockAndRotation: a client whose clock is 20 minutes
// off is refused (401, saying which check failed), and a key rotated with
// Update takes effect on the next request.
func TestAgainstEmulatorClockAndRotation(t *testing.T) {
	t.Parallel()
	srv, err := emulator.Start(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	cred, err := NewKeyCredential(emulator.DevelopmentKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewClientWithKeyCredential(srv.URL, cred, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := c.CreateUser(ctx, nil); err != nil {
		t.Fatal(err)
	}

	// The policy of this client is reached through its pipeline; make one
	// with a skewed clock the same way the constructor does.
	skewed := newHMACPolicy(cred)
	skewed.now = func() time.Time { return time.Now().Add(-20 * time.Minute) }
	sc, err := newClient(srv.URL, skewed, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = sc.CreateUser(ctx, nil)
	var re *azcore.ResponseError
	if !errors.As(err, &re) || re.StatusCode != http.StatusUnauthorized || !strings.Contains(err.Error(), "x-ms-date") {
		t.Errorf("skewed clock: %v", err)
	}

	if err := cred.Update(base64.StdEncoding.EncodeToString([]byte("a rotated key the emulator does not know"))); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateUser(ctx, nil); !errors.As(err, &re) || re.StatusCode != http.StatusUnauthorized {
		t.Errorf("after rotating to a wrong key: %v", err)
	}
	if err := cred.Update(emulator.DevelopmentKey); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateUser(ctx, nil); err != nil {
		t.Errorf("after rotating back: %v", err)
	}
}
