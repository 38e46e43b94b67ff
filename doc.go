// Package acsidentity is a client for the Azure Communication Services (ACS)
// Identity service: it creates and deletes ACS identities and issues and
// revokes the access tokens that the ACS Chat and Calling SDKs need. Use it in
// a trusted service, the backend that hands tokens to users so that the
// resource's access key never leaves the server; package
// github.com/acsgo/acsidentity/tokenservice is one, as an http.Handler your
// service mounts.
//
// # Creating a client
//
// There are three constructors, one per kind of credential. Each takes an
// optional *ClientOptions last; nil is fine.
//
//	client, err := acsidentity.NewClientFromConnectionString(os.Getenv("COMMUNICATION_SERVICES_CONNECTION_STRING"), nil)
//
//	cred, err := acsidentity.NewKeyCredential(accessKey)
//	client, err := acsidentity.NewClientWithKeyCredential("https://<resource>.communication.azure.com", cred, nil)
//
//	cred, err := azidentity.NewDefaultAzureCredential(nil) // managed identity in Azure
//	client, err := acsidentity.NewClient("https://<resource>.communication.azure.com", cred, nil)
//
// A Client is safe for concurrent use. Make one per resource and share it.
//
// # Authentication
//
// With an access key (connection string or KeyCredential) every request is
// signed with HMAC-SHA256 as the service requires: the x-ms-date, Host and
// x-ms-content-sha256 headers, over exactly the bytes that go on the wire.
// KeyCredential.Update rotates the key without making a new client. With an
// azcore.TokenCredential the client sends Entra ID bearer tokens for the scope
// https://communication.azure.com//.default; the principal needs a role on the
// resource that allows the Identity operations.
//
// Credentials are sent only over HTTPS, except to loopback hosts (the
// emulator) or when ClientOptions.InsecureAllowCredentialWithHTTP is set. The
// refusal is an error that wraps ErrInsecureTransport and is not retried.
//
// # API versions
//
// The client speaks api-version DefaultAPIVersion (2025-06-30) unless
// ClientOptions.APIVersion names another. Custom IDs and GetUser need
// 2025-03-02-preview. A method or option that the chosen version lacks fails
// before any I/O with an *APIVersionError that names the versions that have it.
//
// # Retries
//
// Requests are retried by azcore's retry policy (ClientOptions.Retry), with
// one deliberate exception: CreateUser and CreateUserAndToken without a
// custom ID make a new identity every time they reach the service, so they
// are retried only when the service provably did not act — after 429 Too Many
// Requests (honouring Retry-After) and after a failure to connect. After a 5xx
// or a timeout they return the error, and the caller decides. With a custom
// ID a create is idempotent and is retried like every other operation.
//
// # Errors
//
// A failure reported by the service is an *azcore.ResponseError whose
// ErrorCode is the service's error code ("ValidationError",
// "IdentityNotFound", ...); its message carries the service's message and
// target. Test for it with errors.As:
//
//	var re *azcore.ResponseError
//	if errors.As(err, &re) && re.StatusCode == http.StatusNotFound { ... }
//
// Wrong arguments fail before any I/O with an error that wraps one of these
// (test with errors.Is):
//
//   - ErrEmptyUserID: a CommunicationUserIdentifier has no ID.
//   - ErrNoScopes: a token was asked for with no scopes, or an empty one.
//   - ErrInvalidTokenExpiresIn: a token lifetime is negative or not whole minutes.
//   - ErrInvalidCustomID: a custom ID is not valid UTF-8 or not 1 to 256 characters.
//   - ErrMissingArgument: a required argument is empty or nil.
//   - ErrInvalidConnectionString: a connection string cannot be used.
//   - ErrInsecureTransport: a credential would go over plain HTTP to a host
//     that is not loopback (from the constructor, or for any request).
//   - ErrEntraIDRequired: an Entra ID token exchange was called on a client
//     made with an access key.
//
// A method or option that the client's api-version lacks fails with an
// *APIVersionError (test with errors.As). No error contains the access key.
//
// A CommunicationTokenCredential's errors wrap ErrInvalidToken (a token is
// neither a JWT with an exp claim nor a five-part encrypted token),
// ErrRefreshedTokenExpired (the Refresher returned an expired token) or
// ErrCredentialClosed, or are the Refresher's own; a refresher from
// NewTrustedServiceRefresher returns a *TrustedServiceError when the trusted
// service answers with an error. A credential without a Refresher returns
// its token even once it has expired, as the other SDKs' credentials do:
// compare AccessToken.ExpiresOn with the time. No error contains a token.
// NewEntraCommunicationTokenCredential refuses bad scopes with an error that
// wraps ErrInvalidEntraScopes; its GetToken returns the exchange's
// *azcore.ResponseError.
//
// # Logging
//
// The client logs through azcore's log package: install a listener with
// log.SetListener. Header values are redacted except an allow-list that
// includes x-ms-date, x-ms-content-sha256, MS-CV and x-ms-client-request-id,
// so a 401 can be debugged from the logs; Authorization is always redacted and
// the access key is never logged. If you turn on body logging
// (ClientOptions.Logging.IncludeBody), access tokens appear in the logs: do
// not do that in production.
//
// # Tracing
//
// The client traces through azcore: set ClientOptions.TracingProvider and
// every call makes a span named after its method ("Client.CreateUserAndToken",
// "Client.GetToken", ...; each page of NewListEntraAssignmentsPager is a
// "Client.NewListEntraAssignmentsPager" span), with azcore's "HTTP POST",
// "HTTP GET", ... span of each try as its child. A call that fails marks its
// spans with status Error. A call refused before any I/O makes no span.
// For OpenTelemetry, use the Azure SDK's adapter
// (github.com/Azure/azure-sdk-for-go/sdk/tracing/azotel):
//
//	options := &acsidentity.ClientOptions{}
//	options.TracingProvider = azotel.NewTracingProvider(otel.GetTracerProvider(), nil)
//	client, err := acsidentity.NewClientFromConnectionString(connStr, options)
//
// The module examples/tracing runs this against the emulator and prints the
// spans; it is a module of its own so that this one does not depend on
// OpenTelemetry.
//
// # Identifiers and user credentials
//
// For programs that act as an ACS user or handle IDs of every kind, the
// package has what the official SDKs ship as "communication-common":
// IdentifierFromRawID parses a raw ID into a CommunicationIdentifier
// (CommunicationUserIdentifier, PhoneNumberIdentifier,
// MicrosoftTeamsUserIdentifier, ...), and CommunicationTokenCredential holds
// a user's ACS token and renews it, on demand or proactively, through a
// refresher such as NewTrustedServiceRefresher. The credential behaves as
// the JS, .NET, Java and Python ones do, as their own test suites expect;
// where they differ, the doc of CommunicationTokenCredentialOptions says
// which one each rule follows and why. It passes the caller's context to
// the refresher, and accepts encrypted tokens it cannot decode with an
// assumed lifetime.
//
// # Emulator
//
// The emulator package is a local, faithful ACS Identity service, as Azurite is
// for Azure Storage: tests, examples and your own services can run with no
// Azure account. Run it with
//
//	go run github.com/acsgo/acsidentity/cmd/acsidentity-emulator
//
// and use the connection string it prints, or start it in-process with
// emulator.Start. Its tokens are real JWTs signed with the emulator's own key,
// which it serves at /.well-known/jwks.json; with emulator.Options.OpaqueTokens
// (-opaque-tokens) they are encrypted instead, so that clients can be tested
// with tokens they cannot decode.
package acsidentity
