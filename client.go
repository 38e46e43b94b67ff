package acsidentity

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"

	"github.com/acsgo/acsidentity/internal/hmacauth"
	"github.com/acsgo/acsidentity/internal/hostguard"
	"github.com/acsgo/acsidentity/internal/wire"
)

const (
	moduleName    = "acsidentity"
	moduleVersion = "v0.1.0"

	// entraScope is the scope of Entra ID tokens for ACS. The double slash is real.
	entraScope = "https://communication.azure.com//.default"
)

// DefaultAPIVersion is the api-version a client uses unless
// ClientOptions.APIVersion names another: the newest generally available one.
// (A test keeps it equal to the version table's default.)
const DefaultAPIVersion = "2025-06-30"

// ClientOptions configures a Client. A nil *ClientOptions is the same as the
// zero value.
//
// APIVersion selects the service's api-version (default DefaultAPIVersion):
// "2025-03-02-preview" for custom IDs and GetUser, "2023-10-01" for the
// version every official SDK uses, and so on. A method or option the chosen
// version lacks fails before any I/O with an *APIVersionError. A version this
// module does not know is sent as it is and nothing is checked locally.
//
// Retry, Logging, Telemetry, Transport and the rest are azcore's. Credentials
// are sent only over HTTPS, except to loopback hosts (the emulator), unless
// InsecureAllowCredentialWithHTTP is set: without it, a constructor given an
// http:// endpoint on another host fails at once with an error that wraps
// ErrInsecureTransport.
type ClientOptions struct {
	azcore.ClientOptions
}

// Client is a client of the ACS Identity service: it creates and deletes
// identities and issues and revokes their access tokens. It is safe for
// concurrent use; make one per resource and share it.
type Client struct {
	internal   *azcore.Client
	endpoint   string // scheme://host[/base], no trailing slash
	apiVersion string
	// versionQuery is "api-version=<apiVersion>", escaped once.
	versionQuery string
	createRetry  policy.RetryOptions // see createRetryOptions
	entra        bool                // authenticates with an Entra ID token credential
}

// NewClientFromConnectionString returns a Client for the resource of
// connectionString ("endpoint=https://<resource>.communication.azure.com/;accesskey=<key>"),
// signing requests with its access key. Errors never contain the key.
func NewClientFromConnectionString(connectionString string, options *ClientOptions) (*Client, error) {
	cs, err := ParseConnectionString(connectionString)
	if err != nil {
		return nil, err
	}
	cred, err := NewKeyCredential(cs.AccessKey)
	if err != nil {
		return nil, err
	}
	return NewClientWithKeyCredential(cs.Endpoint, cred, options)
}

// NewClientWithKeyCredential returns a Client for endpoint
// ("https://<resource>.communication.azure.com") that signs requests with
// cred's access key (HMAC-SHA256). The endpoint may carry a path prefix, for
// a gateway in front of the resource.
func NewClientWithKeyCredential(endpoint string, cred *KeyCredential, options *ClientOptions) (*Client, error) {
	if cred == nil || cred.key.Load() == nil {
		return nil, fmt.Errorf("acsidentity: %w: the key credential is nil; make one with NewKeyCredential", ErrMissingArgument)
	}
	return newClient(endpoint, newHMACPolicy(cred), options)
}

// NewClient returns a Client for endpoint that authenticates with Entra ID:
// cred is any azcore.TokenCredential, such as one of the azidentity module's
// credentials (managed identity, workload identity, Azure CLI, ...). Tokens
// are requested for the scope https://communication.azure.com//.default; the
// principal needs a role on the resource that allows the Identity operations.
func NewClient(endpoint string, cred azcore.TokenCredential, options *ClientOptions) (*Client, error) {
	if cred == nil {
		return nil, fmt.Errorf("acsidentity: %w: the token credential is nil", ErrMissingArgument)
	}
	// Our transport guard runs first and allows loopback hosts, so the bearer
	// policy's own HTTPS check is switched off.
	bearer := runtime.NewBearerTokenPolicy(cred, []string{entraScope}, &policy.BearerTokenOptions{
		InsecureAllowCredentialWithHTTP: true,
	})
	c, err := newClient(endpoint, bearer, options)
	if err != nil {
		return nil, err
	}
	c.entra = true
	return c, nil
}

