package acsidentity

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"

	"github.com/acsgo/acsidentity/internal/wire"
)

// The Entra user credential: a CommunicationTokenCredential whose ACS token
// comes from exchanging the user's own Entra ID token, with no trusted
// service of the application's in between (the
// EntraCommunicationTokenCredentialOptions constructor of the JS, .NET, Java
// and Python communication-common packages).

// DefaultEntraScope is the scope an Entra user credential asks Entra ID for
// when EntraCommunicationTokenCredentialOptions.Scopes is nil: the ACS
// "communication clients" scope, exchanged at /access/entra/:exchangeAccessToken.
const DefaultEntraScope = CommunicationClientsScopePrefix + ".default"

// The scope prefixes an Entra user credential accepts. All of a credential's
// scopes must start with the same one; the prefix decides where the Entra
// token is exchanged.
const (
	// CommunicationClientsScopePrefix is the prefix of the scopes of an
	// Entra-authenticated application (such as
	// "https://communication.azure.com/clients/VoIP"). Their tokens are
	// exchanged at POST /access/entra/:exchangeAccessToken, api-version
	// 2025-03-02-preview.
	CommunicationClientsScopePrefix = "https://communication.azure.com/clients/"
	// TeamsExtensionScopePrefix is the prefix of the Teams Phone extension
	// scopes (such as
	// "https://auth.msft.communication.azure.com/TeamsExtension.ManageCalls").
	// Their tokens are exchanged at POST /access/teamsExtension/:exchangeAccessToken,
	// api-version 2025-06-30.
	TeamsExtensionScopePrefix = "https://auth.msft.communication.azure.com/"
	// TeamsExtensionGCCHighScopePrefix is TeamsExtensionScopePrefix in the
	// US Government (GCC High) cloud, exchanged in the same way. The JS
	// (2.5.0) and .NET (1.4.1) packages accept it; Java and Python do not yet.
	TeamsExtensionGCCHighScopePrefix = "https://auth.msft.communication.azure.us/"
)

// ErrInvalidEntraScopes means the scopes of an Entra user credential are an
// empty list, contain an empty string or a scope with none of the accepted
// prefixes, or mix prefixes. NewEntraCommunicationTokenCredential wraps it,
// with the detail, before any I/O.
var ErrInvalidEntraScopes = errors.New("the Entra credential's scopes must all start with one of " +
	CommunicationClientsScopePrefix + ", " + TeamsExtensionScopePrefix + " or " + TeamsExtensionGCCHighScopePrefix)

// EntraCommunicationTokenCredentialOptions configures an Entra user
// credential (NewEntraCommunicationTokenCredential).
type EntraCommunicationTokenCredentialOptions struct {
	// ResourceEndpoint is the ACS resource, such as
	// "https://<resource>.communication.azure.com". Required. As for a
	// Client, it must be https unless it is a loopback host (the emulator)
	// or ClientOptions.InsecureAllowCredentialWithHTTP is set.
	ResourceEndpoint string

	// TokenCredential gets the user's Entra ID token: an azidentity
	// credential (interactive browser, device code, on-behalf-of, ...) or
	// any other azcore.TokenCredential. Required. It must honour the
	// context it is given: Close cancels it and waits for a running
	// exchange to end.
	TokenCredential azcore.TokenCredential

	// Scopes are asked of TokenCredential. nil means DefaultEntraScope.
	// They must all start with the same one of
	// CommunicationClientsScopePrefix, TeamsExtensionScopePrefix and
	// TeamsExtensionGCCHighScopePrefix; an empty list is an error (see
	// ErrInvalidEntraScopes). The credential keeps its own copy. (.NET and
	// Java refuse null scopes as they refuse an empty list; in Go nil is the
	// unset value, and means the default, as an absent list does in JS and
	// Python.)
	Scopes []string

	// ClientOptions configures the pipeline of the exchange requests:
	// Transport, Retry, Logging, Telemetry, InsecureAllowCredentialWithHTTP.
	// APIVersion, if set, replaces the exchange's api-version (by default
	// 2025-03-02-preview for CommunicationClientsScopePrefix, 2025-06-30 for
	// the Teams Phone extension); a version this module knows to lack the
	// exchange is refused with an *APIVersionError. nil is the same as the
	// zero value.
	ClientOptions *azcore.ClientOptions
}

