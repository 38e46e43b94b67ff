package tokenservice

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net"
	"net/http"
	"net/netip"
)

// Caller is who is calling, as Options.Authenticate found out.
type Caller struct {
	// ID names the caller in the app's own terms (a user ID, a session's
	// user name, an issuer and subject). The same ID always gets the same
	// ACS identity, on every instance of the service (its hash keys the
	// caller's record in Options.Identities, or without a store becomes
	// the identity's custom ID in ACS; see Options.CustomIDKey), and
	// different IDs never share one. Required.
	ID string
	// EntraObjectID is the Entra ID object ID (oid) of the signed-in user,
	// when Authenticate verified an Entra ID token; empty otherwise. The
	// Teams exchange then uses it when the body has no userId, and refuses
	// any other (403), so that a caller can exchange only their own Teams
	// token, without checking the caller's credentials a second time.
	EntraObjectID string
}

// DevCallerHeader is the header in which, with Options.DevelopmentCallers,
// an anonymous caller names a lasting development identity.
const DevCallerHeader = "X-Caller-Id"

// maxDevCallerID bounds the X-Caller-Id value.
const maxDevCallerID = 128

// CustomIDPrefix starts the custom ID of every identity the service makes
// for a caller of Options.Authenticate, so its identities are recognisable
// in a resource that other apps share, and a future change of scheme can
// use another prefix. Development callers' identities start with
// devCustomIDPrefix instead: the two namespaces cannot meet, whatever IDs
// Authenticate returns.
const CustomIDPrefix = "trusted-service.v1."

// devCustomIDPrefix starts the custom IDs of development callers
// (X-Caller-Id).
const devCustomIDPrefix = "trusted-service.dev.v1."

// Kinds of callers, for the log.
const (
	kindAuthenticated = "authenticated"
	kindDevelopment   = "development"
	kindAnonymous     = "anonymous"
)

// caller is who is asking, as far as the service can tell.
type caller struct {
	// kind is kindAuthenticated, kindDevelopment or kindAnonymous.
	kind string
	// customID is the ACS custom ID of the caller's identity. Empty means
	// the caller has no lasting identity: every token is for a new one.
	customID string
	// entraObjectID is Caller.EntraObjectID.
	entraObjectID string
	// rateKey names the caller's allowance in the rate limiter.
	rateKey string
	// logID is a short, non-reversible name of the caller for logs.
	logID string
}

// authenticatedCaller is the caller that Authenticate returned. The
// custom ID is the one the first version of the service made from the
// same caller ID, so callers keep their identities.
func authenticatedCaller(c Caller, key []byte) caller {
	id := customID(CustomIDPrefix, c.ID, key)
	return caller{kind: kindAuthenticated, customID: id, entraObjectID: c.EntraObjectID, rateKey: "caller:" + id, logID: logID(id)}
}

// developmentCaller is an anonymous caller who named a development
// identity in X-Caller-Id. Its allowance is the client address's, as for
// any anonymous caller: a header the caller chooses must not buy a fresh
// one.
func developmentCaller(r *http.Request, name string, key []byte) caller {
	id := customID(devCustomIDPrefix, name, key)
	return caller{kind: kindDevelopment, customID: id, rateKey: anonymousRateKey(r), logID: logID(id)}
}

// anonymousCaller has no lasting identity.
func anonymousCaller(r *http.Request) caller {
	return caller{kind: kindAnonymous, rateKey: anonymousRateKey(r), logID: kindAnonymous}
}

// validDevCallerID reports whether v may name a development identity: 1
// to 128 printable ASCII characters.
func validDevCallerID(v string) bool {
	if v == "" || len(v) > maxDevCallerID {
		return false
	}
	for i := 0; i < len(v); i++ {
		if v[i] < 0x21 || v[i] > 0x7e {
			return false
		}
	}
	return true
}

// anonymousRateKey is the allowance of an anonymous caller: its client
// address, or for IPv6 its /64 (one client, a home or a cloud VM, usually
// holds a whole /64: its 2^64 addresses must not be 2^64 allowances).
// Behind the Functions host every request comes from the host's loopback
// address, so all anonymous callers share one: that is the safe
// direction. X-Forwarded-For is not used; a client can forge it.
func anonymousRateKey(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	if a, err := netip.ParseAddr(host); err == nil {
		a = a.Unmap()
		if a.Is6() {
			p, _ := a.WithZone("").Prefix(64)
			return "anonymous:" + p.String()
		}
		return "anonymous:" + a.String()
	}
	return "anonymous:" + host
}

// customID turns a caller ID into an ACS custom ID: prefix and a base64url
// SHA-256 (or HMAC-SHA256 with Options.CustomIDKey) of it. It is 62
// characters, well under ACS's 256, and shows nothing about the caller to
// anyone who can list the resource's identities; with the key, not even to
// someone who can guess the caller ID.
func customID(prefix, callerID string, key []byte) string {
	var sum [sha256.Size]byte
	if len(key) > 0 {
		m := hmac.New(sha256.New, key)
		m.Write([]byte(callerID))
		m.Sum(sum[:0])
	} else {
		sum = sha256.Sum256([]byte(callerID))
	}
	b := make([]byte, len(prefix), len(prefix)+base64.RawURLEncoding.EncodedLen(len(sum)))
	copy(b, prefix)
	return string(base64.RawURLEncoding.AppendEncode(b, sum[:]))
}

// logID shortens a custom ID to a name for logs that correlates a caller's
// requests without identifying them.
func logID(customID string) string {
	s := sha256.Sum256([]byte(customID))
	return base64.RawURLEncoding.EncodeToString(s[:6])
}