// newClient is where every constructor ends: one pipeline shape for every
// kind of credential. extra policies run on each try after auth (the Entra
// credential's token guard).
func newClient(endpoint string, auth policy.Policy, options *ClientOptions, extra ...policy.Policy) (*Client, error) {
	u, err := parseEndpoint(endpoint, true)
	if err != nil {
		return nil, fmt.Errorf("acsidentity: %w", err)
	}
	if options == nil {
		options = &ClientOptions{}
	}
	// Refuse now what every request would refuse (transportGuard still
	// checks each request, next links included).
	if u.Scheme != "https" && !options.InsecureAllowCredentialWithHTTP && !hostguard.IsLoopback(u.Host) {
		return nil, &insecureTransportError{host: u.Hostname()}
	}
	version := options.APIVersion
	if version == "" {
		version = DefaultAPIVersion
	}
	// The client sets api-version on every request itself (it needs the
	// version for its local checks anyway), so azcore's version policy,
	// which would parse and re-encode every query, is left out.
	azOptions := options.ClientOptions
	azOptions.APIVersion = ""
	internal, err := azcore.NewClient(moduleName, moduleVersion, runtime.PipelineOptions{
		AllowedHeaders: []string{hmacauth.DateHeader, hmacauth.ContentHashHeader, "MS-CV", "api-supported-versions", "X-Azure-Ref"},
		PerCall:        []policy.Policy{runtime.NewRequestIDPolicy()},
		PerRetry:       append([]policy.Policy{&transportGuard{allowHTTP: options.InsecureAllowCredentialWithHTTP, auth: auth}}, extra...),
		Tracing:        runtime.TracingOptions{Namespace: "Microsoft.Communication"},
	}, &azOptions)
	if err != nil {
		return nil, fmt.Errorf("acsidentity: %w", err)
	}
	return &Client{
		internal:     internal,
		endpoint:     u.String(),
		apiVersion:   version,
		versionQuery: "api-version=" + url.QueryEscape(version),
		createRetry:  createRetryOptions(options.Retry),
	}, nil
}

// APIVersion returns the api-version the client sends.
func (c *Client) APIVersion() string { return c.apiVersion }

// Endpoint returns the endpoint the client sends requests to.
func (c *Client) Endpoint() string { return c.endpoint }

// transportGuard runs the auth policy only when the request may carry a
// credential: over HTTPS, to a loopback host, or when the caller opted in to
// plain HTTP. It calls auth directly rather than as a pipeline stage, which
// saves a request copy per try.
type transportGuard struct {
	allowHTTP bool
	auth      policy.Policy
}

func (g *transportGuard) Do(req *policy.Request) (*http.Response, error) {
	if n, ok := req.Raw().Context().Value(triesKey{}).(*int); ok {
		*n++ // tries of one request are sequential
	}
	u := req.Raw().URL
	if !g.allowHTTP && !strings.EqualFold(u.Scheme, "https") && !hostguard.IsLoopback(u.Host) {
		return nil, &insecureTransportError{host: u.Hostname()}
	}
	return g.auth.Do(req)
}

// CreateUserOptions contains the optional parameters of Client.CreateUser.
type CreateUserOptions struct {
	// CustomID, when set, names the identity: the service returns the
	// identity it made for this custom ID before, or makes one. It needs
	// api-version 2025-03-02-preview. The real service does not make
	// overlapping creates with one custom ID atomic: they can each make an
	// identity, and from then on every create with that custom ID fails
	// with error code "MultipleIdentitiesForCustomId" (a public report
	// against the official JS SDK, azure-sdk-for-js issue 38531; the
	// emulator reproduces it with Options.CustomIDRaces). Do not let two
	// first creates of one custom ID overlap: tokenservice runs one at a
	// time per caller. It must be valid UTF-8 of 1 to 256
	// characters; anything else fails before any I/O with an error that
	// wraps ErrInvalidCustomID and says which rule it broke.
	CustomID string
}

// CreateUserResponse is the result of Client.CreateUser.
type CreateUserResponse struct {
	CommunicationUserDetail
}

// CommunicationUserDetail describes an identity.
type CommunicationUserDetail struct {
	// User is the identity.
	User CommunicationUserIdentifier
	// CustomID is the custom ID the identity was made with, if any
	// (api-version 2025-03-02-preview).
	CustomID string
	// LastTokenIssuedAt is when a token was last issued for the identity, or
	// the zero time if the service did not say (api-version 2025-03-02-preview).
	LastTokenIssuedAt time.Time
}

