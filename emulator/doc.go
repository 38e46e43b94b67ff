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
// (Server.Client and Server.CertPool trust it). New returns the bare
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
//   - Every operation of api-versions 2021-03-07, 2022-06-01, 2022-10-01,
//     2023-10-01, 2025-06-30 and 2025-03-02-preview, with the service's
//     paths, status codes, JSON names, the 7-digit expiresOn form, the
//     error body {"error":{"code","message","target"}} and the headers
//     MS-CV, api-supported-versions, x-ms-client-request-id (echoed) and
//     Content-Type: application/json; charset=utf-8.
//   - api-version checks: a missing version is 400 MissingApiVersionParameter;
//     an unknown version, or one that lacks the operation, is 400
//     UnsupportedApiVersion; an option the version lacks (customId before
//     the preview, the .join scopes before 2023-10-01, expiresInMinutes
//     before 2022-10-01) is 400 ValidationError. Unknown paths are 404,
//     wrong methods 405.
//   - Validation: the five scope names, non-empty scopes on issue,
//     expiresInMinutes within [60, 1440] (with the service's exact
//     message), customId of 1 to 256 characters, JSON syntax, bodies over
//     Options.MaxBodyBytes (413).
//   - HMAC verification of the method, the request URI exactly as received,
//     the Host, x-ms-date (within 15 minutes) and x-ms-content-sha256
//     (which must also equal the SHA-256 of the body). A 401 says which
//     check failed, never the expected signature or the key.
//   - Tokens are real JWTs signed with Ed25519 (header alg EdDSA with a
//     kid) with the claims skypeid, scp, csi, iat, exp, acsScope,
//     resourceId and jti. exp equals expiresOn, which is a whole second.
//     The default lifetime is 24 hours.
//   - customId creates are linearizable: the same customId always returns
//     the same live identity (201 both times). Deleting an identity frees
//     its customId.
//   - Revocation and deletion are real: tokens issued before a revoke
//     report "revoked", tokens of a deleted identity "deleted", and every
//     operation on a deleted identity answers 404 IdentityNotFound.
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
//   - In process only, Emulator.Identities lists every identity (deleted
//     ones included), so a test can check that retries made no duplicate.
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
// before its response is sent: the file is written to a temporary file in
// the same directory, synced, renamed over the old one, and the directory
// is synced. Concurrent changes share one write. The file holds the
// signing key and is created with mode 0600.
//
// After a crash (even kill -9) and a restart, every acknowledged create,
// revoke and delete is there, no token revoked before the crash is valid,
// and every token issued after the restart is valid until revoked: the
// saved token sequence is never below a saved revocation.
//
// The file is tamper-evident: format 2 is {"format":2,"sha256":...,
// "state":{...}}, with the SHA-256 of the state's bytes as written. A
// mismatch, a missing or unknown field or an unusable value (a signing key
// that is not 32 bytes, say) stops New with an error that names the file
// and what is wrong; nothing of such a file is loaded. The checksum
// catches damage and hand edits, not someone who can write the file. A
// format 1 file (no checksum) is still read, every field required, and
// saved as format 2.
//
// A symbolic link as DataFile is followed: the file it leads to is locked
// and written, so the link stays a link. Only one emulator may use a data
// file at a time; on Unix locks on <file>.lock next to the resolved file
// and on the file itself enforce it, so a second emulator is refused
// whether it names the file, a symlink to it or a hard link to it. Since
// every save replaces the file, a data file with more than one hard link
// is refused.
//
// # Hostile clients
//
// The emulator can be exposed beyond loopback (on -addr 0.0.0.0 for other
// containers, say) without a client being able to exhaust its memory. A
// request whose credentials are missing, malformed, out of the 15-minute
// date window or wrongly signed is refused before its body is read (the
// HMAC signature covers the x-ms-content-sha256 header, which is compared
// with the body once it is in). A body must arrive within
// Options.BodyTimeout (10 seconds) of the request's headers, however
// slowly it trickles in, else 408 and the connection closes; its buffer
// grows as bytes arrive rather than to the declared Content-Length; and
// the bodies being received share a budget of four times MaxBodyBytes or
// 8 MiB, whichever is more (503 with Retry-After above it). Server limits
// header reads to 10 seconds and an HTTP/2 connection to 100 concurrent
// streams.
//
// # Logging
//
// Options.Logger gets one line per request with the method, path, status,
// duration and MS-CV. Keys, tokens and the Authorization header are never
// logged.
package emulator