// entraEndpoint is where the tokens of one scope prefix are exchanged.
type entraEndpoint struct {
	prefix, path, version string
	feature               wire.Feature
}

var entraEndpoints = [...]entraEndpoint{
	{CommunicationClientsScopePrefix, "/access/entra/:exchangeAccessToken", wire.V2025_03_02Preview, wire.FeatureEntra},
	{TeamsExtensionScopePrefix, "/access/teamsExtension/:exchangeAccessToken", wire.V2025_06_30, wire.FeatureTeamsExtension},
	{TeamsExtensionGCCHighScopePrefix, "/access/teamsExtension/:exchangeAccessToken", wire.V2025_06_30, wire.FeatureTeamsExtension},
}

// entraEndpointFor returns the endpoint of scopes, which must all have the
// same prefix. The comparison is case-sensitive, as in JS, Java, Python and
// .NET's communication-clients check (only .NET's Teams check ignores case).
//
// One prefix, not merely one endpoint: the commercial and GCC High Teams
// prefixes are never mixed, because Entra ID issues a token for one
// resource only. .NET checks each scope against either Teams prefix and
// would accept the mix; the service could not.
func entraEndpointFor(scopes []string) (entraEndpoint, error) {
	if len(scopes) == 0 {
		return entraEndpoint{}, fmt.Errorf("acsidentity: %w: the list is empty (leave Scopes nil for %s)", ErrInvalidEntraScopes, DefaultEntraScope)
	}
	var first entraEndpoint
	for i, s := range scopes {
		if s == "" {
			return entraEndpoint{}, fmt.Errorf("acsidentity: %w: scope %d is empty", ErrInvalidEntraScopes, i)
		}
		j := slices.IndexFunc(entraEndpoints[:], func(e entraEndpoint) bool { return strings.HasPrefix(s, e.prefix) })
		if j < 0 {
			return entraEndpoint{}, fmt.Errorf("acsidentity: %w: scope %q has none of them", ErrInvalidEntraScopes, s)
		}
		if i == 0 {
			first = entraEndpoints[j]
		} else if entraEndpoints[j].prefix != first.prefix {
			return entraEndpoint{}, fmt.Errorf("acsidentity: %w: scope %q and scope %q start with different prefixes", ErrInvalidEntraScopes, scopes[0], s)
		}
	}
	return first, nil
}

