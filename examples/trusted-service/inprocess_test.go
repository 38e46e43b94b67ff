package main

// Helpers that run the service's handler in the test process, against an
// emulator, for the fuzz and fault tests. (The end-to-end tests run the
// built binary instead.)

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/acsgo/acsidentity"
	"github.com/acsgo/acsidentity/emulator"
)

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

// testClientOptions are the service's own client options (clientOptions)
// with the retry delays shortened, so that tests that make ACS fail do not
// wait seconds between tries. The number of retries, the retried statuses
// and MaxRetryDelay (which decides whether a Retry-After is waited out)
// stay as the service has them.
func testClientOptions(transport policy.Transporter) *acsidentity.ClientOptions {
	o := clientOptions()
	o.Retry.RetryDelay = time.Millisecond
	o.Transport = transport
	return o
}

// newTestService returns the service's handler (with its logging
// middleware) using acs, for callers authenticated by auth, with the
// default per-caller rate limit.
func newTestService(t testing.TB, acs *acsidentity.Client, auth *authenticator) http.Handler {
	t.Helper()
	svc := &service{acs: acs, auth: auth, limit: newLimiter(defaultRatePerMinute, defaultRateBurst, time.Now)}
	return withLogging(discard, svc)
}

// inProcessACS returns a client of em that reaches it without a network.
func inProcessACS(t testing.TB, em *emulator.Emulator) *acsidentity.Client {
	t.Helper()
	c, err := acsidentity.NewClientFromConnectionString("endpoint=http://127.0.0.1:10780/;accesskey="+emulator.DevelopmentKey,
		testClientOptions(handlerTransport{em}))
	if err != nil {
		t.Fatal(err)
	}
	return c
}
