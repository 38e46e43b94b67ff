package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net"
	"net/http"
	"strings"
)

// devCallerHeader names the header that, with the embedded emulator only,
// gives an anonymous caller a lasting identity. See authenticator.
const devCallerHeader = "X-Caller-Id"

// maxDevCallerID bounds the X-Caller-Id value.
const maxDevCallerID = 128

// customIDPrefix starts every custom ID the service makes, so its
// identities are recognisable in a resource that other apps share, and a
// future change of scheme can use another prefix.
const customIDPrefix = "trusted-service.v1."

// caller is who is asking, as far as the service can tell.
type caller struct {
	// kind is "oidc", "dev" (emulator + X-Caller-Id) or "anonymous".
	kind string
	// customID is the ACS custom ID of the caller's identity. Empty means
	// the caller has no lasting identity: every token is for a new one.
	customID string
	// rateKey is the caller's token bucket.
	rateKey string
	// objectID is the Entra ID object ID (oid) of an OIDC caller, if any.
	objectID string
	// logID is a short, non-reversible name of the caller for logs.
	logID string
}

// authenticator decides who a request is from.
//
// A caller with a valid bearer token (OIDC / Entra ID) is identified by the
// token's issuer and subject, which no one else can claim: the caller keeps
// one ACS identity across calls.
//
// An anonymous caller (no Authorization header, allowed only with the
// embedded emulator or TRUSTED_SERVICE_ALLOW_ANONYMOUS=true) has nothing we
// can verify. Keying an identity on anything the caller sends, such as a
// header, would let anyone who learns or guesses the value get tokens for
// someone else's ACS identity and read their chats. So an anonymous caller
// gets a new, ephemeral identity on every call, like the official
// quickstart. The one exception is the embedded emulator, where nothing real
// is at stake: there an X-Caller-Id header names a lasting development
// identity, so the stable-identity flow (and DELETE /api/user) can be tried
// without an identity provider.
type authenticator struct {
	validator      *validator // nil: no bearer tokens accepted
	allowAnonymous bool
	devCallers     bool // honour X-Caller-Id (embedded emulator only)
	customIDKey    []byte
}

// authenticate returns the caller of r, or an *authError.
func (a *authenticator) authenticate(ctx context.Context, r *http.Request) (*caller, error) {
	authz := r.Header.Values("Authorization")
	if len(authz) == 0 {
		if !a.allowAnonymous {
			return nil, &authError{message: "A bearer token is required.", detail: "no Authorization header"}
		}
		return a.anonymous(r)
	}
	if len(authz) > 1 {
		return nil, invalidToken("The Authorization header is malformed.", "%d Authorization headers", len(authz))
	}
	scheme, token, ok := strings.Cut(authz[0], " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
		return nil, invalidToken("The Authorization header must be \"Bearer <token>\".", "scheme %q", scheme)
	}
	if a.validator == nil {
		return nil, invalidToken("This service does not accept bearer tokens.", "no OIDC configuration")
	}
	c, err := a.validator.validate(ctx, strings.TrimSpace(token))
	if err != nil {
		return nil, err
	}
	id := a.derive("oidc", c.Issuer, c.Subject)
	return &caller{kind: "oidc", customID: id, rateKey: id, objectID: c.ObjectID, logID: logID(id)}, nil
}

func (a *authenticator) anonymous(r *http.Request) (*caller, error) {
	if v := r.Header.Get(devCallerHeader); v != "" && a.devCallers {
		if len(v) > maxDevCallerID || strings.ContainsFunc(v, func(c rune) bool { return c < 0x21 || c > 0x7e }) {
			return nil, &authError{message: devCallerHeader + " must be 1 to 128 printable ASCII characters.", detail: "bad " + devCallerHeader, badRequest: true}
		}
		id := a.derive("dev", "", v)
		// The bucket is the client address's, as for any anonymous
		// caller: a header the caller chooses must not buy a fresh one.
		return &caller{kind: "dev", customID: id, rateKey: anonymousRateKey(r), logID: logID(id)}, nil
	}
	return &caller{kind: "anonymous", rateKey: anonymousRateKey(r), logID: "anonymous"}, nil
}

// anonymousRateKey is the token bucket of an anonymous caller: its client
// address. Behind the Functions host every request comes from the host's
// loopback address, so all anonymous callers share one bucket: that is the
// safe direction. X-Forwarded-For is not used; a client can forge it.
func anonymousRateKey(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	return "anonymous:" + host
}

// derive turns a caller's verified identity into an ACS custom ID: a
// prefix and a base64url SHA-256 (or HMAC-SHA256 with
// TRUSTED_SERVICE_CUSTOM_ID_KEY) of kind, issuer and subject. It is 62
// characters, well under the service's 256, and shows nothing about the
// caller to anyone who can list the resource's identities; with the key, not
// even to someone who can guess the subject.
func (a *authenticator) derive(kind, issuer, subject string) string {
	msg := kind + "\x00" + issuer + "\x00" + subject
	var sum []byte
	if a.customIDKey != nil {
		m := hmac.New(sha256.New, a.customIDKey)
		m.Write([]byte(msg))
		sum = m.Sum(nil)
	} else {
		s := sha256.Sum256([]byte(msg))
		sum = s[:]
	}
	return customIDPrefix + base64.RawURLEncoding.EncodeToString(sum)
}

// logID shortens a custom ID to a name for logs that correlates a caller's
// requests without identifying them.
func logID(customID string) string {
	s := sha256.Sum256([]byte(customID))
	return base64.RawURLEncoding.EncodeToString(s[:6])
}
