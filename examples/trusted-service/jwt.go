package main

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"slices"
	"strings"
	"time"
)

// maxTokenBytes bounds the bearer tokens we parse at all. Entra ID access
// tokens are a few kilobytes.
const maxTokenBytes = 16 << 10

// clockSkew is how far the issuer's clock may be from ours.
const clockSkew = 2 * time.Minute

// defaultAlgorithms returns the JWS algorithms the service can verify; an
// operator may narrow the list with TRUSTED_SERVICE_OIDC_ALGORITHMS. "none"
// and the HMAC algorithms are never accepted: a public-key issuer has no
// business using them, and accepting HS256 with a public key is the classic
// algorithm-confusion attack.
func defaultAlgorithms() []string {
	return []string{"RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA"}
}

func isSupportedAlgorithm(alg string) bool { return slices.Contains(defaultAlgorithms(), alg) }

// authError is a failed authentication. message is safe to show the caller;
// detail is for the log only.
type authError struct {
	code    string // OAuth 2.0 bearer error: invalid_token, insufficient_scope
	message string
	detail  string
	// unavailable means the keys could not be fetched: the caller is not at
	// fault and gets 503, not 401.
	unavailable bool
	// badRequest means the request is malformed (400), not unauthenticated.
	badRequest bool
}

func (e *authError) Error() string { return e.message + ": " + e.detail }

func invalidToken(message, detailFormat string, args ...any) *authError {
	return &authError{code: "invalid_token", message: message, detail: fmt.Sprintf(detailFormat, args...)}
}

// claims are the registered claims we check, plus the few we use.
type claims struct {
	Issuer    string          `json:"iss"`
	Subject   string          `json:"sub"`
	Audience  json.RawMessage `json:"aud"`
	ExpiresAt *json.Number    `json:"exp"`
	NotBefore *json.Number    `json:"nbf"`
	IssuedAt  *json.Number    `json:"iat"`
	// ObjectID is Entra ID's object ID of the user (oid).
	ObjectID string `json:"oid"`
	// Scope is the space-separated delegated scopes (scp, Entra ID; scope, RFC 9068).
	Scp   string   `json:"scp"`
	Scope string   `json:"scope"`
	Roles []string `json:"roles"`
}

// jwtHeader is the JOSE header.
type jwtHeader struct {
	Alg  string   `json:"alg"`
	Kid  string   `json:"kid"`
	Typ  string   `json:"typ"`
	Crit []string `json:"crit"`
}

// validator checks bearer JWTs against one issuer's keys.
type validator struct {
	issuer        string
	audiences     []string
	requiredScope string
	algorithms    []string
	keys          keySource
	now           func() time.Time
}

// keySource finds a verification key by its key ID.
type keySource interface {
	key(ctx context.Context, kid string) (*jwk, error)
}

// validate parses and verifies token and returns its claims. Every failure
// is an *authError.
func (v *validator) validate(ctx context.Context, token string) (*claims, error) {
	if len(token) > maxTokenBytes {
		return nil, invalidToken("The bearer token is malformed.", "token of %d bytes", len(token))
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		// Five parts would be JWE: encrypted tokens are not supported.
		return nil, invalidToken("The bearer token is malformed.", "%d dot-separated parts, want 3", len(parts))
	}
	var h jwtHeader
	if err := decodeSegment(parts[0], &h); err != nil {
		return nil, invalidToken("The bearer token is malformed.", "header: %v", err)
	}
	// Check the algorithm before anything else touches a key.
	if strings.EqualFold(h.Alg, "none") || h.Alg == "" {
		return nil, invalidToken("The bearer token is not signed.", "alg %q", h.Alg)
	}
	if !slices.Contains(v.algorithms, h.Alg) {
		return nil, invalidToken("The bearer token's signing algorithm is not accepted.", "alg %q not in %v", h.Alg, v.algorithms)
	}
	if len(h.Crit) > 0 {
		return nil, invalidToken("The bearer token is malformed.", "unsupported crit header %v", h.Crit)
	}
	if h.Typ != "" && !strings.EqualFold(h.Typ, "JWT") && !strings.EqualFold(h.Typ, "at+jwt") && !strings.EqualFold(h.Typ, "application/at+jwt") {
		return nil, invalidToken("The bearer token is malformed.", "typ %q", h.Typ)
	}
	if h.Kid == "" {
		return nil, invalidToken("The bearer token has no key ID.", "no kid in the header")
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return nil, invalidToken("The bearer token is malformed.", "signature: not base64url")
	}
	k, err := v.keys.key(ctx, h.Kid)
	if err != nil {
		return nil, err
	}
	if err := k.verify(h.Alg, []byte(parts[0]+"."+parts[1]), sig); err != nil {
		return nil, invalidToken("The bearer token's signature is not valid.", "kid %q alg %s: %v", h.Kid, h.Alg, err)
	}

	// Only now, with the signature checked, are the claims worth reading.
	var c claims
	if err := decodeSegment(parts[1], &c); err != nil {
		return nil, invalidToken("The bearer token is malformed.", "payload: %v", err)
	}
	if c.Issuer != v.issuer {
		return nil, invalidToken("The bearer token's issuer is not accepted.", "iss %q", c.Issuer)
	}
	aud, err := audiences(c.Audience)
	if err != nil {
		return nil, invalidToken("The bearer token is malformed.", "aud: %v", err)
	}
	if !slices.ContainsFunc(aud, func(a string) bool { return slices.Contains(v.audiences, a) }) {
		return nil, invalidToken("The bearer token's audience is not accepted.", "aud %q", aud)
	}
	now := v.now()
	exp, err := numericDate(c.ExpiresAt)
	if err != nil || exp.IsZero() {
		return nil, invalidToken("The bearer token has no valid expiry.", "exp: %v", err)
	}
	if !now.Before(exp.Add(clockSkew)) {
		return nil, invalidToken("The bearer token has expired.", "exp %s", exp.Format(time.RFC3339))
	}
	if nbf, err := numericDate(c.NotBefore); err != nil {
		return nil, invalidToken("The bearer token is malformed.", "nbf: %v", err)
	} else if !nbf.IsZero() && now.Add(clockSkew).Before(nbf) {
		return nil, invalidToken("The bearer token is not valid yet.", "nbf %s", nbf.Format(time.RFC3339))
	}
	if iat, err := numericDate(c.IssuedAt); err != nil {
		return nil, invalidToken("The bearer token is malformed.", "iat: %v", err)
	} else if !iat.IsZero() && now.Add(clockSkew).Before(iat) {
		return nil, invalidToken("The bearer token was issued in the future.", "iat %s", iat.Format(time.RFC3339))
	}
	if c.Subject == "" {
		return nil, invalidToken("The bearer token has no subject.", "no sub")
	}
	if v.requiredScope != "" && !c.hasScope(v.requiredScope) {
		return nil, &authError{code: "insufficient_scope", message: "The bearer token lacks the required scope.", detail: "scp/scope/roles lack " + v.requiredScope}
	}
	return &c, nil
}