// CreateUser creates an identity. Without a custom ID every call that reaches
// the service makes a new identity, so the call is retried only when the
// service provably did not act: after 429 Too Many Requests and after a
// failure to connect. After a 5xx or a timeout it returns the error; the
// caller decides.
//
// If the operation fails it returns an *azcore.ResponseError.
func (c *Client) CreateUser(ctx context.Context, options *CreateUserOptions) (resp CreateUserResponse, err error) {
	if options == nil {
		options = &CreateUserOptions{}
	}
	if err := c.checkCustomID(options.CustomID); err != nil {
		return resp, err
	}
	body := wire.CreateRequest{CustomID: optional(options.CustomID)}
	ctx, endSpan := runtime.StartSpan(ctx, "Client.CreateUser", c.internal.Tracer(), nil)
	defer func() { endSpan(err) }()
	var out wire.AccessTokenResult
	if err := c.do(c.createContext(ctx, options.CustomID), http.MethodPost, "/identities", body, &out, http.StatusCreated, http.StatusOK); err != nil {
		return resp, err
	}
	resp.CommunicationUserDetail, err = userDetail(out.Identity)
	return resp, err
}

// CreateUserAndTokenOptions contains the optional parameters of Client.CreateUserAndToken.
type CreateUserAndTokenOptions struct {
	// TokenExpiresIn is the token's lifetime in whole minutes; zero means the
	// service default (24 hours). The service accepts 60 to 1440 minutes.
	// It needs api-version 2022-10-01 or later.
	TokenExpiresIn time.Duration
	// CustomID, as in CreateUserOptions.
	CustomID string
}

// CreateUserAndTokenResponse is the result of Client.CreateUserAndToken.
type CreateUserAndTokenResponse struct {
	CommunicationUserDetail
	AccessToken
}

// String shows the user and when the token expires, never the token.
func (r CreateUserAndTokenResponse) String() string {
	return fmt.Sprintf("{User:%s CustomID:%q ExpiresOn:%s Token:REDACTED}", r.User.ID, r.CustomID, r.ExpiresOn.Format(time.RFC3339))
}

// GoString is String, for %#v.
func (r CreateUserAndTokenResponse) GoString() string {
	return "acsidentity.CreateUserAndTokenResponse" + r.String()
}

// CreateUserAndToken creates an identity and issues it an access token with
// scopes, in one call. It is retried like CreateUser.
//
// If the operation fails it returns an *azcore.ResponseError.
func (c *Client) CreateUserAndToken(ctx context.Context, scopes []TokenScope, options *CreateUserAndTokenOptions) (resp CreateUserAndTokenResponse, err error) {
	if options == nil {
		options = &CreateUserAndTokenOptions{}
	}
	scopeNames, err := c.checkScopes(scopes)
	if err != nil {
		return resp, err
	}
	minutes, err := c.expiresInMinutes(options.TokenExpiresIn)
	if err != nil {
		return resp, err
	}
	if err := c.checkCustomID(options.CustomID); err != nil {
		return resp, err
	}
	body := wire.CreateRequest{CustomID: optional(options.CustomID), CreateTokenWithScopes: scopeNames, ExpiresInMinutes: minutes}
	ctx, endSpan := runtime.StartSpan(ctx, "Client.CreateUserAndToken", c.internal.Tracer(), nil)
	defer func() { endSpan(err) }()
	var out wire.AccessTokenResult
	if err := c.do(c.createContext(ctx, options.CustomID), http.MethodPost, "/identities", body, &out, http.StatusCreated, http.StatusOK); err != nil {
		return resp, err
	}
	if out.AccessToken == nil {
		return resp, errors.New("acsidentity: the service's response has no access token")
	}
	if resp.CommunicationUserDetail, err = userDetail(out.Identity); err != nil {
		return resp, err
	}
	resp.AccessToken, err = accessToken(*out.AccessToken)
	return resp, err
}

// GetTokenOptions contains the optional parameters of Client.GetToken.
type GetTokenOptions struct {
	// TokenExpiresIn is the token's lifetime in whole minutes; zero means the
	// service default (24 hours). The service accepts 60 to 1440 minutes.
	// It needs api-version 2022-10-01 or later.
	TokenExpiresIn time.Duration
}

