package acsidentity

import (
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
)

func TestRetryAfter(t *testing.T) {
	t.Parallel()
	respErr := func(h http.Header) error {
		return fmt.Errorf("wrapped: %w", &azcore.ResponseError{StatusCode: 429, RawResponse: &http.Response{StatusCode: 429, Header: h}})
	}
	future := time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)
	for _, tc := range []struct {
		name string
		err  error
		min  time.Duration
		max  time.Duration
		ok   bool
	}{
		{"seconds", respErr(http.Header{"Retry-After": {"7"}}), 7 * time.Second, 7 * time.Second, true},
		{"milliseconds first", respErr(http.Header{"Retry-After": {"7"}, "Retry-After-Ms": {"250"}}), 250 * time.Millisecond, 250 * time.Millisecond, true},
		{"x-ms milliseconds", respErr(http.Header{"X-Ms-Retry-After-Ms": {"1500"}}), 1500 * time.Millisecond, 1500 * time.Millisecond, true},
		{"HTTP date", respErr(http.Header{"Retry-After": {future}}), 59 * time.Minute, time.Hour, true},
		{"garbage", respErr(http.Header{"Retry-After": {"soon"}}), 0, 0, false},
		{"none", respErr(http.Header{}), 0, 0, false},
		{"not a response error", errors.New("x"), 0, 0, false},
		{"nil", nil, 0, 0, false},
	} {
		d, ok := RetryAfter(tc.err)
		if ok != tc.ok || d < tc.min || d > tc.max {
			t.Errorf("%s: %v %v, want %v in [%v, %v]", tc.name, d, ok, tc.ok, tc.min, tc.max)
		}
	}
}
