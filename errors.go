package acsidentity

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
)

// Errors a method returns before any I/O when its arguments are wrong. They
// are wrapped with detail; test for them with errors.Is. Failures reported by
// the service are *azcore.ResponseError instead.
var (
	// ErrEmptyUserID means a CommunicationUserIdentifier has no ID.
	ErrEmptyUserID = errors.New("user ID is empty")
	// ErrNoScopes means an operation that issues a token was given no scopes.
	ErrNoScopes = errors.New("at least one token scope is required")
	// ErrInvalidTokenExpiresIn means a TokenExpiresIn is negative or not whole minutes.
	ErrInvalidTokenExpiresIn = errors.New("token lifetime must be a positive whole number of minutes")
	// ErrMissingArgument means a required argument is empty or nil.
	ErrMissingArgument = errors.New("required argument is missing")
	// ErrInvalidCustomID means a custom ID is not valid UTF-8 or is not 1 to
	// 256 characters long. The service would fold invalid bytes into U+FFFD,
	// so two different IDs would name the same identity.
	ErrInvalidCustomID = errors.New("custom ID must be valid UTF-8 of 1 to 256 characters")
	// ErrInsecureTransport means a credential would have been sent over plain
	// HTTP to a host that is not loopback. The error is not retried.
	ErrInsecureTransport = errors.New("credentials are sent only over HTTPS")
	// ErrEntraIDRequired means an operation in which the caller's own Entra ID
	// identity is exchanged was called on a client made with an access key;
	// make the client with NewClient.
	ErrEntraIDRequired = errors.New("operation needs a client that authenticates with Entra ID (NewClient)")
)

// APIVersionError is returned, before any I/O, when a method or an option
// needs an api-version other than the client's (ClientOptions.APIVersion).
type APIVersionError struct {
	// Feature names the operation or option.
	Feature string
	// APIVersion is the client's api-version.
	APIVersion string
	// Supported lists the api-versions that have the feature.
	Supported []string
}

// Error implements error.
func (e *APIVersionError) Error() string {
	return fmt.Sprintf("acsidentity: %s needs api-version %s; the client uses %s (set ClientOptions.APIVersion)",
		e.Feature, strings.Join(e.Supported, ", "), e.APIVersion)
}

// insecureTransportError refuses to send a credential over plain HTTP. Its
// NonRetriable method tells azcore's retry policy not to try again.
type insecureTransportError struct{ host string }

func (e *insecureTransportError) Error() string {
	return "acsidentity: refusing to send credentials over plain HTTP to " + e.host +
		": credentials are sent only over HTTPS, except to loopback hosts such as the emulator; " +
		"set ClientOptions.InsecureAllowCredentialWithHTTP to override"
}

func (e *insecureTransportError) Is(target error) bool { return target == ErrInsecureTransport }

// NonRetriable marks the error as final for azcore's retry policy.
func (*insecureTransportError) NonRetriable() {}

// RetryAfter returns how long the service asked to wait before the next try,
// when err is an *azcore.ResponseError whose response says so: the
// retry-after-ms or x-ms-retry-after-ms header (milliseconds) or Retry-After
// (seconds or an HTTP date), in that order of preference, as azcore's retry
// policy reads them. A trusted service can pass the advice on to its callers.
func RetryAfter(err error) (time.Duration, bool) {
	var re *azcore.ResponseError
	if !errors.As(err, &re) || re.RawResponse == nil {
		return 0, false
	}
	h := re.RawResponse.Header
	for _, name := range [...]string{"Retry-After-Ms", "X-Ms-Retry-After-Ms"} {
		if ms, err := strconv.ParseInt(h.Get(name), 10, 64); err == nil && ms >= 0 {
			return time.Duration(ms) * time.Millisecond, true
		}
	}
	v := h.Get("Retry-After")
	if s, err := strconv.ParseInt(v, 10, 64); err == nil && s >= 0 {
		return time.Duration(s) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t), 0), true
	}
	return 0, false
}