// NewEntraCommunicationTokenCredential returns a CommunicationTokenCredential
// that gets ACS tokens for an Entra ID user: it asks options.TokenCredential
// for an Entra ID token, exchanges it at the resource for an ACS access
// token, caches that, and exchanges again when it is needed. This is how a
// Teams Phone extension (TeamsExtensionScopePrefix scopes) or an
// Entra-authenticated application (CommunicationClientsScopePrefix) calls
// ACS without a trusted token service of its own; an administrator must
// have assigned the user (Client.CreateOrReplaceTeamsExtensionAssignment,
// Client.CreateOrReplaceEntraAssignment).
//
// Its errors, all before any I/O: a missing ResourceEndpoint or
// TokenCredential wraps ErrMissingArgument; bad Scopes wrap
// ErrInvalidEntraScopes; a malformed endpoint, plain HTTP to a host that is
// not loopback (ErrInsecureTransport) and an APIVersion without the
// exchange (*APIVersionError) are refused as by NewClient.
//
// The behaviour is the official SDKs' (their unit tests are transcribed in
// entracredential_test.go); where they disagree this follows the majority:
//
//   - One exchange starts at once, in the background (all four start one at
//     construction; JS, .NET and Java do not wait for it, Python does). A
//     GetToken that arrives meanwhile waits for it. Its failure is not
//     reported by the constructor.
//   - Each GetToken obtains the Entra token through azcore's bearer-token
//     policy, which caches it and asks TokenCredential again only when it
//     is within 5 minutes of expiry (or past its RefreshOn), as the .NET,
//     Java and Python credentials do through their bearer policies. (JS
//     asks TokenCredential on every call.) The Entra token travels as
//     "Authorization: Bearer" on the exchange request.
//   - The guard: the ACS token is reused while it has not expired and the
//     Entra token is the one it was exchanged for; an expired ACS token, a
//     changed Entra token or a failed exchange means a new exchange. The
//     ACS token's expiry is the answer's expiresOn (JS, .NET, Python; Java
//     reads the token's exp claim). A token the service returns already
//     expired is handed out as it is, and the next call exchanges again
//     (JS, .NET, Java; Python's credential refuses it); its ExpiresOn tells.
//   - Concurrent GetToken calls share one exchange. A failed exchange is
//     not cached, and its error goes only to the call that started it: a
//     call that was waiting for it starts an exchange of its own (.NET and
//     Python wait and then refresh themselves, Java's calls never share;
//     in JS every waiter gets the first caller's error). So the pre-warm's
//     failure reaches no one, and the first GetToken exchanges again.
//   - A non-200 answer is an *azcore.ResponseError, after azcore's retries
//     of transient failures (3 retries by default, as the SDKs' 4 tries).
//     A 200 answer without an access token and its expiry is an error that
//     says what is missing. .NET and Java make that their HTTP error type,
//     Python a ClientAuthenticationError; here it is not an
//     *azcore.ResponseError, whose text quotes the answer, and the answer
//     may hold a token.
//
// A GetToken that finds the ACS token cached still runs the pipeline (the
// bearer policy, then the guard answers), as .NET's credential does; it
// costs tens of microseconds and about 70 allocations
// (BenchmarkEntraCredentialGetTokenCached), nothing on the network.
//
// Close stops a running exchange and forgets the cached token; GetToken
// then fails with ErrCredentialClosed.
func NewEntraCommunicationTokenCredential(options EntraCommunicationTokenCredentialOptions) (*CommunicationTokenCredential, error) {
	if strings.TrimSpace(options.ResourceEndpoint) == "" {
		return nil, fmt.Errorf("acsidentity: %w: EntraCommunicationTokenCredentialOptions.ResourceEndpoint is empty", ErrMissingArgument)
	}
	if options.TokenCredential == nil {
		return nil, fmt.Errorf("acsidentity: %w: EntraCommunicationTokenCredentialOptions.TokenCredential is nil", ErrMissingArgument)
	}
	scopes := slices.Clone(options.Scopes)
	if options.Scopes == nil {
		scopes = []string{DefaultEntraScope}
	}
	ep, err := entraEndpointFor(scopes)
	if err != nil {
		return nil, err
	}
	co := &ClientOptions{}
	if options.ClientOptions != nil {
		co.ClientOptions = *options.ClientOptions
	}
	if co.APIVersion == "" {
		co.APIVersion = ep.version
	}
	// Our transport guard runs first and allows loopback hosts, so the
	// bearer policy's own HTTPS check is switched off, as in NewClient.
	bearer := runtime.NewBearerTokenPolicy(options.TokenCredential, scopes, &policy.BearerTokenOptions{InsecureAllowCredentialWithHTTP: true})
	guard := newEntraTokenGuard()
	client, err := newClient(options.ResourceEndpoint, bearer, co, guard)
	if err != nil {
		return nil, err
	}
	if err := client.require(ep.feature); err != nil {
		return nil, err
	}
	c := &CommunicationTokenCredential{exchange: &entraExchange{client: client, path: ep.path, guard: guard}}
	c.closing, c.close = context.WithCancel(context.Background())
	c.mu.Lock()
	call, _ := c.startLocked()
	c.mu.Unlock()
	go c.runExchange(call)
	return c, nil
}

// entraExchange sends the exchange request of an Entra user credential.
type entraExchange struct {
	client *Client
	path   string
	guard  *entraTokenGuard
}

