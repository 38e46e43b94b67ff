// Package acsidentity is a client for the Azure Communication Services (ACS)
// Identity service: it creates and deletes ACS identities and issues and
// revokes the access tokens that the ACS Chat and Calling SDKs need. Use it in
// a trusted service, the backend that hands tokens to users so that the
// resource's access key never leaves the server.
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
// Wrong arguments fail before any I/O with an error that wraps one of
// ErrEmptyUserID, ErrNoScopes, ErrInvalidTokenExpiresIn or ErrMissingArgument
// (test with errors.Is), and connection strings with ErrInvalidConnectionString.
// No error contains the access key.
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
// # Identifiers and user credentials
//
// For programs that act as an ACS user or handle IDs of every kind, the
// package has what the official SDKs ship as "communication-common":
// IdentifierFromRawID parses a raw ID into a CommunicationIdentifier
// (CommunicationUserIdentifier, PhoneNumberIdentifier,
// MicrosoftTeamsUserIdentifier, ...), and CommunicationTokenCredential holds
// a user's ACS token and renews it, on demand or proactively, through a
// refresher such as NewTrustedServiceRefresher.
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
// which it serves at /.well-known/jwks.json.
package acsidentity
