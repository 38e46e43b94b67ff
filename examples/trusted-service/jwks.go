package main

import (
	"context"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/MicahParks/jwkset"
)

const (
	// maxJWKSBytes bounds a JWKS or discovery document.
	maxJWKSBytes = 1 << 20
	// jwksMaxAge is how long fetched keys are used before they are fetched
	// again on the next request. Issuers announce new keys well before
	// they use them, so a day-old set is still good; a failed refresh keeps
	// the old keys.
	jwksMaxAge = 12 * time.Hour
	// jwksFetchTimeout bounds one fetch (discovery and JWKS together).
	jwksFetchTimeout = 10 * time.Second
	// jwksRetryEmpty is how soon a failed first fetch is retried.
	jwksRetryEmpty = 10 * time.Second
	// minRSABits is the smallest RSA modulus accepted.
	minRSABits = 2048
	// maxRedirects bounds the redirects of one fetch.
	maxRedirects = 5
)

// jwksCache is the issuer's key set, as a jwkset.Storage that keyfunc reads
// keys from. Parsing and checking each JWK (key types, curves, points on
// the curve) is github.com/MicahParks/jwkset's; what this type adds is
// when to fetch: a token with a key ID the cache does not know triggers a
// refresh, at most once per minRefresh however many such tokens arrive, so
// a stream of made-up key IDs cannot make the service hammer the issuer;
// the set is refreshed once it is jwksMaxAge old; a failed refresh keeps
// the keys we have. (jwkset's own HTTP storage limits unknown-kid refreshes
// with a real-time rate limiter that makes the request wait, and replaces
// the whole set when one key in it is malformed; this cache answers at once
// and skips the keys it cannot use.)
//
// With url empty, the JWKS URL is read from the issuer's OpenID Connect
// discovery document, <issuer>/.well-known/openid-configuration.
type jwksCache struct {
	url    string // the JWKS URL; empty: discover it from issuer
	issuer string // for discovery
	client *http.Client
	// minRefresh is the least time between two fetches.
	minRefresh time.Duration
	now        func() time.Time
	logger     *slog.Logger

	fetchMu sync.Mutex // held during a fetch: one fetch at a time

	mu          sync.Mutex     // guards the fields below; never held during I/O
	keys        jwkset.Storage // nil until the first successful fetch
	jwksURL     string         // discovered (or configured) JWKS URL
	fetchedAt   time.Time      // last successful fetch
	attemptedAt time.Time      // last fetch, successful or not
	fetches     int            // number of fetches started (for tests)

	// Storage is nil: it only completes the jwkset.Storage interface that
	// keyfunc takes, and keyfunc calls nothing but KeyRead and KeyReadAll,
	// both defined below. Nothing may call its other methods.
	jwkset.Storage
}

// errKeysUnavailable means no key set could be fetched.
var errKeysUnavailable = &authError{code: "temporarily_unavailable", message: "Caller authentication is temporarily unavailable.", detail: "no JWKS could be fetched", unavailable: true}

// KeyRead returns the key with ID kid, fetching the set when there is none
// yet, when it is older than jwksMaxAge, or when it lacks kid; the last two
// at most once per minRefresh. Its errors are *authError.
func (c *jwksCache) KeyRead(ctx context.Context, kid string) (jwkset.JWK, error) {
	if k, done, err := c.lookup(ctx, kid, false); done {
		return k, err
	}
	c.fetchMu.Lock()
	defer c.fetchMu.Unlock()
	// Another request may have fetched while we waited.
	if k, done, err := c.lookup(ctx, kid, true); done {
		return k, err
	}
	keys, url, err := c.fetch(ctx)
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		n := 0
		if c.keys != nil {
			all, _ := c.keys.KeyReadAll(ctx)
			n = len(all)
		}
		c.logger.Warn("fetching the OIDC signing keys failed; keeping the keys we have",
			"jwks_url", url, "issuer", c.issuer, "error", err.Error(), "cached_keys", n)
	} else {
		c.keys, c.fetchedAt, c.jwksURL = keys, c.now(), url
		all, _ := keys.KeyReadAll(ctx)
		c.logger.Info("fetched the OIDC signing keys", "jwks_url", url, "keys", len(all))
	}
	if c.keys == nil {
		return jwkset.JWK{}, errKeysUnavailable
	}
	if k, err := c.keys.KeyRead(ctx, kid); err == nil {
		return k, nil // possibly stale, if the refresh failed
	}
	return jwkset.JWK{}, c.unknown(kid)
}

// KeyReadAll returns every key of the current set (none before the first
// fetch). keyfunc uses it only for tokens without a kid, which validate
// refuses before any lookup.
func (c *jwksCache) KeyReadAll(ctx context.Context) ([]jwkset.JWK, error) {
	c.mu.Lock()
	keys := c.keys
	c.mu.Unlock()
	if keys == nil {
		return nil, nil
	}
	return keys.KeyReadAll(ctx)
}

