package oidc

import (
	"net/http"
	"strings"
)

// BearerToken returns the bearer token of r's Authorization header
// (RFC 6750), for Verify. Without an Authorization header the error is of
// kind ErrNoToken; a header that is not "Bearer <token>", or more than one,
// is ErrInvalidToken.
func BearerToken(r *http.Request) (string, error) {
	authz := r.Header.Values("Authorization")
	if len(authz) == 0 {
		return "", &Error{Kind: ErrNoToken, Message: "A bearer token is required.", Reason: "no Authorization header"}
	}
	if len(authz) > 1 {
		return "", invalidToken("The Authorization header is malformed.", "%d Authorization headers", len(authz))
	}
	scheme, token, ok := strings.Cut(authz[0], " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
		return "", invalidToken(`The Authorization header must be "Bearer <token>".`, "scheme %s", quote(scheme))
	}
	return strings.TrimSpace(token), nil
}