// GetTokenResponse is the result of Client.GetToken.
type GetTokenResponse struct {
	AccessToken
}

// GetToken issues an access token with scopes for an existing identity. Call
// it again to refresh a user's token: the identity stays the same.
//
// If the operation fails it returns an *azcore.ResponseError.
func (c *Client) GetToken(ctx context.Context, user CommunicationUserIdentifier, scopes []TokenScope, options *GetTokenOptions) (resp GetTokenResponse, err error) {
	if options == nil {
		options = &GetTokenOptions{}
	}
	if err := checkUser(user); err != nil {
		return resp, err
	}
	scopeNames, err := c.checkScopes(scopes)
	if err != nil {
		return resp, err
	}
	minutes, err := c.expiresInMinutes(options.TokenExpiresIn)
	if err != nil {
		return resp, err
	}
	ctx, endSpan := runtime.StartSpan(ctx, "Client.GetToken", c.internal.Tracer(), nil)
	defer func() { endSpan(err) }()
	var out wire.AccessToken
	body := wire.IssueTokenRequest{Scopes: scopeNames, ExpiresInMinutes: minutes}
	if err := c.do(ctx, http.MethodPost, "/identities/"+escapeSegment(user.ID)+"/:issueAccessToken", body, &out, http.StatusOK); err != nil {
		return resp, err
	}
	resp.AccessToken, err = accessToken(out)
	return resp, err
}

// RevokeTokensOptions contains the optional parameters of Client.RevokeTokens.
// It has none yet.
type RevokeTokensOptions struct{}

// RevokeTokensResponse is the result of Client.RevokeTokens.
type RevokeTokensResponse struct{}

// RevokeTokens revokes every access token issued to user so far. The
// identity stays; new tokens can be issued.
//
// If the operation fails it returns an *azcore.ResponseError.
func (c *Client) RevokeTokens(ctx context.Context, user CommunicationUserIdentifier, options *RevokeTokensOptions) (resp RevokeTokensResponse, err error) {
	if err := checkUser(user); err != nil {
		return resp, err
	}
	ctx, endSpan := runtime.StartSpan(ctx, "Client.RevokeTokens", c.internal.Tracer(), nil)
	defer func() { endSpan(err) }()
	err = c.do(ctx, http.MethodPost, "/identities/"+escapeSegment(user.ID)+"/:revokeAccessTokens", nil, nil, http.StatusNoContent)
	return resp, err
}

// DeleteUserOptions contains the optional parameters of Client.DeleteUser.
// It has none yet.
type DeleteUserOptions struct{}

// DeleteUserResponse is the result of Client.DeleteUser.
type DeleteUserResponse struct{}

// DeleteUser deletes an identity, revokes all its tokens and deletes all its
// data. Like every operation but a create without a custom ID, it is retried
// after a failure; when a retry finds the identity already gone (an earlier
// try deleted it and then failed, or the connection dropped before its
// answer), DeleteUser succeeds: the identity is deleted either way. A 404 on
// the first try is an error: there was no such identity.
//
// If the operation fails it returns an *azcore.ResponseError.
func (c *Client) DeleteUser(ctx context.Context, user CommunicationUserIdentifier, options *DeleteUserOptions) (resp DeleteUserResponse, err error) {
	if err := checkUser(user); err != nil {
		return resp, err
	}
	ctx, endSpan := runtime.StartSpan(ctx, "Client.DeleteUser", c.internal.Tracer(), nil)
	defer func() { endSpan(err) }()
	tries := new(int)
	err = c.do(context.WithValue(ctx, triesKey{}, tries), http.MethodDelete, "/identities/"+escapeSegment(user.ID), nil, nil, http.StatusNoContent)
	var re *azcore.ResponseError
	if *tries > 1 && errors.As(err, &re) && re.StatusCode == http.StatusNotFound {
		err = nil
	}
	return resp, err
}

// triesKey marks a context whose *int counts the tries of its request.
type triesKey struct{}

// GetUserOptions contains the optional parameters of Client.GetUser.
// It has none yet.
type GetUserOptions struct{}

// GetUserResponse is the result of Client.GetUser.
type GetUserResponse struct {
	CommunicationUserDetail
}

