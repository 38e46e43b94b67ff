// Package emulator is a local emulator of the Azure Communication Services
// (ACS) Identity REST API, in the spirit of Azurite for Storage. It serves
// the wire protocol the official SDKs speak, so the Go SDK, the JS SDK and
// raw HTTP clients can be tested against it without an Azure resource.
//
// # Starting it
//
// In a test:
//
//	srv, err := emulator.Start(nil) // http://127.0.0.1:<free port>
//	...
//	defer srv.Close()
//	connStr := srv.ConnectionString() // endpoint=http://127.0.0.1:PORT/;accesskey=KEY
//
// StartTLS does the same over HTTPS with a self-signed certificate
// (Server.Client and Server.CertPool trust it). Listen serves on an address
// of your choice, over HTTPS if Options.TLS is set. New returns the bare
// http.Handler. The command acsidentity-emulator serves on DefaultAddr.
//
// # Credentials
//
// Requests are signed with HMAC-SHA256 and the access key, as with the
// real service. Unless Options.AccessKey says otherwise the key is the
// public DevelopmentKey and identities belong to DevelopmentResourceID.
// The development key is published in this source file: never use it for
// anything but local development.
//
// With Options.AllowBearer the emulator also accepts Microsoft Entra ID
// bearer tokens whose aud is https://communication.azure.com (with or
// without a trailing slash) and which have not expired. THE SIGNATURES OF
// ENTRA ID TOKENS ARE NOT CHECKED: any well-formed JWT with those claims is
// accepted. The same holds for the Teams user token in
// POST /teamsUser/:exchangeAccessToken, whose aud must be
// https://auth.msft.communication.azure.com and whose appid (or azp) and
// oid must match the request's appId and userId.
//
// # What is faithful
//
// Confirmed by recorded real traffic (what the real service answered while
// the official SDKs' test suites ran live; the Python recordings are
// replayed against the emulator in go test, see testdata/recorded):
//
//   - Status codes and JSON of create (201, with and without a token,
//     createTokenWithScopes and expiresInMinutes sent as null), issue token
//     (200), revoke and delete (204, no body), the Teams user exchange
//     (200), and the error body {"error":{"code","message","target"}}
//     with target left out where the service has none.
//   - Content-Type: application/json; charset=utf-8 on success bodies,
//     application/json without a charset on error bodies. MS-CV on every
//     answer, no Request-Id.
//   - expiresOn keeps its sub-second part in .NET's round-trip form with
//     the fraction's trailing zeros trimmed (2022-11-16T09:47:55.688402+00:00,
//     never .0000000); the JWT's exp is that instant's second.
//     lastTokenIssuedAt is whole seconds (2025-04-14T15:32:27+00:00).
//   - Validation with the service's codes, targets and messages:
//     expiresInMinutes outside [60, 1440] is "ExpiresInMinutes value N is
//     invalid. Value must be within the [60, 1440] interval." (target
//     ExpiresInMinutes); missing scopes on issue are "Scopes: The Scopes
//     field is required." (target Scopes) before 2023-10-01 and "Invalid
//     scopes - Scopes field is required." (target scopes) from it on.
//   - The Teams user exchange checks the token first: empty, malformed or
//     expired is 401 InvalidAccessToken "Provided access token is not
//     valid." with no target, even when userId is empty too. Then a missing
//     appId or userId is "AppId: The AppId field is required." (target
//     AppId, UserId), a malformed one "Provided AppId has invalid format."
//     (target appId, userId), and one that does not match the token "AAD
//     application is not the expected one." (appId) or "Provided AAD token
//     issued for unexpected user." (userId).
//   - An identity of another resource (8:acs:<other resource>_<id>) is 401
//     IdentityNotOwned "Provided identity doesn't belong to the resource."
//     on issue token, revoke and delete, with the key or Entra ID (and,
//     by our reading, on get).
//   - Identity paths with the colons sent as they are (Java SDK) or as %3A
//     (JS SDK) both work; the signature covers the request URI as sent.
//   - ACS tokens carry skypeid, scp, csi (issue time, epoch seconds as a
//     string), iat, exp, acsScope and resourceId.
//
// Our best reading of the spec and documentation, which no recording
// confirms or contradicts:
//
//   - An unknown identity of this resource, and any operation on a deleted
//     one, is 404 IdentityNotFound; an ID that is not 8:acs:<GUID>_... is
//     404 as well. The custom ID of a deleted identity is free again.
//   - Every operation of api-versions 2021-03-07, 2022-06-01, 2022-10-01,
//     2023-10-01, 2025-06-30 and 2025-03-02-preview, with the spec's paths,
//     status codes and JSON names; the headers api-supported-versions and
//     x-ms-client-request-id (echoed).
//   - api-version checks: a missing version is 400 MissingApiVersionParameter;
//     an unknown version, or one that lacks the operation, is 400
//     UnsupportedApiVersion; an option the version lacks (customId before
//     the preview, the .join scopes before 2023-10-01, expiresInMinutes
//     before 2022-10-01) is 400 ValidationError. Unknown paths are 404,
//     wrong methods 405.
//   - The messages and targets of other validation errors: an unknown
//     scope name, customId of 1 to 256 characters, JSON syntax and types,
//     bodies over Options.MaxBodyBytes (413), an empty scopes list at
//     2022-10-01 (answered as a missing one), an empty Teams token together
//     with a missing appId (the token is checked first).
//   - The 401 of a failed HMAC check, which names the failed check (method,
//     the request URI exactly as received, the Host, x-ms-date within 15
//     minutes, x-ms-content-sha256 equal to the SHA-256 of the body), never
//     the expected signature or the key. The real service's message is
//     terser.
//   - The expiresOn of a Teams user token equals the Entra ID token's exp
//     (a whole second; the service's has a fraction, for reasons the
//     recordings do not show).
//   - 403 for the Teams Phone extension and Entra exchanges, 429 with
//     Retry-After, 5xx: the spec's codes, with messages of our own.
//   - Tokens are real JWTs signed with Ed25519 (header alg EdDSA with a
//     kid) with a jti besides the claims above; the service signs with RSA
//     keys it does not publish. The default lifetime is 24 hours.
//   - By default customId creates are linearizable: the same customId
//     always returns the same live identity (201 both times). The real
//     service's are not; Options.CustomIDRaces reproduces that (see
//     Custom ID races below).
//   - Revocation and deletion are real: tokens issued before a revoke
//     report "revoked", tokens of a deleted identity "deleted".
//   - Teams Phone extension and Entra exchanges need a bearer caller; the
//     identity is 8:acs:<resourceId>_<tid>_<oid> and an assignment must
//     cover the caller (for Entra: its oid as a user, its tenant, or one of
//     its groups claim as a group), else 403. A non-empty clientIds list
//     must contain the caller's appid/azp. Deleting a missing assignment
//     answers 204.
//   - Throttling (Options.Throttle, off by default): the service's limits
//     per fixed 30-second window (create 1000, createUserAndToken 1000,
//     issue token 1000, delete 500, revoke 500, token exchanges 500),
//     answered with 429 and Retry-After.
//
// # Custom IDs and UTF-16 surrogates
//
// A JSON string can escape half of a UTF-16 surrogate pair on its own
// ("\ud800"); JavaScript's JSON.stringify sends such an escape for a string
// that holds a lone surrogate. Go's encoding/json reads each as U+FFFD, so
// "a\ud800", "a\udc00" and "a\ufffd" would be one custom ID and one
// identity. The emulator refuses a request body with such an escape, in any
// string, with 400 ValidationError naming the escape; U+FFFD itself, raw or
// escaped, is a valid custom ID of its own, and a surrogate pair is the
// character it encodes. We refuse rather than keep the exact code units
// because: the service is an ASP.NET Core application, and .NET's
// System.Text.Json refuses to read a lone surrogate escape into a string
// (our reading; no recording shows it); RFC 7493 (I-JSON) forbids lone
// surrogates, escaped or not; keeping them would need a JSON decoder of our
// own, a stored form other than UTF-8, and answers that Go's encoder cannot
// write; and no Go string of valid UTF-8 can hold one, so the Go SDK refuses
// such a custom ID before any I/O (ErrInvalidCustomID) and never sends one.
//
// # Custom ID races
//
// The real service does not make creates with one custom ID atomic. A
// public report against the official JS SDK 1.4.0-beta.1
// (Azure/azure-sdk-for-js issue 38531, May 2026): ten overlapping
// createUser({customId}) calls made several identities, and from then on
// every create with that custom ID failed with the error code
// MultipleIdentitiesForCustomId. By default the emulator is atomic and
// cannot show it; Options.CustomIDRaces (-custom-id-races,
// ACSIDENTITY_EMULATOR_CUSTOM_ID_RACES=true) makes it race the same way,
// so that a client's handling of it can be tested:
//
//   - A create (with or without createTokenWithScopes) that finds no live
//     identity with its custom ID waits Options.CustomIDRaceWindow
//     (-custom-id-race-window, DefaultCustomIDRaceWindow: 50 ms), holding
//     no lock, and then makes one whatever happened meanwhile. Every create
//     with that custom ID that looks it up during the wait finds none
//     either and makes its own identity, so creates sent together overlap
//     even on a busy machine. Only such a first create waits: creates with
//     other custom IDs, with a custom ID that names one identity and
//     without a custom ID never wait for it.
//   - From the moment a custom ID has two or more live identities, every
//     create with it, with or without a token, answers
//     {"error":{"code":"MultipleIdentitiesForCustomId","message":"..."}}
//     with status 409 Conflict and makes nothing. The code is the
//     service's (from the report); the status is NOT public, and 409 is our
//     assumption, as is the message. The Go SDK returns it as an
//     *azcore.ResponseError with that ErrorCode and StatusCode 409, and
//     does not retry it (azcore retries no 409).
//   - Each of those identities is an identity like any other: get (with its
//     customId), issue token, revoke and delete work on it. When deletes
//     leave exactly one live identity with the custom ID, creates with it
//     return that one again (201); when they leave none, the next create
//     makes a new one. What the real service does after such deletes is
//     not known: this is our choice.
//   - The data file keeps several identities per custom ID, and a restart
//     loads them so: creates with that custom ID still answer 409, with or
//     without CustomIDRaces, since the state rather than the option decides
//     (the option only makes new creates race). The inspection endpoints
//     and Emulator.Identities list each of them with its customId. A seed
//     entry with that custom ID is skipped, and names the oldest of them.
//
// # What is an extension
//
// These endpoints are not part of ACS. They need no authentication and
// their prefixes cannot collide with ACS paths:
//
//   - POST /.emulator/introspect with {"token":"..."} answers
//     {"status":"valid|expired|revoked|deleted|invalid","user":"8:acs:...",
//     "scopes":[...],"expiresOn":"..."} (Emulator.Introspect in process).
//   - GET /.well-known/jwks.json answers the Ed25519 signing key as an OKP
//     JWK with a kid (Emulator.PublicKey in process).
//   - GET / and GET /.emulator/health answer 200 for readiness checks.
//   - In process, Emulator.Identities lists every identity (deleted ones
//     included), so a test can check that retries made no duplicate.
//   - GET /.emulator/identities answers a page of the identities held
//     ({"value":[{"id","customId","createdOn","lastTokenIssuedOn",
//     "tokensRevokedOn","deletedOn"}],"nextLink":...}, sorted by ID; query
//     maxPageSize (1 to 1000, default 100), after and includeDeleted=true),
//     and GET /.emulator/identities/{id} one of them, deleted or not
//     (Emulator.ListIdentities and Emulator.Identity in process).
//     POST /.emulator/reset removes every identity, tombstones included,
//     custom ID and assignment, in the data file too, and answers 204
//     (Emulator.Reset); the signing keys and the token sequence stay, so no
//     token of before is valid again (they report "invalid"). A seed
//     (Options.Seed, -seed FILE, POST /.emulator/seed, Emulator.Seed:
//     {"identities":[{"customId":"alice"},{"id":"8:acs:<resource>_<unique>"}]})
//     creates known identities unless they exist, so a data file seeded at
//     every start does not grow. These endpoints answer only requests that
//     reached the emulator on a loopback address (403 InspectionNotAllowed
//     otherwise) unless Options.AllowRemoteInspection
//     (-allow-remote-inspection) is set, and pass the Host check like every
//     route.
//   - A development OpenID Connect issuer at {endpoint}/.emulator/oidc (see
//     below).
//   - Options.OpaqueTokens (-opaque-tokens) issues encrypted tokens that
//     clients cannot decode, five-part JWEs of the usual JWTs, to test
//     clients that must assume a token's lifetime. The real service's
//     encrypted form is not public; this is a stand-in.
//
// # Development OpenID Connect issuer
//
// To try a service's bearer path offline (tokenservice/oidc, the trusted
// service's TRUSTED_SERVICE_OIDC_ISSUER), the emulator is an OIDC issuer
// at {endpoint}/.emulator/oidc, its URL as the client reached the emulator
// (https with -tls): a discovery document at
// {issuer}/.well-known/openid-configuration, its RSA key at {issuer}/jwks,
// and POST {issuer}/token, which takes {"sub":"alice","aud":"api://my-app"}
// with optional "scp" (space-separated), "oid", "tid", "azp" (GUIDs) and
// "expiresInMinutes" (1 to 1440, default 60) and answers
// {"access_token":"<RS256 JWT>","token_type":"Bearer","expires_in":3600}
// (Emulator.MintOIDCToken in process). The token carries iss, sub, aud,
// iat, nbf, exp, oid (derived from sub when not given, so the same
// subject is always the same user), tid (DevelopmentTenantID when not
// given), azp and appid (DevelopmentClientID when not given), scp, ver
// 2.0 and jti. Its iss is the issuer as the token request reached the
// emulator, so ask for tokens at the address the service knows the issuer
// by (in a container network, its name there). The key is made on first
// use and kept in the data file, so
// a restarted emulator still verifies its tokens. It is a development
// issuer: it signs whatever it is asked for, for anyone who can reach it,
// and no service should trust it beyond a developer's machine or a test.
//
// Served over plain HTTP (without -tls, as an embedded emulator is), the
// issuer is an http URL on a loopback host. tokenservice/oidc fetches an
// issuer's discovery document and keys over https only, except from a
// loopback host: a loopback address cannot be reached from another
// machine, so nothing on the network can read or change those fetches,
// and the bearer tokens themselves never travel to the issuer. Any other
// host needs https (-tls, trusted through SSL_CERT_FILE or the like).
//
// The emulator accepts its own issuer's tokens as bearer credentials,
// signature checked, without AllowBearer: a token with aud
// https://communication.azure.com (and the oid and tid it always has) makes
// the Teams Phone extension and Entra ID exchanges work offline, and one
// with aud https://auth.msft.communication.azure.com the Teams user
// exchange (appId DevelopmentClientID, userId its oid). A token that names
// the issuer's key with a wrong signature is refused.
//
// Fault injection (Emulator.InjectFault, the -fault flag) answers a status
// such as 503 or 429 instead of acting, acts and then fails
// (AfterCommit), or drops the connection. Operation names are listed by
// Operations: create, get, delete, issueToken, revoke, teamsUserExchange,
// teamsExtensionExchange, teamsExtensionAssignmentGet,
// teamsExtensionAssignmentPut, teamsExtensionAssignmentDelete,
// entraExchange, entraAssignmentList, entraAssignmentPatch,
// entraAssignmentGet, entraAssignmentPut and entraAssignmentDelete.
//
// # Persistence
//
// With Options.DataFile the identities, custom IDs, assignments,
// revocations, deletions and the token signing key are saved, so tokens
// still verify after a restart. Every acknowledged change is on disk
// before its response is sent. The file is a full copy of the state
// followed by a journal, one line per change: a save appends the changes
// made since the last one and syncs the file, and concurrent changes share
// one save, so a save costs the same with a hundred identities or a
// hundred thousand. Once the journal outgrows the copy
// (Options.JournalLimit), a new copy is written in the background to a
// temporary file in the same directory, synced, renamed over the old file,
// and the directory synced; requests wait only while the state is copied
// in memory (about 25 ms at 100,000 identities). The file holds the signing
// key and is created with mode 0600.
//
// After a crash (even kill -9) and a restart, every acknowledged create,
// revoke and delete is there, no token revoked before the crash is valid,
// and every token issued after the restart is valid until revoked: every
// saved change carries the token sequence, which is never below a saved
// revocation. A crash can cut short a line appended after the journal's
// recorded end (below); that change was never acknowledged, and loading
// drops it with a warning.
//
// The file is tamper-evident. Format 4 is {"format":4,"journalEnd":...,
// "sha256":...,"state":{...}} with the SHA-256 of the state's bytes as
// written, then lines {"sha256":...,"change":{...}} whose SHA-256 chains
// each to the one before. "journalEnd" records where the journal ends: the
// file's length up to its last saved line and that line's SHA-256. A save
// appends its lines and syncs them, then rewrites journalEnd in place (a
// fixed-size field) and syncs again before anything is acknowledged, so a
// crash can leave lines past the recorded end (they load) but never a
// recorded end past the lines. A mismatch, lines cut from the journal's
// end, a missing or unknown field or an unusable value (a signing key that
// is not 32 bytes, say) stops New with an error that names the file, the
// line and what is wrong, and the remedy (restore a good copy, or remove
// the file to start with an empty state); nothing of such a file is
// loaded. The checksums catch damage, hand edits and cuts, not someone who
// rewrites the file with its checksums. Older formats are refused unless
// Options.MigrateLegacyDataFile (-migrate-data) is set, and then loaded,
// with every field required, saved as format 4 and the migration logged:
// format 1 has no checksum, so nothing could tell an edit to it (a
// revocation taken out, say) from what was saved, and formats 2 (the copy
// alone) and 3 (the copy and the journal) do not record where the journal
// ends, so a file cut or stripped back to one of them looks whole. At
// start the emulator logs, at Info, how many identities it loaded and how
// many changes it replayed.
//
// The file is read as a stream, a journal line at a time: the chain is
// checked in order while the changes are decoded in parallel batches, so a
// journal of 1,000,000 lines starts in about a second on two cores with a
// few tens of megabytes (BenchmarkOpenLongJournal). A DataFile that is not
// a regular file (a device such as /dev/zero, a FIFO, a directory) is
// refused before it is read, and so is one larger than
// Options.MaxDataFileBytes (-max-data-file, 1 GiB by default).
//
// A symbolic link as DataFile is followed: the file it leads to is locked
// and written, so the link stays a link. Only one emulator may use a data
// file at a time; on Unix locks on <file>.lock next to the resolved file
// and on the file itself enforce it, so a second emulator is refused
// whether it names the file, a symlink to it or a hard link to it. Since a
// new copy replaces the file, which would leave any other name with a stale
// copy (and its signing key) that no lock guards, a data file with more
// than one hard link is refused at start, and one that gets a second name
// while the emulator runs is no longer saved to: changes are answered 500
// and an error is logged until the other name is removed, and the lock
// stays on the file, so no emulator starts on the other name meanwhile. A
// data file removed, replaced or written to while the emulator runs is
// written anew at the next save, with a warning. In a container, mount the
// directory that holds the data file rather than the file itself: the new
// copies are renamed into place, which a file mount does not allow.
//
// # Hostile clients
//
// The emulator can be exposed beyond loopback (on -addr 0.0.0.0 for other
// containers, say) without a client being able to exhaust its memory or
// lock others out. A request whose credentials are missing, malformed, out
// of the 15-minute date window or wrongly signed is refused before its
// body is read (the HMAC signature covers the x-ms-content-sha256 header,
// which is compared with the body once it is in). A body must arrive
// within Options.BodyTimeout (10 seconds) of the request's headers, however
// slowly it trickles in, else 408 and the connection closes; its buffer
// grows as bytes arrive rather than to the declared Content-Length; and
// the bodies being received share a budget of four times MaxBodyBytes or
// 8 MiB, whichever is more (503 with Retry-After above it). The extension
// routes, which need no credentials, take bodies of at most 16 KiB from a
// budget of their own (512 KiB), so they cannot starve the API.
//
// A server made by Start or Listen caps request headers at 16 KiB (431
// above it), which must arrive within 5 seconds, as must a TLS handshake.
// Over HTTP/2 it accepts frames of at most 16 KiB, at most 100 concurrent
// streams per connection, and pings a connection that sends no frame for 4
// seconds and closes it if the answer does not come within 4 more, which
// ends a header block that stalls. It keeps at most Options.MaxConns
// connections open (-max-conns; by default half of what the open-file limit
// leaves after 64 descriptors, at most 1024: 480 under a limit of 1024); at
// the cap a new connection closes the one idle longest, or the oldest still
// sending its first request's headers after a second, so that a flood of
// idle or silent connections cannot lock out a client on a fresh one, and
// the cap being reached is logged at Warn.
//
// Whatever address it listens on (a container's :10780 too), it answers
// only requests whose Host is a loopback name (localhost, 127.0.0.0/8,
// [::1]), an IP address, the machine's host name or one of
// Options.AllowedHosts (-allow-host; ".example.test" allows a domain and
// every name under it, "*" any Host); others get 403 HostNotAllowed, so a
// web page cannot reach it through DNS rebinding even though the
// development key is public.
//
// # Logging
//
// Options.Logger gets one Info record per request with the method, path,
// status, duration and MS-CV and, from a server made by Start or Listen, the
// HTTP server's connection errors (a failed TLS handshake, say), also at
// Info. What needs the operator comes at Warn or Error: a data file
// migrated, written anew, cut short by a crash or no longer saved, and the
// connection cap reached. Keys, tokens and the Authorization header are
// never logged.
package emulator