// lookup answers from the cache when it can (done). Otherwise a fetch is
// due; with claim it records the attempt, so the caller must fetch.
func (c *jwksCache) lookup(ctx context.Context, kid string, claim bool) (k jwkset.JWK, done bool, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	known := false
	if c.keys != nil {
		var kerr error
		k, kerr = c.keys.KeyRead(ctx, kid)
		known = kerr == nil
	}
	stale := now.Sub(c.fetchedAt) >= jwksMaxAge
	mayRefresh := c.attemptedAt.IsZero() || now.Sub(c.attemptedAt) >= c.minRefresh
	switch {
	case known && !stale:
		return k, true, nil
	case c.keys == nil:
		// Nothing to answer with: retry soon, but not on every request.
		if !c.attemptedAt.IsZero() && now.Sub(c.attemptedAt) < min(c.minRefresh, jwksRetryEmpty) {
			return k, true, errKeysUnavailable
		}
	case !mayRefresh:
		// Too soon to ask the issuer again: answer from what we have,
		// stale or not.
		if known {
			return k, true, nil
		}
		return k, true, c.unknown(kid)
	}
	if claim {
		c.attemptedAt = now
		c.fetches++
	}
	return k, false, nil
}

func (c *jwksCache) unknown(kid string) error {
	if c.keys == nil {
		return errKeysUnavailable
	}
	return invalidToken("The bearer token's signing key is not known.", "kid %q is not in the JWKS", kid)
}

// fetch downloads the key set (after discovering its URL, if need be) and
// parses it. It returns the URL it fetched.
func (c *jwksCache) fetch(ctx context.Context) (jwkset.Storage, string, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), jwksFetchTimeout)
	defer cancel()
	c.mu.Lock()
	url := c.url
	if url == "" {
		url = c.jwksURL
	}
	c.mu.Unlock()
	if url == "" {
		var err error
		if url, err = discoverJWKSURL(ctx, c.client, c.issuer); err != nil {
			return nil, discoveryURL(c.issuer), err
		}
	}
	body, err := getJSON(ctx, c.client, url)
	if err != nil {
		return nil, url, err
	}
	keys, err := parseJWKS(body)
	return keys, url, err
}

// parseJWKS parses a JWKS document into the signing keys we can use. Keys
// jwkset cannot parse or check (other key types, bad or off-curve points),
// encryption keys, symmetric keys, keys for algorithms we do not accept,
// and RSA keys under 2048 bits are skipped.
func parseJWKS(body []byte) (jwkset.Storage, error) {
	var set jwkset.JWKSMarshal
	if err := json.Unmarshal(body, &set); err != nil {
		return nil, errors.New("the JWKS is not JSON")
	}
	store := jwkset.NewMemoryStorage()
	n := 0
	for _, m := range set.Keys {
		if m.KID == "" || (m.USE != "" && m.USE != jwkset.UseSig) || m.KTY == jwkset.KtyOct {
			continue
		}
		if m.ALG != "" && !isSupportedAlgorithm(m.ALG.String()) {
			continue
		}
		// Public material only: a private part ("d") published by mistake
		// is not kept.
		k, err := jwkset.NewJWKFromMarshal(m, jwkset.JWKMarshalOptions{}, jwkset.JWKValidateOptions{})
		if err != nil {
			continue
		}
		if pub, ok := k.Key().(*rsa.PublicKey); ok && pub.N.BitLen() < minRSABits {
			continue
		}
		if err := store.KeyWrite(context.Background(), k); err != nil {
			return nil, err
		}
		n++
	}
	if n == 0 {
		return nil, errors.New("the JWKS has no usable signing key")
	}
	return store, nil
}

// discoveryURL is where an issuer publishes its OpenID Connect discovery
// document (OpenID Connect Discovery 1.0, section 4).
func discoveryURL(issuer string) string {
	return strings.TrimSuffix(issuer, "/") + "/.well-known/openid-configuration"
}

// discoverJWKSURL reads jwks_uri from the issuer's discovery document. The
// document must name the same issuer, and jwks_uri must be https (http
// only on loopback), as TRUSTED_SERVICE_OIDC_JWKS_URL must.
func discoverJWKSURL(ctx context.Context, client *http.Client, issuer string) (string, error) {
	body, err := getJSON(ctx, client, discoveryURL(issuer))
	if err != nil {
		return "", fmt.Errorf("OIDC discovery: %w", err)
	}
	var doc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return "", errors.New("OIDC discovery: the document is not JSON")
	}
	if doc.Issuer != issuer {
		return "", fmt.Errorf("OIDC discovery: the document is for issuer %q, not %q", doc.Issuer, issuer)
	}
	if err := checkFetchURL(doc.JWKSURI); err != nil {
		return "", fmt.Errorf("OIDC discovery: jwks_uri %q: %v", doc.JWKSURI, err)
	}
	return doc.JWKSURI, nil
}

// getJSON GETs url and returns a body of at most maxJWKSBytes.
func getJSON(ctx context.Context, client *http.Client, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: HTTP %d", url, resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes+1))
	if err != nil {
		return nil, err
	}
	if len(body) > maxJWKSBytes {
		return nil, fmt.Errorf("GET %s: larger than 1 MiB", url)
	}
	return body, nil
}

// newKeyClient is the HTTP client of the discovery and JWKS fetches. A
// redirect must stay on https once the fetch is on https (and go to a URL
// checkFetchURL accepts): an attacker on the path of a plain-http hop
// could otherwise hand us their own keys.
func newKeyClient(transport http.RoundTripper) *http.Client {
	return &http.Client{
		Transport: transport,
		Timeout:   jwksFetchTimeout,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= maxRedirects {
				return fmt.Errorf("more than %d redirects", maxRedirects)
			}
			if err := checkFetchURL(req.URL.String()); err != nil {
				return fmt.Errorf("redirected to %s: %v", req.URL.Redacted(), err)
			}
			for _, v := range via {
				if v.URL.Scheme == "https" && req.URL.Scheme != "https" {
					return fmt.Errorf("redirected from https to %s", req.URL.Redacted())
				}
			}
			return nil
		},
	}
}
