// Package tokenservice is an Azure Communication Services trusted token
// endpoint as an http.Handler: a Go web service mounts it next to its own
// handlers, and its signed-in users get ACS access tokens for their own ACS
// identities, in the shape the ACS Calling and Chat SDKs' token refreshers
// read. No access key ever reaches them.
//
// # Endpoints
//
// Relative to where the Service is mounted:
//
//	GET|POST /token        a token for the caller's identity
//	POST     /token/teams  exchange a Teams user's Entra ID token for an ACS token
//	GET      /user         the caller's identity, without a token
//	DELETE   /user         revoke and delete the caller's identity
//
// Mount it with the router's own means, stating the prefix once:
//
//	mux.Handle("/acs/", svc)                     // the ServeMux pattern tells svc where it is
//	mux.Handle("/acs/", http.StripPrefix("/acs", svc))
//	r.Mount("/acs", svc)                         // chi
//
// A path it does not serve gets a 404 whose message names the paths it
// does. Paths match exactly; Options.CaseInsensitivePaths folds ASCII
// letters only, never other characters.
//
// A token answer is 200 with
//
//	{"user":{"communicationUserId":"8:acs:..."},"token":"...","expiresOn":"2026-11-28T16:00:06.1234567Z"}
//
// (the JS SDK's CommunicationUserToken; the Teams exchange has no user).
// The token request takes scopes and expiresInMinutes in the query string
// (?scopes=chat,voip&expiresInMinutes=60) or a JSON body
// ({"scopes":["chat","voip"],"expiresInMinutes":60}). Errors are
// {"error":{"code":"...","message":"..."}} with a code of the Code
// constants and a fixed message, never a library error, an ACS message or
// a token (WriteError writes the same shape). ACS's failures become answers
// a token refresher can act on: a throttled resource is 503 with
// Retry-After, a failed one 502. OpenAPI returns the OpenAPI 3.1 document
// of all of it.
//
// # How a request is answered
//
// The Service's steps (the Host check, routing, authentication, the rate
// limit) and its endpoints each return an answer or an *Error; ServeHTTP
// alone writes it, and the request's one log line.
//
// # Callers
//
// Options.Authenticate decides who is calling, with the app's own sign-in,
// and returns a Caller; package
// github.com/acsgo/acsidentity/tokenservice/oidc checks bearer tokens of
// Entra ID or any OpenID Connect issuer. The same Caller.ID always gets
// the same ACS identity, on any instance. Caller.EntraObjectID lets the
// Teams exchange check that a caller exchanges their own Teams token.
//
// # Identities
//
// Where the mapping from caller to ACS identity lives is the Service's
// choice of two:
//
//   - With Options.Identities (an IdentityStore: package redisstore,
//     sqlstore, or NewMemoryIdentityStore for one instance), the store
//     keeps it. A caller's first token request makes an identity without a
//     custom ID and records it, with a put-if-absent: of two instances that
//     race, the one that loses deletes the identity it made and uses the
//     winner's. Any api-version works, GA included.
//   - Without one, ACS keeps it: Caller.ID becomes the custom ID of the
//     caller's identity (hashed, see Options.CustomIDKey), which needs
//     api-version 2025-03-02-preview. The real service does not make
//     creates with one custom ID atomic: overlapping creates on several
//     instances can make several identities, and ACS then refuses that
//     custom ID (MultipleIdentitiesForCustomId). The Service then moves the
//     caller to the next custom ID of a fixed sequence made from the same
//     caller, so every instance agrees again; the caller's identity changes
//     once, and the move is logged at Error. A store avoids all of it.
//
// Either way, each instance remembers the identities of callers it has
// seen (up to 100,000, for an hour) and makes at most one lookup or create
// per caller at a time: a known caller's token is one ACS GetToken call.
// An identity that ACS no longer has (404 on the token) is forgotten and
// replaced by a new one, so a DELETE on another instance, or a crash
// between deleting an identity and forgetting its record, cannot strand a
// caller. After a DELETE of the user, the caller's next token is for a new
// identity. A store that fails, or does not answer within 5 seconds, gets
// 503 IdentityStoreUnavailable with Retry-After, never a token.
//
// Anonymous callers (Options.AllowAnonymous) have nothing to key an
// identity on: each call is for a new one, as in the official quickstart.
// With an emulator on a loopback address, Options.DevelopmentCallers lets
// an anonymous caller name a lasting development identity in the
// X-Caller-Id header; those identities are apart from Authenticate's
// callers. New refuses to hand tokens of a real resource to
// unauthenticated callers unless AllowAnonymous says so
// (ErrAuthenticateRequired).
//
// # Browsers
//
// The Service sends no CORS headers. Browser apps on other origins need a
// CORS layer in front: NewCORS (on github.com/rs/cors, with the origins
// listed, never "*"), or the app's own, or the platform's.
//
// # Many instances
//
// Instances that share an IdentityStore (or, without one, the ACS
// resource's custom IDs) give each caller one identity. The rate limit is
// per instance unless they share it: the default RateLimiter counts in
// memory, so N instances allow N times the rate; give them one
// RateLimiter over a shared store (redisstore.NewRateLimiter). The
// identity cache stays per instance; it needs no sharing.
//
// # Logging
//
// Each request is one log line (Options.Logger), at Info, or Warn and Error
// when ACS throttles or fails, with the method, path, status, duration, a
// short non-reversible caller ID, the ACS identity and what went wrong.
// Tokens, keys, query strings (the Azure Functions key may be there) and
// bodies are never logged, and what comes from the caller is shortened.
package tokenservice
