package emulator

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The development OpenID Connect issuer. It signs, with RS256, a token for
// whatever subject and audience it is asked for: it is for trying a
// service's bearer path offline, never for anything real. Anyone who can
// reach the emulator can get a token from it.
const (
	// OIDCIssuerPath is where the issuer lives under the emulator's
	// endpoint: the issuer of a server at https://127.0.0.1:10780 is
	// https://127.0.0.1:10780/.emulator/oidc. Its discovery document is
	// at {issuer}/.well-known/openid-configuration, its keys at
	// {issuer}/jwks and its token endpoint at {issuer}/token.
	OIDCIssuerPath = "/.emulator/oidc"

	// DevelopmentTenantID is the tid of the issuer's tokens when the
	// token request names none.
	DevelopmentTenantID = "72f988bf-0000-4000-8000-00000000e1e1"
	// DevelopmentClientID is the azp and appid of the issuer's tokens
	// when the token request names none: the calling application, as an
	// assignment's clientIds and the Teams user exchange's appId see it.
	DevelopmentClientID = "0cd10c4b-0000-4000-8000-00000000a99d"

	// defaultOIDCMinutes and maxOIDCMinutes bound expiresInMinutes.
	defaultOIDCMinutes = 60
	maxOIDCMinutes     = 24 * 60
	oidcKeyBits        = 2048
)

// OIDCTokenRequest asks the development issuer for a token
// (POST {issuer}/token takes it as JSON).
type OIDCTokenRequest struct {
	// Subject is the sub claim; required.
	Subject string `json:"sub"`
	// Audience is the aud claim; required. A service that checks bearer
	// tokens expects its own, such as api://my-app;
	// https://communication.azure.com makes a token the emulator accepts
	// as a caller credential (the Entra ID exchange, say), and
	// https://auth.msft.communication.azure.com one for the Teams user
	// exchange.
	Audience string `json:"aud"`
	// Scope is the scp claim (space-separated scopes), omitted if empty.
	Scope string `json:"scp,omitempty"`
	// ObjectID is the oid claim, a GUID. Empty means one derived from
	// Subject, so the same subject always has the same object ID.
	ObjectID string `json:"oid,omitempty"`
	// TenantID is the tid claim, a GUID. Empty means DevelopmentTenantID.
	TenantID string `json:"tid,omitempty"`
	// ClientID is the azp and appid claims, a GUID. Empty means
	// DevelopmentClientID.
	ClientID string `json:"azp,omitempty"`
	// ExpiresInMinutes is the token's lifetime, 1 to 1440. 0 means 60.
	ExpiresInMinutes int `json:"expiresInMinutes,omitempty"`
}

// OIDCToken is the issuer's answer.
type OIDCToken struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int    `json:"expires_in"`
}

// issuerKey is the issuer's RSA key, made on first use and kept with the
// rest of the state (so a restarted emulator's JWKS still verifies the
// tokens it signed before).
type issuerKey struct {
	priv   *rsa.PrivateKey
	der    []byte // PKCS #8, as saved
	kid    string
	header string // base64url of the JOSE header, with the trailing '.'
}

func newIssuerKey(der []byte) (*issuerKey, error) {
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("the OIDC issuer's signing key is not a PKCS #8 key: %w", err)
	}
	priv, ok := k.(*rsa.PrivateKey)
	if !ok || priv.N.BitLen() < oidcKeyBits {
		return nil, errors.New("the OIDC issuer's signing key is not an RSA key of 2048 bits or more")
	}
	ik := &issuerKey{priv: priv, der: der}
	// kid is the RFC 7638 thumbprint.
	sum := sha256.Sum256([]byte(`{"e":"` + b64(big.NewInt(int64(priv.E)).Bytes()) + `","kty":"RSA","n":"` + b64(priv.N.Bytes()) + `"}`))
	ik.kid = b64(sum[:])
	ik.header = b64([]byte(`{"alg":"RS256","typ":"JWT","kid":"`+ik.kid+`"}`)) + "."
	return ik, nil
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// jwk is the public key as a JWK.
func (k *issuerKey) jwk() map[string]string {
	return map[string]string{
		"kty": "RSA", "use": "sig", "alg": "RS256", "kid": k.kid,
		"n": b64(k.priv.N.Bytes()), "e": b64(big.NewInt(int64(k.priv.E)).Bytes()),
	}
}