// GetUser returns an identity's custom ID and the time a token was last
// issued to it. It needs api-version 2025-03-02-preview.
//
// If the operation fails it returns an *azcore.ResponseError.
func (c *Client) GetUser(ctx context.Context, user CommunicationUserIdentifier, options *GetUserOptions) (resp GetUserResponse, err error) {
	if err := checkUser(user); err != nil {
		return resp, err
	}
	if err := c.require(wire.FeatureGetIdentity); err != nil {
		return resp, err
	}
	ctx, endSpan := runtime.StartSpan(ctx, "Client.GetUser", c.internal.Tracer(), nil)
	defer func() { endSpan(err) }()
	var out wire.Identity
	if err := c.do(ctx, http.MethodGet, "/identities/"+escapeSegment(user.ID), nil, &out, http.StatusOK); err != nil {
		return resp, err
	}
	resp.CommunicationUserDetail, err = userDetail(out)
	return resp, err
}

// GetTokenForTeamsUserOptions contains the optional parameters of
// Client.GetTokenForTeamsUser. It has none yet.
type GetTokenForTeamsUserOptions struct{}

// GetTokenForTeamsUserResponse is the result of Client.GetTokenForTeamsUser.
type GetTokenForTeamsUserResponse struct {
	AccessToken
}

// GetTokenForTeamsUser exchanges a Teams user's Entra ID access token for an
// ACS access token, whose expiry matches the Entra token's.
// teamsUserAADToken must be issued for the Teams user to the Entra
// application clientID (its appid claim) with the scopes
// https://auth.msft.communication.azure.com/Teams.ManageCalls and
// Teams.ManageChats; userObjectID is the user's object ID (its oid claim),
// not the tenant ID. It needs api-version 2022-06-01 or later.
//
// If the operation fails it returns an *azcore.ResponseError.
func (c *Client) GetTokenForTeamsUser(ctx context.Context, teamsUserAADToken, clientID, userObjectID string, options *GetTokenForTeamsUserOptions) (resp GetTokenForTeamsUserResponse, err error) {
	if err := nonEmpty("teamsUserAADToken", teamsUserAADToken, "clientID", clientID, "userObjectID", userObjectID); err != nil {
		return resp, err
	}
	if err := c.require(wire.FeatureTeamsUserExchange); err != nil {
		return resp, err
	}
	ctx, endSpan := runtime.StartSpan(ctx, "Client.GetTokenForTeamsUser", c.internal.Tracer(), nil)
	defer func() { endSpan(err) }()
	var out wire.AccessToken
	body := wire.TeamsUserExchangeRequest{Token: teamsUserAADToken, AppID: clientID, UserID: userObjectID}
	if err := c.do(ctx, http.MethodPost, "/teamsUser/:exchangeAccessToken", body, &out, http.StatusOK); err != nil {
		return resp, err
	}
	resp.AccessToken, err = accessToken(out)
	return resp, err
}

// do sends one operation to the endpoint's path and decodes the answer; see send.
func (c *Client) do(ctx context.Context, method, path string, body, out any, ok ...int) error {
	_, err := c.send(ctx, method, c.endpoint+path, "", body, out, ok...)
	return err
}

// send sends one request: it builds it for rawURL with the client's
// api-version, marshals body (nil: none) as JSON with contentType ("":
// application/json), checks the status against ok and unmarshals the
// response into out (nil: the body is discarded). It returns the status.
func (c *Client) send(ctx context.Context, method, rawURL, contentType string, body, out any, ok ...int) (int, error) {
	req, err := runtime.NewRequest(ctx, method, rawURL)
	if err != nil {
		return 0, fmt.Errorf("acsidentity: %w", err)
	}
	if u := req.Raw().URL; u.RawQuery == "" {
		u.RawQuery = c.versionQuery
	} else { // a service-given next link: keep its query, set the version
		q := u.Query()
		q.Set("api-version", c.apiVersion)
		u.RawQuery = q.Encode()
	}
	req.Raw().Header["Accept"] = []string{"application/json"}
	if body != nil {
		if err := runtime.MarshalAsJSON(req, body); err != nil {
			return 0, fmt.Errorf("acsidentity: %w", err)
		}
		if contentType != "" {
			req.Raw().Header.Set("Content-Type", contentType)
		}
	}
	resp, err := c.internal.Pipeline().Do(req)
	if err != nil {
		return 0, err
	}
	if !runtime.HasStatusCode(resp, ok...) {
		return resp.StatusCode, runtime.NewResponseError(resp)
	}
	if out == nil || resp.StatusCode == http.StatusNoContent {
		runtime.Drain(resp)
		return resp.StatusCode, nil
	}
	// The most frequent answers by far (a token; an identity and a token)
	// are decoded without reflection.
	switch out := out.(type) {
	case *wire.AccessToken:
		var payload []byte
		if payload, err = runtime.Payload(resp); err == nil {
			*out, err = wire.DecodeAccessToken(payload)
		}
	case *wire.AccessTokenResult:
		// As runtime.UnmarshalAsJSON does: no body is no error, and an
		// error names the type.
		var payload []byte
		if payload, err = runtime.Payload(resp); err == nil && len(payload) > 0 {
			if *out, err = wire.DecodeAccessTokenResult(payload); err != nil {
				err = fmt.Errorf("unmarshalling type %T: %s", out, err)
			}
		}
	default:
		err = runtime.UnmarshalAsJSON(resp, out)
	}
	if err != nil {
		return resp.StatusCode, fmt.Errorf("acsidentity: decoding the service's response (HTTP %d): %w", resp.StatusCode, err)
	}
	return resp.StatusCode, nil
}

