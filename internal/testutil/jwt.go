package testutil

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"maps"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// SigningKey is a signing key of a test identity provider. Its JWTs are
// assembled here rather than by a JWT library so that tests can sign what
// no library would: a wrong alg, a missing kid, a crit header, a made-up
// signature.
type SigningKey struct {
	KID  string
	Alg  string
	Priv crypto.Signer
}

var (
	rsaOnce sync.Once
	rsaKeys [2]*rsa.PrivateKey
)

// RSAKey returns one of two RSA-2048 keys (i is 0 or 1), made once per
// test binary: making them is slow under -race.
func RSAKey(i int) *rsa.PrivateKey {
	rsaOnce.Do(func() {
		for j := range rsaKeys {
			rsaKeys[j] = must(rsa.GenerateKey(rand.Reader, 2048))
		}
	})
	return rsaKeys[i]
}

// NewSigningKey makes a key for alg (RS256, RS384, RS512, PS256, ES256,
// ES384 or EdDSA) with key ID kid.
func NewSigningKey(t testing.TB, kid, alg string) *SigningKey {
	t.Helper()
	k := &SigningKey{KID: kid, Alg: alg}
	switch alg {
	case "RS256", "RS384", "RS512", "PS256":
		k.Priv = RSAKey(0)
	case "ES256":
		k.Priv = must(ecdsa.GenerateKey(elliptic.P256(), rand.Reader))
	case "ES384":
		k.Priv = must(ecdsa.GenerateKey(elliptic.P384(), rand.Reader))
	case "EdDSA":
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		k.Priv = priv
	default:
		t.Fatalf("no test key for %s", alg)
	}
	return k
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// JWK returns the public key as a JWK.
func (k *SigningKey) JWK() map[string]string {
	b64 := base64.RawURLEncoding.EncodeToString
	m := map[string]string{"kid": k.KID, "use": "sig"}
	switch pub := k.Priv.Public().(type) {
	case *rsa.PublicKey:
		m["kty"], m["n"], m["e"] = "RSA", b64(pub.N.Bytes()), b64(big.NewInt(int64(pub.E)).Bytes())
	case *ecdsa.PublicKey:
		raw := must(pub.Bytes())
		size := (len(raw) - 1) / 2
		m["kty"], m["x"], m["y"] = "EC", b64(raw[1:1+size]), b64(raw[1+size:])
		m["crv"] = map[int]string{32: "P-256", 48: "P-384"}[size]
	case ed25519.PublicKey:
		m["kty"], m["crv"], m["x"] = "OKP", "Ed25519", b64(pub)
	}
	return m
}

// Sign makes a JWT of claims with the key's alg and kid, with header fields
// overridden by hdr (nil values delete a field). An alg the key cannot
// sign with ("none", "HS256", ...) gets a made-up signature.
func (k *SigningKey) Sign(t testing.TB, claims map[string]any, hdr map[string]any) string {
	t.Helper()
	h := map[string]any{"alg": k.Alg, "kid": k.KID, "typ": "JWT"}
	for name, v := range hdr {
		if v == nil {
			delete(h, name)
		} else {
			h[name] = v
		}
	}
	signed := b64JSON(t, h) + "." + b64JSON(t, claims)
	alg, _ := h["alg"].(string)
	var sig []byte
	switch alg {
	case "EdDSA":
		sig = ed25519.Sign(k.Priv.(ed25519.PrivateKey), []byte(signed))
	case "ES256", "ES384":
		_, digest := hashFor(alg, []byte(signed))
		r, s, err := ecdsa.Sign(rand.Reader, k.Priv.(*ecdsa.PrivateKey), digest)
		if err != nil {
			t.Fatal(err)
		}
		size := map[string]int{"ES256": 32, "ES384": 48}[alg]
		sig = make([]byte, 2*size)
		r.FillBytes(sig[:size])
		s.FillBytes(sig[size:])
	case "PS256":
		h, digest := hashFor(alg, []byte(signed))
		sig = must(rsa.SignPSS(rand.Reader, k.Priv.(*rsa.PrivateKey), h, digest, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash}))
	case "RS256", "RS384", "RS512":
		h, digest := hashFor(alg, []byte(signed))
		sig = must(rsa.SignPKCS1v15(rand.Reader, k.Priv.(*rsa.PrivateKey), h, digest))
	default:
		sig = []byte("not-a-signature")
	}
	return signed + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func b64JSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// hashFor is the digest of data for a JWS algorithm's signature.
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

// IDP is a test identity provider: a JWKS endpoint on loopback whose keys
// can be rotated, counting its fetches.
type IDP struct {
	Server *httptest.Server

	mu      sync.Mutex
	keys    []*SigningKey
	fetches int
}

// NewIDP starts an IDP publishing keys; the test's cleanup stops it.
func NewIDP(t testing.TB, keys ...*SigningKey) *IDP {
	t.Helper()
	p := &IDP{keys: keys}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		defer p.mu.Unlock()
		p.fetches++
		set := map[string][]map[string]string{"keys": {}}
		for _, k := range p.keys {
			set["keys"] = append(set["keys"], k.JWK())
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(set)
	}))
	t.Cleanup(p.Server.Close)
	return p
}

// JWKSURL is where the keys are.
func (p *IDP) JWKSURL() string { return p.Server.URL + "/keys" }

// SetKeys replaces the published keys (a rotation).
func (p *IDP) SetKeys(keys ...*SigningKey) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.keys = keys
}

// Fetches is how many times the keys were fetched.
func (p *IDP) Fetches() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.fetches
}

// DecodeSegment decodes one base64url JSON segment of a JWT into v.
func DecodeSegment(seg string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// The issuer and audience of GoodClaims.
const (
	Issuer   = "https://idp.example/tenant/v2.0"
	Audience = "api://trusted-service"
)

// GoodClaims are claims of a bearer token for sub that are valid at now,
// from Issuer for Audience, with an Entra ID oid and scp.
func GoodClaims(now time.Time, sub string) map[string]any {
	return map[string]any{
		"iss": Issuer, "aud": Audience, "sub": sub,
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix(),
		"oid": "00000000-0000-0000-0000-0000000000aa", "scp": "access_as_user other",
	}
}

// With returns a copy of m with the key-value pairs kv set; a nil value
// deletes its key.
func With(m map[string]any, kv ...any) map[string]any {
	out := maps.Clone(m)
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(out, kv[i].(string))
		} else {
			out[kv[i].(string)] = kv[i+1]
		}
	}
	return out
}