func (k *issuerKey) sign(claims []byte) (string, error) {
	in := k.header + b64(claims)
	sum := sha256.Sum256([]byte(in))
	sig, err := rsa.SignPKCS1v15(nil, k.priv, crypto.SHA256, sum[:])
	if err != nil {
		return "", err
	}
	return in + "." + b64(sig), nil
}

// verify reports whether token carries this key's kid and a valid
// signature by it, and returns its payload.
func (k *issuerKey) verify(token string) (payload []byte, mine bool, ok bool) {
	head, rest, found := strings.Cut(token, ".")
	if !found || subtle.ConstantTimeCompare([]byte(head+"."), []byte(k.header)) != 1 {
		return nil, false, false
	}
	body, sig, found := strings.Cut(rest, ".")
	if !found {
		return nil, true, false
	}
	rawSig, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil {
		return nil, true, false
	}
	sum := sha256.Sum256([]byte(head + "." + body))
	if rsa.VerifyPKCS1v15(&k.priv.PublicKey, crypto.SHA256, sum[:], rawSig) != nil {
		return nil, true, false
	}
	payload, err = base64.RawURLEncoding.DecodeString(body)
	return payload, true, err == nil
}

// issuer holds the issuer's key once it is made.
type issuer struct {
	mu  sync.Mutex                // held while the key is made
	key atomic.Pointer[issuerKey] // set once, under mu and the store's assignment lock
}

// issuerKeyNow returns the key if one exists (for checking bearer
// tokens), without waiting for one being made.
func (e *Emulator) issuerKeyNow() *issuerKey { return e.issuer.key.Load() }

// issuerSigningKey returns the issuer's key, making it (and saving it
// with the state, which the caller then commits) on first use.
func (e *Emulator) issuerSigningKey() (*issuerKey, error) {
	if k := e.issuer.key.Load(); k != nil {
		return k, nil
	}
	e.issuer.mu.Lock()
	defer e.issuer.mu.Unlock()
	if k := e.issuer.key.Load(); k != nil {
		return k, nil
	}
	priv, err := rsa.GenerateKey(rand.Reader, oidcKeyBits)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, err
	}
	k, err := newIssuerKey(der)
	if err != nil {
		return nil, err
	}
	e.store.setIssuerKey(der, func() { e.issuer.key.Store(k) })
	return k, nil
}

// MintOIDCToken signs a token as the development issuer issuerURL (the
// server's URL followed by OIDCIssuerPath) would; it is what
// POST {issuer}/token answers. Its errors name the field that is wrong.
func (e *Emulator) MintOIDCToken(issuerURL string, req OIDCTokenRequest) (OIDCToken, error) {
	claims, life, err := e.oidcClaims(issuerURL, &req)
	if err != nil {
		return OIDCToken{}, fmt.Errorf("emulator: %w", err)
	}
	return e.signOIDC(claims, life)
}

// signOIDC signs claims with the issuer's key, made and saved first if
// need be.
func (e *Emulator) signOIDC(claims []byte, life time.Duration) (OIDCToken, error) {
	k, err := e.issuerSigningKey()
	if err != nil {
		return OIDCToken{}, err
	}
	if e.persist != nil {
		if err := e.persist.Sync(); err != nil {
			return OIDCToken{}, fmt.Errorf("emulator: saving the OIDC issuer's key: %w", err)
		}
	}
	tok, err := k.sign(claims)
	if err != nil {
		return OIDCToken{}, err
	}
	return OIDCToken{AccessToken: tok, TokenType: "Bearer", ExpiresIn: int(life / time.Second)}, nil
}

