package main

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
	"math/big"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

// testKey is a signing key of the test identity provider.
type testKey struct {
	kid  string
	alg  string
	priv crypto.Signer
}

var (
	rsaOnce sync.Once
	rsaKeys [2]*rsa.PrivateKey
)

// rsaKey returns one of two RSA-2048 keys, made once per test binary
// (making them is slow under -race).
func rsaKey(t testing.TB, i int) *rsa.PrivateKey {
	t.Helper()
	rsaOnce.Do(func() {
		for j := range rsaKeys {
			k, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				panic(err)
			}
			rsaKeys[j] = k
		}
	})
	return rsaKeys[i]
}

// newTestKey makes a key for alg with key ID kid.
func newTestKey(t testing.TB, kid, alg string) *testKey {
	t.Helper()
	k := &testKey{kid: kid, alg: alg}
	switch alg {
	case "RS256", "RS384", "RS512", "PS256":
		k.priv = rsaKey(t, 0)
	case "ES256":
		k.priv = must(ecdsa.GenerateKey(elliptic.P256(), rand.Reader))
	case "ES384":
		k.priv = must(ecdsa.GenerateKey(elliptic.P384(), rand.Reader))
	case "EdDSA":
		_, priv := must2(ed25519.GenerateKey(rand.Reader))
		k.priv = priv
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

func must2[A, B any](a A, b B, err error) (A, B) {
	if err != nil {
		panic(err)
	}
	return a, b
}

// jwk returns the public key as a JWK.
func (k *testKey) jwk() map[string]string {
	b64 := base64.RawURLEncoding.EncodeToString
	m := map[string]string{"kid": k.kid, "use": "sig"}
	switch pub := k.priv.Public().(type) {
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

// sign makes a JWT with the key's alg and kid, with header fields
// overridden by hdr (nil values delete a field).
func (k *testKey) sign(t testing.TB, claims map[string]any, hdr map[string]any) string {
	t.Helper()
	h := map[string]any{"alg": k.alg, "kid": k.kid, "typ": "JWT"}
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
		sig = ed25519.Sign(k.priv.(ed25519.PrivateKey), []byte(signed))
	case "ES256", "ES384":
		_, digest := hashFor(alg, []byte(signed))
		r, s := must2(ecdsa.Sign(rand.Reader, k.priv.(*ecdsa.PrivateKey), digest))
		size := map[string]int{"ES256": 32, "ES384": 48}[alg]
		sig = make([]byte, 2*size)
		r.FillBytes(sig[:size])
		s.FillBytes(sig[size:])
	case "PS256":
		h, digest := hashFor(alg, []byte(signed))
		sig = must(rsa.SignPSS(rand.Reader, k.priv.(*rsa.PrivateKey), h, digest, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash}))
	case "RS256", "RS384", "RS512":
		h, digest := hashFor(alg, []byte(signed))
		sig = must(rsa.SignPKCS1v15(rand.Reader, k.priv.(*rsa.PrivateKey), h, digest))
	default: // "none", "HS256", ...: no real signature
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

// idp is a test identity provider: a JWKS endpoint whose keys can be
// rotated, counting its fetches.
type idp struct {
	srv *httptest.Server

	mu      sync.Mutex
	keys    []*testKey
	fetches int
}

func newIDP(t testing.TB, keys ...*testKey) *idp {
	t.Helper()
	p := &idp{keys: keys}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		defer p.mu.Unlock()
		p.fetches++
		set := map[string][]map[string]string{"keys": {}}
		for _, k := range p.keys {
			set["keys"] = append(set["keys"], k.jwk())
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(set)
	}))
	t.Cleanup(p.srv.Close)
	return p
}

func (p *idp) jwksURL() string { return p.srv.URL + "/keys" }

// setKeys replaces the published keys (a rotation).
func (p *idp) setKeys(keys ...*testKey) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.keys = keys
}

func (p *idp) fetchCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.fetches
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

// decodeSegment decodes one base64url JSON segment of a JWT into v.
func decodeSegment(seg string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}
