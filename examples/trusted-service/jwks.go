package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"sync"
	"time"
)

const (
	// maxJWKSBytes bounds a JWKS document.
	maxJWKSBytes = 1 << 20
	// jwksMaxAge is how long fetched keys are used before they are fetched
	// again on the next request. Issuers announce new keys well before
	// they use them, so a day-old set is still good; a failed refresh keeps
	// the old keys.
	jwksMaxAge = 12 * time.Hour
	// jwksFetchTimeout bounds one fetch.
	jwksFetchTimeout = 10 * time.Second
	// jwksRetryEmpty is how soon a failed first fetch is retried.
	jwksRetryEmpty = 10 * time.Second
	// minRSABits is the smallest RSA modulus accepted.
	minRSABits = 2048
)

// jwksCache fetches an issuer's JSON Web Key Set and keeps it. A token
// with a key ID the cache does not know triggers a refresh, at most once per
// minRefresh, so a stream of made-up key IDs cannot make the service hammer
// the issuer.
type jwksCache struct {
	url        string
	client     *http.Client
	minRefresh time.Duration
	now        func() time.Time
	logger     *slog.Logger

	fetchMu sync.Mutex // held during a fetch: one fetch at a time

	mu          sync.Mutex // guards the fields below; never held during I/O
	keys        map[string]*jwk
	fetchedAt   time.Time // last successful fetch
	attemptedAt time.Time // last fetch, successful or not
	fetches     int       // number of fetches started (for tests)
}

// errKeysUnavailable means no key set could be fetched.
var errKeysUnavailable = &authError{code: "temporarily_unavailable", message: "Caller authentication is temporarily unavailable.", detail: "no JWKS could be fetched", unavailable: true}

// key returns the key with ID kid, fetching the set when there is none yet,
// when it is older than jwksMaxAge, or when it lacks kid; the last two at
// most once per minRefresh.
func (c *jwksCache) key(ctx context.Context, kid string) (*jwk, error) {
	if k, done, err := c.lookup(kid, false); done {
		return k, err
	}
	c.fetchMu.Lock()
	defer c.fetchMu.Unlock()
	// Another request may have fetched while we waited.
	if k, done, err := c.lookup(kid, true); done {
		return k, err
	}
	keys, err := c.fetch(ctx)
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		c.logger.Warn("fetching the OIDC signing keys failed; keeping the keys we have",
			"jwks_url", c.url, "error", err.Error(), "cached_keys", len(c.keys))
	} else {
		c.keys, c.fetchedAt = keys, c.now()
		c.logger.Info("fetched the OIDC signing keys", "jwks_url", c.url, "keys", len(keys))
	}
	if k, ok := c.keys[kid]; ok {
		return k, nil // possibly stale, if the refresh failed
	}
	return nil, c.unknown(kid)
}

// lookup answers from the cache when it can (done). Otherwise a fetch is
// due; with claim it records the attempt, so the caller must fetch.
func (c *jwksCache) lookup(kid string, claim bool) (k *jwk, done bool, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	k, known := c.keys[kid]
	stale := now.Sub(c.fetchedAt) >= jwksMaxAge
	mayRefresh := c.attemptedAt.IsZero() || now.Sub(c.attemptedAt) >= c.minRefresh
	switch {
	case known && !stale:
		return k, true, nil
	case c.keys == nil:
		// Nothing to answer with: retry soon, but not on every request.
		if !c.attemptedAt.IsZero() && now.Sub(c.attemptedAt) < min(c.minRefresh, jwksRetryEmpty) {
			return nil, true, errKeysUnavailable
		}
	case c.keys != nil && !mayRefresh:
		// Too soon to ask the issuer again: answer from what we have,
		// stale or not.
		if known {
			return k, true, nil
		}
		return nil, true, c.unknown(kid)
	}
	if claim {
		c.attemptedAt = now
		c.fetches++
	}
	return nil, false, nil
}

func (c *jwksCache) unknown(kid string) error {
	if c.keys == nil {
		return errKeysUnavailable
	}
	return invalidToken("The bearer token's signing key is not known.", "kid %q is not in the JWKS", kid)
}

// fetch downloads and parses the key set. Keys it cannot use (other key
// types, encryption keys, short RSA keys) are skipped.
func (c *jwksCache) fetch(ctx context.Context) (map[string]*jwk, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), jwksFetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes+1))
	if err != nil {
		return nil, err
	}
	if len(body) > maxJWKSBytes {
		return nil, errors.New("the JWKS is larger than 1 MiB")
	}
	return parseJWKS(body)
}

// rawJWK is a JSON Web Key as published (RFC 7517, 7518, 8037).
type rawJWK struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	N   string `json:"n"`
	E   string `json:"e"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y"`
}

// parseJWKS parses a JWKS document into usable signing keys by key ID.
func parseJWKS(body []byte) (map[string]*jwk, error) {
	var set struct {
		Keys []rawJWK `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); err != nil {
		return nil, errors.New("the JWKS is not JSON")
	}
	keys := make(map[string]*jwk)
	for _, r := range set.Keys {
		if r.Kid == "" || (r.Use != "" && r.Use != "sig") {
			continue
		}
		if r.Alg != "" && !isSupportedAlgorithm(r.Alg) {
			continue
		}
		pub, err := r.publicKey()
		if err != nil {
			continue
		}
		keys[r.Kid] = &jwk{kid: r.Kid, alg: r.Alg, pub: pub}
	}
	if len(keys) == 0 {
		return nil, errors.New("the JWKS has no usable signing key")
	}
	return keys, nil
}

func (r *rawJWK) publicKey() (any, error) {
	b64 := base64.RawURLEncoding
	switch r.Kty {
	case "RSA":
		n, err1 := b64.DecodeString(r.N)
		e, err2 := b64.DecodeString(r.E)
		if err1 != nil || err2 != nil || len(e) == 0 || len(e) > 4 {
			return nil, errors.New("bad RSA key")
		}
		pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
		if pub.N.BitLen() < minRSABits || pub.E < 3 || pub.E%2 == 0 {
			return nil, errors.New("weak RSA key")
		}
		return pub, nil
	case "EC":
		var curve elliptic.Curve
		size := 0
		switch r.Crv {
		case "P-256":
			curve, size = elliptic.P256(), 32
		case "P-384":
			curve, size = elliptic.P384(), 48
		default:
			return nil, errors.New("unsupported curve")
		}
		x, err1 := b64.DecodeString(r.X)
		y, err2 := b64.DecodeString(r.Y)
		if err1 != nil || err2 != nil || len(x) != size || len(y) != size {
			return nil, errors.New("bad EC key")
		}
		point := append(append([]byte{4}, x...), y...)
		return ecdsa.ParseUncompressedPublicKey(curve, point) // checks the point is on the curve
	case "OKP":
		x, err := b64.DecodeString(r.X)
		if r.Crv != "Ed25519" || err != nil || len(x) != ed25519.PublicKeySize {
			return nil, errors.New("bad OKP key")
		}
		return ed25519.PublicKey(x), nil
	}
	return nil, errors.New("unsupported key type")
}