// createContext returns ctx with the retry rule of a create: with a custom ID
// a repeated create returns the identity the first one made, so it is
// retried as usual (a retry follows an answer or a failed connection, when
// the first try is over); without one it is
// retried only when the service provably did not act (see createRetry).
func (c *Client) createContext(ctx context.Context, customID string) context.Context {
	if customID != "" {
		return ctx
	}
	return policy.WithRetryOptions(ctx, c.createRetry)
}

// createRetryOptions returns the caller's retry options narrowed for a
// non-idempotent create: a try is retried only after 429 (the service
// refused before acting) or a failure to connect (nothing was sent), and
// then only if the caller's own rule (ShouldRetry, or StatusCodes) would
// retry it too.
func createRetryOptions(ro policy.RetryOptions) policy.RetryOptions {
	callerRule := ro.ShouldRetry
	codes := ro.StatusCodes
	ro.ShouldRetry = func(resp *http.Response, err error) bool {
		if !safeToRetryCreate(resp, err) {
			return false
		}
		switch {
		case callerRule != nil:
			return callerRule(resp, err)
		case resp != nil && codes != nil:
			return slices.Contains(codes, resp.StatusCode)
		}
		return true
	}
	return ro
}

// safeToRetryCreate reports whether a create's try provably made nothing:
// the service answered 429, or the connection was never made.
func safeToRetryCreate(resp *http.Response, err error) bool {
	if resp != nil {
		return resp.StatusCode == http.StatusTooManyRequests
	}
	var opErr *net.OpError
	return errors.As(err, &opErr) && opErr.Op == "dial"
}

// nonEmpty checks name/value pairs and names the first empty one.
func nonEmpty(pairs ...string) error {
	for i := 0; i+1 < len(pairs); i += 2 {
		if strings.TrimSpace(pairs[i+1]) == "" {
			return fmt.Errorf("acsidentity: %w: %s is empty", ErrMissingArgument, pairs[i])
		}
	}
	return nil
}

func checkUser(user CommunicationUserIdentifier) error {
	if strings.TrimSpace(user.ID) == "" {
		return fmt.Errorf("acsidentity: %w", ErrEmptyUserID)
	}
	return nil
}

// checkScopes returns the scopes as strings, after checking there is at
// least one and that the api-version has the join scopes if they are used.
// Other values go to the service, which decides.
func (c *Client) checkScopes(scopes []TokenScope) ([]string, error) {
	if len(scopes) == 0 {
		return nil, fmt.Errorf("acsidentity: %w", ErrNoScopes)
	}
	names := make([]string, len(scopes))
	for i, s := range scopes {
		if s == "" {
			return nil, fmt.Errorf("acsidentity: %w: scope %d is empty", ErrNoScopes, i)
		}
		switch s {
		case TokenScopeChatJoin, TokenScopeChatJoinLimited, TokenScopeVoIPJoin:
			if err := c.require(wire.FeatureJoinScopes); err != nil {
				return nil, err
			}
		}
		names[i] = string(s)
	}
	return names, nil
}