// hasScope reports whether the token grants scope as a delegated scope
// (scp or scope) or an application role (roles).
func (c *claims) hasScope(scope string) bool {
	return slices.Contains(strings.Fields(c.Scp), scope) ||
		slices.Contains(strings.Fields(c.Scope), scope) ||
		slices.Contains(c.Roles, scope)
}

// decodeSegment decodes one base64url JSON segment into v.
func decodeSegment(seg string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return errors.New("not base64url")
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(v); err != nil {
		return errors.New("not a JSON object")
	}
	if d.More() {
		return errors.New("trailing data")
	}
	return nil
}

// audiences decodes aud: a string or an array of strings.
func audiences(raw json.RawMessage) ([]string, error) {
	if len(raw) == 0 {
		return nil, errors.New("missing")
	}
	var one string
	if err := json.Unmarshal(raw, &one); err == nil {
		return []string{one}, nil
	}
	var many []string
	if err := json.Unmarshal(raw, &many); err != nil {
		return nil, errors.New("not a string or an array of strings")
	}
	return many, nil
}

// numericDate converts a JWT NumericDate (seconds, maybe fractional). A
// missing claim is the zero time.
func numericDate(n *json.Number) (time.Time, error) {
	if n == nil {
		return time.Time{}, nil
	}
	f, err := n.Float64()
	if err != nil || math.IsNaN(f) || f < 0 || f > 1e11 {
		return time.Time{}, errors.New("not a NumericDate")
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)), nil
}

// jwk is one verification key from a JWKS.
type jwk struct {
	kid string
	alg string // the key's own alg, if the JWKS named one
	pub crypto.PublicKey
}

// verify checks sig over signed with alg. The key type must fit alg: an
// RSA key never verifies an ES256 signature, and so on.
func (k *jwk) verify(alg string, signed, sig []byte) error {
	if k.alg != "" && k.alg != alg {
		return fmt.Errorf("the key is for %s", k.alg)
	}
	switch alg {
	case "RS256", "RS384", "RS512", "PS256":
		pub, ok := k.pub.(*rsa.PublicKey)
		if !ok {
			return errors.New("not an RSA key")
		}
		h, digest := hashFor(alg, signed)
		if alg == "PS256" {
			return rsa.VerifyPSS(pub, h, digest, sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
		}
		return rsa.VerifyPKCS1v15(pub, h, digest, sig)
	case "ES256", "ES384":
		pub, ok := k.pub.(*ecdsa.PublicKey)
		if !ok {
			return errors.New("not an EC key")
		}
		size := 32
		if alg == "ES384" {
			size = 48
		}
		if pub.Curve.Params().BitSize != size*8 {
			return errors.New("the key's curve does not match the algorithm")
		}
		if len(sig) != 2*size {
			return errors.New("wrong signature length")
		}
		_, digest := hashFor(alg, signed)
		r := new(big.Int).SetBytes(sig[:size])
		s := new(big.Int).SetBytes(sig[size:])
		if !ecdsa.Verify(pub, digest, r, s) {
			return errors.New("verification failed")
		}
		return nil
	case "EdDSA":
		pub, ok := k.pub.(ed25519.PublicKey)
		if !ok {
			return errors.New("not an Ed25519 key")
		}
		if !ed25519.Verify(pub, signed, sig) {
			return errors.New("verification failed")
		}
		return nil
	}
	return fmt.Errorf("algorithm %s is not supported", alg)
}

func hashFor(alg string, data []byte) (crypto.Hash, []byte) {
	switch alg {
	case "RS384", "ES384":
		d := sha512.Sum384(data)
		return crypto.SHA384, d[:]
	case "RS512":
		d := sha512.Sum512(data)
		return crypto.SHA512, d[:]
	}
	d := sha256.Sum256(data)
	return crypto.SHA256, d[:]
}
