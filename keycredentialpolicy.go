package acsidentity

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/acsgo/acsidentity/internal/hostguard"
)

// KeyCredentialPolicyOptions contains the optional parameters of
// NewKeyCredentialPolicy.
type KeyCredentialPolicyOptions struct {
	// InsecureAllowCredentialWithHTTP lets the policy sign requests sent over
	// plain HTTP to hosts that are not loopback. By default such a request
	// fails with an error that wraps ErrInsecureTransport and is not retried.
	InsecureAllowCredentialWithHTTP bool
}

// KeyCredentialPolicy signs requests with an ACS access key, the HMAC-SHA256
// scheme every ACS data-plane API accepts (Identity, Email, SMS, Chat,
// Rooms, Call Automation, Phone Numbers and the rest). It is the policy a
// Client made with a KeyCredential uses, for a pipeline of your own. Make it
// with NewKeyCredentialPolicy.
type KeyCredentialPolicy struct {
	allowHTTP bool
	hmac      *hmacPolicy // nil when made with a nil credential
}

// NewKeyCredentialPolicy returns a policy that signs each try of a request
// with cred, for a pipeline made with runtime.NewPipeline (put it in
// PipelineOptions.PerRetry, as azcore's runtime.NewKeyCredentialPolicy) or
// azcore.NewClient. A request to any ACS API signed with it is what the
// service verifies:
//
//   - x-ms-date is the time of the try, in RFC 1123 form;
//   - x-ms-content-sha256 is the base64 SHA-256 of the body, read through
//     policy.Request.Body and rewound, so every retry carries it and the
//     transport still sends the whole body (set bodies with SetBody or
//     runtime.MarshalAsJSON; a request whose body was set on the
//     *http.Request behind azcore's back is refused, since what would be
//     signed is not what is sent);
//   - Authorization is "HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature=..."
//     over the method, the path and query exactly as they go on the wire,
//     and the Host header actually sent (a default port dropped from both).
//
// These are the steps hand-written signing most often gets wrong: a body
// hashed other than as sent, or a host, path or query signed other than as
// sent, is answered with 401 Unauthorized.
//
// Credentials are sent only over HTTPS or to loopback hosts (an emulator)
// unless options.InsecureAllowCredentialWithHTTP is set. Rotating cred with
// KeyCredential.Update takes effect on the next request. A nil cred makes a
// policy whose every request fails with an error that wraps
// ErrMissingArgument. No error, log line or panic of the policy shows the key.
func NewKeyCredentialPolicy(cred *KeyCredential, options *KeyCredentialPolicyOptions) *KeyCredentialPolicy {
	p := &KeyCredentialPolicy{}
	if options != nil {
		p.allowHTTP = options.InsecureAllowCredentialWithHTTP
	}
	if cred != nil && cred.key.Load() != nil {
		p.hmac = newHMACPolicy(cred)
	}
	return p
}

// Do implements policy.Policy: it signs req and sends it on.
func (p *KeyCredentialPolicy) Do(req *policy.Request) (*http.Response, error) {
	if p.hmac == nil {
		return nil, &finalError{fmt.Errorf("acsidentity: %w: the KeyCredentialPolicy was made with a nil KeyCredential; make one with NewKeyCredential", ErrMissingArgument)}
	}
	raw := req.Raw()
	if !p.allowHTTP && !strings.EqualFold(raw.URL.Scheme, "https") && !hostguard.IsLoopback(raw.URL.Host) {
		return nil, &insecureTransportError{host: raw.URL.Hostname()}
	}
	if req.Body() == nil && raw.Body != nil && raw.Body != http.NoBody {
		return nil, &finalError{fmt.Errorf("acsidentity: the request's body was set on the *http.Request, where the KeyCredentialPolicy cannot hash it and rewind it; set it with policy.Request.SetBody or runtime.MarshalAsJSON")}
	}
	return p.hmac.Do(req)
}

// finalError is a local failure that retrying cannot mend. Its NonRetriable
// method tells azcore's retry policy not to try again.
type finalError struct{ err error }

func (e *finalError) Error() string { return e.err.Error() }
func (e *finalError) Unwrap() error { return e.err }

// NonRetriable marks the error as final for azcore's retry policy.
func (*finalError) NonRetriable() {}
