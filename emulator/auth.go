package emulator

import (
	"bytes"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/acsgo/acsidentity/internal/hmacauth"
)

// CommunicationAudience is the aud an Entra ID token must carry for the
// emulator to accept it as a caller credential (with or without a trailing
// slash).
const CommunicationAudience = "https://communication.azure.com"

// TeamsUserAudience is the aud the Teams user's Entra ID token must carry in
// the Teams user token exchange.
const TeamsUserAudience = "https://auth.msft.communication.azure.com"

// deny answers 401 with the reason the request was refused. The reason
// never contains the key or the expected signature.
func (c *call) deny(reason string) bool {
	if c.body == nil {
		c.abandonBody()
	}
	c.w.Header()["Www-Authenticate"] = []string{`HMAC-SHA256, Bearer`}
	c.fail(http.StatusUnauthorized, "Denied", "Denied by the resource provider: "+reason, "")
	return false
}

// authenticate verifies the HMAC signature or, if allowed, the bearer token.
// It needs no body: the signature covers the x-ms-content-sha256 header,
// and checkContentHash compares that header with the body once it is read.
// So a request without valid credentials is refused before the emulator
// reads, or holds, a byte of its body.
func (c *call) authenticate() bool {
	r := c.r
	authz := r.Header.Get("Authorization")
	if authz == "" {
		return c.deny("the Authorization header is missing.")
	}
	if len(authz) > 7 && strings.EqualFold(authz[:7], "Bearer ") {
		return c.authenticateBearer(strings.TrimSpace(authz[7:]))
	}
	date := r.Header.Get(hmacauth.DateHeader)
	if date == "" {
		return c.deny("the x-ms-date header is missing.")
	}
	t, err := http.ParseTime(date)
	if err != nil {
		return c.deny("the x-ms-date header is not an RFC 1123 date such as 'Mon, 02 Jan 2006 15:04:05 GMT'.")
	}
	now := c.e.now()
	if d := now.Sub(t); d > maxClockSkew || d < -maxClockSkew {
		return c.deny("the x-ms-date header is more than 15 minutes away from the service's clock (" + now.UTC().Format(http.TimeFormat) + ").")
	}
	claimed := r.Header.Get(hmacauth.ContentHashHeader)
	if claimed == "" {
		return c.deny("the x-ms-content-sha256 header is missing.")
	}
	sig, err := hmacauth.ParseAuthorization(authz)
	if err != nil {
		return c.deny("the Authorization header is not of the form 'HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature=<base64>' (or 'Bearer <token>').")
	}
	uri := r.RequestURI
	if !strings.HasPrefix(uri, "/") {
		uri = r.URL.RequestURI()
	}
	if c.signatureMatches(sig, r.Method, uri, date, r.Host, claimed) {
		return true
	}
	if alt, ok := altHost(r); ok && c.signatureMatches(sig, r.Method, uri, date, alt, claimed) {
		return true
	}
	return c.deny("the HMAC signature does not match the string to sign " + strconv.Quote(hmacauth.StringToSign(r.Method, uri, date, r.Host, claimed)) + "; check the access key, the signed host and the path and query as sent.")
}

// checkContentHash verifies, for an HMAC-signed request, that the signed
// x-ms-content-sha256 header is the SHA-256 of the body as received.
func (c *call) checkContentHash() bool {
	if c.bearer != nil {
		return true
	}
	if hmacauth.ContentHashMatches(c.body, c.r.Header.Get(hmacauth.ContentHashHeader)) {
		return true
	}
	return c.deny("the x-ms-content-sha256 header does not match the SHA-256 of the request body.")
}

func (c *call) signatureMatches(sig, method, uri, date, host, hash string) bool {
	want := c.e.key.Signature(method, uri, date, host, hash)
	return subtle.ConstantTimeCompare([]byte(want), []byte(sig)) == 1
}

// altHost is the Host with the scheme's default port dropped, for clients
// that send ":80"/":443" but sign without it.
func altHost(r *http.Request) (string, bool) {
	h := r.Host
	def := ":80"
	if r.TLS != nil {
		def = ":443"
	}
	if strings.HasSuffix(h, def) {
		return strings.TrimSuffix(h, def), true
	}
	return "", false
}