// expiresInMinutes converts a token lifetime to the wire's whole minutes;
// zero is "not sent".
func (c *Client) expiresInMinutes(d time.Duration) (*int, error) {
	if d == 0 {
		return nil, nil
	}
	if d < 0 || d%time.Minute != 0 || d/time.Minute > math.MaxInt32 {
		return nil, fmt.Errorf("acsidentity: %w: got %v", ErrInvalidTokenExpiresIn, d)
	}
	if err := c.require(wire.FeatureExpiresIn); err != nil {
		return nil, err
	}
	m := int(d / time.Minute)
	return &m, nil
}

// optional returns nil for "" (not sent) and &s otherwise.
func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// maxCustomIDLength is the service's limit on a custom ID, in characters.
const maxCustomIDLength = 256

// checkCustomID refuses a custom ID the service would misread: bytes that
// are not UTF-8 (JSON encoding turns each into U+FFFD, so "a\xff" and
// "a\xfe" would name one identity) or a length outside 1 to 256 characters.
// A UTF-16 surrogate, which a JavaScript client can send as a lone \ud800
// escape and the emulator refuses, cannot be in valid UTF-8: its encoding
// (ED A0 80 for U+D800, as WTF-8 writes it) is refused here like any other
// invalid bytes. "" means no custom ID.
func (c *Client) checkCustomID(customID string) error {
	if customID == "" {
		return nil
	}
	if !utf8.ValidString(customID) {
		if r, ok := encodedSurrogate(customID); ok {
			return fmt.Errorf("acsidentity: %w: it is not valid UTF-8: it holds the UTF-16 surrogate U+%04X, half of a character", ErrInvalidCustomID, r)
		}
		return fmt.Errorf("acsidentity: %w: it is not valid UTF-8", ErrInvalidCustomID)
	}
	if n := utf8.RuneCountInString(customID); n > maxCustomIDLength {
		return fmt.Errorf("acsidentity: %w: it has %d characters", ErrInvalidCustomID, n)
	}
	return c.require(wire.FeatureCustomID)
}

// encodedSurrogate finds a UTF-16 surrogate encoded as if it were a
// character (ED A0..BF 80..BF), which valid UTF-8 never holds.
func encodedSurrogate(s string) (rune, bool) {
	for i := 0; i+2 < len(s); i++ {
		if s[i] == 0xED && s[i+1]&0xE0 == 0xA0 && s[i+2]&0xC0 == 0x80 {
			return 0xD000 | rune(s[i+1]&0x3F)<<6 | rune(s[i+2]&0x3F), true
		}
	}
	return 0, false
}

// require fails when the client's api-version is one this module knows and
// it lacks f. An unknown version is the caller's choice and is not checked.
func (c *Client) require(f wire.Feature) error {
	if !wire.Known(c.apiVersion) || wire.Has(c.apiVersion, f) {
		return nil
	}
	return &APIVersionError{Feature: f.String(), APIVersion: c.apiVersion, Supported: wire.VersionsWith(f)}
}

func userDetail(id wire.Identity) (CommunicationUserDetail, error) {
	if id.ID == "" {
		return CommunicationUserDetail{}, errors.New("acsidentity: the service's response has no identity ID")
	}
	d := CommunicationUserDetail{User: CommunicationUserIdentifier{ID: id.ID}, CustomID: id.CustomID}
	if id.LastTokenIssuedAt != nil {
		d.LastTokenIssuedAt = id.LastTokenIssuedAt.Time
	}
	return d, nil
}

func accessToken(t wire.AccessToken) (AccessToken, error) {
	if t.Token == "" || t.ExpiresOn.IsZero() {
		return AccessToken{}, errors.New("acsidentity: the service's response has no token or no expiresOn")
	}
	return AccessToken{Token: t.Token, ExpiresOn: t.ExpiresOn.Time}, nil
}

// escapeSegment escapes s as one path segment the way the official SDKs do
// (encodeURIComponent): everything but the unreserved characters, so the
// colons of "8:acs:..." become %3A.
func escapeSegment(s string) string {
	const hex = "0123456789ABCDEF"
	n := 0
	for i := 0; i < len(s); i++ {
		if !unreserved(s[i]) {
			n++
		}
	}
	if n == 0 {
		return s
	}
	b := make([]byte, 0, len(s)+2*n)
	for i := 0; i < len(s); i++ {
		if c := s[i]; unreserved(c) {
			b = append(b, c)
		} else {
			b = append(b, '%', hex[c>>4], hex[c&15])
		}
	}
	return string(b)
}

func unreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~'
}
