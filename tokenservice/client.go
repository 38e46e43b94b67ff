package tokenservice

import (
	"net/http"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/acsgo/acsidentity"
)

// apiVersion is the ACS api-version NewClientOptions sets: the preview,
// because lasting identities need custom IDs.
const apiVersion = "2025-03-02-preview"

// NewClientOptions returns the ACS client options a token service should
// use:
//
//   - api-version 2025-03-02-preview, for custom IDs (with an
//     Options.Identities store none are needed: set APIVersion to "" for
//     the library's default, GA, version);
//   - retries short enough that the caller's own token refresher, not this
//     request, waits out a throttled resource: 429 is never retried (the
//     Service passes it on at once as 503 with Retry-After), 408 and 5xx
//     are retried twice, from 500 ms, waiting out a Retry-After of at most
//     4 s;
//   - a transport that keeps 128 idle connections to the resource (azcore's
//     default keeps 10: with more requests in flight over HTTP/1.1, one call
//     in five opened a new connection).
//
// Change what you need before making the client.
func NewClientOptions() *acsidentity.ClientOptions {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 128
	return &acsidentity.ClientOptions{ClientOptions: azcore.ClientOptions{
		APIVersion: apiVersion,
		Retry: policy.RetryOptions{
			MaxRetries:    2,
			TryTimeout:    10 * time.Second,
			RetryDelay:    500 * time.Millisecond,
			MaxRetryDelay: 4 * time.Second,
			StatusCodes:   []int{http.StatusRequestTimeout, http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout},
		},
		Telemetry: policy.TelemetryOptions{ApplicationID: "acs-trusted-service"},
		Transport: &http.Client{Transport: tr},
	}}
}