// bearerClaims are the Entra ID token claims the emulator reads.
type bearerClaims struct {
	Aud    audience `json:"aud"`
	Exp    *float64 `json:"exp"`
	Nbf    *float64 `json:"nbf"`
	OID    string   `json:"oid"`
	TID    string   `json:"tid"`
	AppID  string   `json:"appid"`
	AZP    string   `json:"azp"`
	Groups []string `json:"groups"`
}

// clientID is the calling application: appid (v1 tokens) or azp (v2).
func (b *bearerClaims) clientID() string {
	if b.AppID != "" {
		return b.AppID
	}
	return b.AZP
}

// expiry is exp in whole seconds, rounded down: the emulator's tokens
// expire on a whole second, and one issued until a token's exp must not
// expire before it is issued. An exp within the current second has passed.
func (b *bearerClaims) expiry() time.Time {
	if b.Exp == nil {
		return time.Time{}
	}
	return numericDate(*b.Exp)
}

// maxNumericDate is 9999-12-31T23:59:59Z, the last second that the
// service's date-time form (four-digit years) can express.
const maxNumericDate = 253402300799

// numericDate converts a JWT NumericDate to a time in whole seconds
// (rounded down), clamped to 1970 through 9999 so that no later arithmetic
// overflows and every expiresOn made from it is a valid RFC 3339 date.
func numericDate(f float64) time.Time {
	return time.Unix(int64(max(0, min(math.Floor(f), maxNumericDate))), 0)
}

// audience is a JWT aud: a string or an array of strings.
type audience []string

func (a *audience) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '[' {
		var s []string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*a = s
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	*a = audience{s}
	return nil
}

func (a audience) has(want string) bool {
	for _, v := range a {
		if strings.TrimSuffix(v, "/") == want {
			return true
		}
	}
	return false
}

var errNotJWT = errors.New("the token is not a JWT")

// decodeJWT decodes a JWT's payload without checking its signature.
func decodeJWT(token string) (*bearerClaims, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, errNotJWT
	}
	payload, err := decodeSegment(parts[1])
	if err != nil {
		return nil, errNotJWT
	}
	var cl bearerClaims
	if err := json.Unmarshal(payload, &cl); err != nil {
		return nil, errNotJWT
	}
	return &cl, nil
}

// decodeSegment accepts base64url and standard base64, padded or not.
func decodeSegment(s string) ([]byte, error) {
	s = strings.TrimRight(s, "=")
	if b, err := base64.RawURLEncoding.DecodeString(s); err == nil {
		return b, nil
	}
	return base64.RawStdEncoding.DecodeString(s)
}

// authenticateBearer accepts an Entra ID token by its claims alone.
func (c *call) authenticateBearer(token string) bool {
	// A token of the emulator's own OIDC issuer is checked, and accepted
	// without AllowBearer: the emulator signed it.
	if k := c.e.issuerKeyNow(); k != nil {
		if _, mine, ok := k.verify(token); mine && !ok {
			return c.deny("the bearer token names the key of the emulator's OIDC issuer but its signature does not match.")
		} else if mine {
			return c.acceptBearer(token)
		}
	}
	if !c.e.allowBearer {
		return c.deny("bearer (Microsoft Entra ID) authentication is not enabled on this emulator; start it with AllowBearer (-allow-bearer) or sign the request with the access key.")
	}
	return c.acceptBearer(token)
}

// acceptBearer accepts a bearer token whose claims are right; its
// signature is checked, or not, by the caller.
func (c *call) acceptBearer(token string) bool {
	cl, err := decodeJWT(token)
	if err != nil {
		return c.deny("the bearer token is not a JWT with a JSON payload.")
	}
	if !cl.Aud.has(CommunicationAudience) {
		return c.deny("the bearer token's audience (aud) is not " + CommunicationAudience + "; request it with the scope https://communication.azure.com//.default.")
	}
	now := c.e.now()
	if cl.Exp == nil {
		return c.deny("the bearer token has no expiry (exp).")
	}
	if !now.Before(cl.expiry()) {
		return c.deny("the bearer token has expired.")
	}
	if cl.Nbf != nil && now.Add(5*time.Minute).Before(numericDate(*cl.Nbf)) {
		return c.deny("the bearer token is not valid yet (nbf).")
	}
	c.bearer = cl
	return true
}
