package tokenservice_test

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/acsgo/acsidentity"
	"github.com/acsgo/acsidentity/emulator"
	"github.com/acsgo/acsidentity/tokenservice"
)

var discard = slog.New(slog.DiscardHandler)

// handlerTransport is an azcore transport that answers every request with
// an http.Handler in process, as a server would see it: Host and
// RequestURI set from the URL.
type handlerTransport struct{ h http.Handler }

func (t handlerTransport) Do(r *http.Request) (*http.Response, error) {
	in := r.Clone(r.Context())
	in.Host = r.URL.Host
	in.RequestURI = r.URL.RequestURI()
	in.RemoteAddr = "127.0.0.1:40000"
	if in.Body == nil {
		in.Body = http.NoBody
	}
	rec := httptest.NewRecorder()
	t.h.ServeHTTP(rec, in)
	resp := rec.Result()
	resp.Request = r
	return resp, nil
}

// testClientOptions are NewClientOptions with the retry delays shortened,
// so that tests that make ACS fail do not wait seconds between tries. The
// number of retries, the retried statuses and MaxRetryDelay (which decides
// whether a Retry-After is waited out) stay.
func testClientOptions(transport policy.Transporter) *acsidentity.ClientOptions {
	o := tokenservice.NewClientOptions()
	o.Retry.RetryDelay = time.Millisecond
	if transport != nil {
		o.Transport = transport
	}
	return o
}

// newEmulator returns an emulator to reach in process (inProcessACS).
func newEmulator(t testing.TB) *emulator.Emulator {
	t.Helper()
	em, err := emulator.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return em
}

// inProcessACS returns a client of em that reaches it without a network,
// at a loopback endpoint.
func inProcessACS(t testing.TB, em *emulator.Emulator) *acsidentity.Client {
	t.Helper()
	c, err := acsidentity.NewClientFromConnectionString("endpoint=http://127.0.0.1:10780/;accesskey="+emulator.DevelopmentKey,
		testClientOptions(handlerTransport{em}))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// newService returns a Service of acs with options (nil: anonymous and
// development callers, no logs), mounted at /api/ in a ServeMux, as the
// trusted-service example serves it.
func newService(t testing.TB, acs *acsidentity.Client, options *tokenservice.Options) http.Handler {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle("/api/", newBareService(t, acs, options))
	return mux
}

// newBareService returns a Service of acs with options, as newService,
// not mounted.
func newBareService(t testing.TB, acs *acsidentity.Client, options *tokenservice.Options) *tokenservice.Service {
	t.Helper()
	if options == nil {
		options = &tokenservice.Options{AllowAnonymous: true, DevelopmentCallers: true}
	}
	if options.Logger == nil {
		options.Logger = discard
	}
	svc, err := tokenservice.New(acs, options)
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

// serve sends a request to h as a loopback client would, for
// http://127.0.0.1:7071 + target, and returns the answer.
func serve(h http.Handler, method, target string, header map[string]string, body string) *http.Response {
	r := httptest.NewRequest(method, "http://127.0.0.1:7071"+target, strings.NewReader(body))
	r.RemoteAddr = "127.0.0.1:50000"
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w.Result()
}

// errorBody is the JSON of an error answer.
type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// tokenBody is the JSON of a token answer.
type tokenBody struct {
	User *struct {
		CommunicationUserID string `json:"communicationUserId"`
	} `json:"user"`
	Token     string `json:"token"`
	ExpiresOn string `json:"expiresOn"`
}

// readBody reads res's body and decodes it into v, if v is not nil.
func readBody(t testing.TB, res *http.Response, v any) []byte {
	t.Helper()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	if v != nil {
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("%d %s: %v", res.StatusCode, b, err)
		}
	}
	return b
}

// wantError checks an error answer: status and code.
func wantError(t testing.TB, what string, res *http.Response, status int, code string) {
	t.Helper()
	var e errorBody
	b := readBody(t, res, nil)
	if err := json.Unmarshal(b, &e); err != nil || res.StatusCode != status || e.Error.Code != code || e.Error.Message == "" {
		t.Fatalf("%s: got %d %s, want %d with code %s", what, res.StatusCode, b, status, code)
	}
	if ct := res.Header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
		t.Errorf("%s: Content-Type %q", what, ct)
	}
}

// wantToken checks a token answer and returns it.
func wantToken(t testing.TB, what string, res *http.Response) tokenBody {
	t.Helper()
	var tb tokenBody
	b := readBody(t, res, nil)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("%s: %d %s, want 200", what, res.StatusCode, b)
	}
	if err := json.Unmarshal(b, &tb); err != nil || tb.Token == "" {
		t.Fatalf("%s: %s (%v)", what, b, err)
	}
	return tb
}

// teamsFixture is a Teams user's Entra ID token for the emulator's
// exchange, and the body that exchanges it (without userId; body(oid)
// names a userId).
func teamsFixture() (user string, body func(userID string) string) {
	const (
		app = "1fd5118e-2576-4263-8130-9503064c837a"
		oid = "0b6f3a8e-5a43-4c1e-9d7e-2f64c1a0b9d3"
		tid = "72f988bf-86f1-41af-91ab-2d7cd011db47"
	)
	claims, _ := json.Marshal(map[string]any{"aud": emulator.TeamsUserAudience, "appid": app, "oid": oid, "tid": tid, "exp": time.Now().Add(time.Hour).Unix()})
	token := "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9." + base64.RawURLEncoding.EncodeToString(claims) + ".c2ln"
	return oid, func(userID string) string {
		if userID == "" {
			return `{"token":"` + token + `","appId":"` + app + `"}`
		}
		return `{"token":"` + token + `","appId":"` + app + `","userId":"` + userID + `"}`
	}
}