// oidcClaims validates req and returns the token's claims and lifetime.
func (e *Emulator) oidcClaims(issuerURL string, req *OIDCTokenRequest) ([]byte, time.Duration, error) {
	switch {
	case strings.TrimSpace(req.Subject) == "":
		return nil, 0, errors.New(`"sub" is required: the subject the token is for, such as "alice"`)
	case strings.TrimSpace(req.Audience) == "":
		return nil, 0, errors.New(`"aud" is required: the audience the service checks, such as "api://my-app"`)
	case req.ExpiresInMinutes < 0 || req.ExpiresInMinutes > maxOIDCMinutes:
		return nil, 0, fmt.Errorf(`"expiresInMinutes" is %d, want 1 to %d (0 or absent means %d)`, req.ExpiresInMinutes, maxOIDCMinutes, defaultOIDCMinutes)
	}
	for _, f := range []struct{ name, v string }{{"oid", req.ObjectID}, {"tid", req.TenantID}, {"azp", req.ClientID}} {
		if f.v != "" && !isGUID(f.v) {
			return nil, 0, fmt.Errorf("%q is %q, which is not a GUID", f.name, f.v)
		}
	}
	oid, tid, azp := strings.ToLower(req.ObjectID), strings.ToLower(req.TenantID), strings.ToLower(req.ClientID)
	if oid == "" {
		oid = subjectGUID(req.Subject)
	}
	if tid == "" {
		tid = DevelopmentTenantID
	}
	if azp == "" {
		azp = DevelopmentClientID
	}
	minutes := req.ExpiresInMinutes
	if minutes == 0 {
		minutes = defaultOIDCMinutes
	}
	life := time.Duration(minutes) * time.Minute
	now := e.now().Unix()
	var jti [16]byte
	rand.Read(jti[:])
	claims := map[string]any{
		"iss": strings.TrimSuffix(issuerURL, "/"), "sub": req.Subject, "aud": req.Audience,
		"iat": now, "nbf": now, "exp": now + int64(life/time.Second),
		"oid": oid, "tid": tid, "azp": azp, "appid": azp, "ver": "2.0", "jti": b64(jti[:]),
	}
	if req.Scope != "" {
		claims["scp"] = req.Scope
	}
	b, err := json.Marshal(claims)
	return b, life, err
}

// subjectGUID is the object ID of sub when the request names none: the
// same subject always gets the same one.
func subjectGUID(sub string) string {
	sum := sha256.Sum256([]byte("acsidentity-emulator oid\x00" + sub))
	sum[6] = sum[6]&0x0f | 0x80 // version 8 (custom)
	sum[8] = sum[8]&0x3f | 0x80 // RFC 9562 variant
	a := binary.BigEndian
	return fmt.Sprintf("%08x-%04x-%04x-%04x-%012x", a.Uint32(sum[0:]), a.Uint16(sum[4:]), a.Uint16(sum[6:]), a.Uint16(sum[8:]), sum[10:16])
}

// issuerURL is the issuer as the client addressed the emulator.
func issuerURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + OIDCIssuerPath
}

// serveOIDC answers the issuer's endpoints; path is below OIDCIssuerPath.
func (e *Emulator) serveOIDC(c *call, path string, only func(...string) bool) {
	iss := issuerURL(c.r)
	switch path {
	case "/.well-known/openid-configuration":
		if only(http.MethodGet, http.MethodHead) {
			c.writeJSON(http.StatusOK, map[string]any{
				"issuer":                                iss,
				"jwks_uri":                              iss + "/jwks",
				"token_endpoint":                        iss + "/token",
				"response_types_supported":              []string{"token"},
				"subject_types_supported":               []string{"public"},
				"id_token_signing_alg_values_supported": []string{"RS256"},
				"claims_supported":                      []string{"iss", "sub", "aud", "exp", "nbf", "iat", "oid", "tid", "azp", "appid", "scp", "ver", "jti"},
			})
		}
	case "/jwks":
		if !only(http.MethodGet, http.MethodHead) {
			return
		}
		k, err := e.issuerSigningKey()
		if err == nil && e.persist != nil {
			err = e.persist.Sync()
		}
		if err != nil {
			c.fail(http.StatusInternalServerError, "InternalServerError", "The emulator could not make or save the OIDC issuer's key.", "")
			return
		}
		c.writeJSON(http.StatusOK, map[string]any{"keys": []any{k.jwk()}})
	case "/token":
		if !only(http.MethodPost) {
			return
		}
		b, ok := c.extensionBody()
		if !ok {
			return
		}
		var req OIDCTokenRequest
		if err := strictUnmarshal(b, &req); err != nil || len(b) == 0 {
			c.validation("body", `The body must be a JSON object such as {"sub":"alice","aud":"api://my-app"}, with optional "scp", "oid", "tid", "azp" and "expiresInMinutes".`)
			return
		}
		claims, life, err := e.oidcClaims(iss, &req)
		if err != nil {
			c.validation("body", err.Error())
			return
		}
		tok, err := e.signOIDC(claims, life)
		if err != nil {
			c.fail(http.StatusInternalServerError, "InternalServerError", "The emulator could not make or save the OIDC issuer's key.", "")
			return
		}
		c.w.Header()["Cache-Control"] = []string{"no-store"}
		c.writeJSON(http.StatusOK, tok)
	default:
		c.fail(http.StatusNotFound, "NotFound", "The requested resource was not found.", "")
	}
}