// do sends one exchange through the pipeline (bearer, guard, retries) and
// reads the ACS token from the answer.
func (x *entraExchange) do(ctx context.Context) (AccessToken, error) {
	req, err := runtime.NewRequest(ctx, http.MethodPost, x.client.endpoint+x.path)
	if err != nil {
		return AccessToken{}, fmt.Errorf("acsidentity: %w", err)
	}
	req.Raw().URL.RawQuery = x.client.versionQuery
	req.Raw().Header["Accept"] = []string{"application/json"}
	if err := runtime.MarshalAsJSON(req, struct{}{}); err != nil {
		return AccessToken{}, fmt.Errorf("acsidentity: %w", err)
	}
	resp, err := x.client.internal.Pipeline().Do(req)
	if err != nil {
		return AccessToken{}, err
	}
	if resp.StatusCode != http.StatusOK {
		return AccessToken{}, runtime.NewResponseError(resp)
	}
	payload, err := runtime.Payload(resp)
	if err != nil {
		return AccessToken{}, fmt.Errorf("acsidentity: reading the answer to the Entra token exchange: %w", err)
	}
	tok, why := exchangedToken(payload)
	if why != "" {
		return AccessToken{}, fmt.Errorf("acsidentity: the answer to the Entra token exchange (HTTP 200 from %s) is not an access token: %s", x.path, why)
	}
	return tok, nil
}

// exchangedToken reads the accessToken of an exchange answer, or says why it
// cannot, without quoting the answer.
func exchangedToken(payload []byte) (AccessToken, string) {
	out, err := wire.DecodeAccessTokenResult(payload)
	switch {
	case err != nil:
		return AccessToken{}, "it is not the expected JSON (" + jsonProblem(err) + ")"
	case out.AccessToken == nil:
		return AccessToken{}, "it has no accessToken"
	case out.AccessToken.Token == "":
		return AccessToken{}, "accessToken.token is missing or empty"
	case out.AccessToken.ExpiresOn.IsZero():
		return AccessToken{}, "accessToken.expiresOn is missing"
	}
	return AccessToken{Token: out.AccessToken.Token, ExpiresOn: out.AccessToken.ExpiresOn.Time}, ""
}

// jsonProblem describes a decoding error by its kind only: the answer is
// not to be quoted, and a date-time's error would quote it.
func jsonProblem(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return "malformed JSON"
	case errors.As(err, &typ):
		return "a field has the wrong JSON type"
	}
	return "expiresOn is not an RFC 3339 date-time"
}

// getExchangedToken is GetToken of an Entra user credential.
func (c *CommunicationTokenCredential) getExchangedToken(ctx context.Context) (AccessToken, error) {
	for {
		if err := ctx.Err(); err != nil {
			// JS: an aborted call neither asks Entra ID nor exchanges.
			return AccessToken{}, err
		}
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			return AccessToken{}, fmt.Errorf("acsidentity: %w", ErrCredentialClosed)
		}
		call, started := c.startLocked()
		if started {
			call.caller = ctx
		}
		c.waiting++
		c.mu.Unlock()
		if started {
			// On this goroutine: the pipeline and TokenCredential honour
			// ctx, and a cached answer costs no goroutine hand-off.
			c.runExchange(call)
		}
		var err error
		select {
		case <-call.done:
		case <-ctx.Done():
			err = ctx.Err()
		}
		c.mu.Lock()
		c.waiting--
		c.mu.Unlock()
		if err != nil {
			return AccessToken{}, err
		}
		if call.err == nil || started || errors.Is(call.err, ErrCredentialClosed) {
			return call.token, call.err
		}
		// The exchange another call (or the constructor) started failed:
		// its error is that call's. Exchange anew.
	}
}

// runExchange runs one exchange under its caller's context (nil: the
// constructor's pre-warm), which Close also cancels.
func (c *CommunicationTokenCredential) runExchange(call *refreshCall) {
	defer c.wg.Done()
	ctx, cancel := c.callContext(call.caller)
	tok, err := c.exchange.do(ctx)
	cancel()
	c.mu.Lock()
	c.inflight = nil
	switch {
	case c.closed:
		tok, err = AccessToken{}, fmt.Errorf("acsidentity: %w", ErrCredentialClosed)
	case err == nil:
		c.token = tok
	}
	c.mu.Unlock()
	call.token, call.err = tok, err
	close(call.done)
}
