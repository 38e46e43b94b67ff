package oidc

import (
	"context"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
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
	// jwksRetryEmpty is how soon after a failed first fetch another may
	// start.
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
// At most one fetch is in flight. It runs on its own goroutine, bounded by
// jwksFetchTimeout whoever started it; the requests that need its result
// wait for it or for the end of their own context, whichever comes first,
// and then answer from the keys it left, without fetching again. The
// intervals run from when the last fetch ended, so a slow or hanging
// issuer cannot turn waiting requests into a line of fetches one after the
// other.
//
// With url empty, the JWKS URL is read from the issuer's OpenID Connect
// discovery document.
type jwksCache struct {
	url    string // the JWKS URL; empty: discover it from issuer
	issuer string // for discovery
	client *http.Client
	// minRefresh is the least time between the end of a fetch and the
	// start of one for an unknown key ID.
	minRefresh time.Duration
	// fetchTimeout bounds a fetch (jwksFetchTimeout).
	fetchTimeout time.Duration
	now          func() time.Time
	logger       *slog.Logger

	mu        sync.Mutex     // guards the fields below; never held during I/O
	keys      jwkset.Storage // nil until the first successful fetch
	jwksURL   string         // discovered (or configured) JWKS URL
	fetchedAt time.Time      // end of the last successful fetch
	endedAt   time.Time      // end of the last fetch, successful or not
	inflight  chan struct{}  // closed when the fetch in flight ends; nil if none
	fetches   int            // number of fetches started (for tests)

	// Storage is nil: it only completes the jwkset.Storage interface that
	// keyfunc takes, and keyfunc calls nothing but KeyRead and KeyReadAll,
	// both defined below. Nothing may call its other methods.
	jwkset.Storage
}

func newJWKSCache(url, issuer string, client *http.Client, minRefresh time.Duration, logger *slog.Logger) *jwksCache {
	return &jwksCache{url: url, issuer: issuer, client: client, minRefresh: minRefresh, fetchTimeout: jwksFetchTimeout, now: time.Now, logger: logger}
}

// errKeysUnavailable means no key set could be fetched: the caller is not
// at fault.
var errKeysUnavailable = &Error{Kind: ErrKeysUnavailable, Message: "Caller authentication is temporarily unavailable.", Reason: "no JWKS could be fetched"}

// errNotInSet marks an unknown key ID's error (for FetchKeys).
var errNotInSet = errors.New("not in the JWKS")

// KeyRead returns the key with ID kid. It fetches the set when there is
// none yet, when it is older than jwksMaxAge, or when it lacks kid; the
// last two at most once per minRefresh. Its errors are
// *Error.
func (c *jwksCache) KeyRead(ctx context.Context, kid string) (jwkset.JWK, error) {
	c.mu.Lock()
	k, known := c.lookup(ctx, kid)
	now := c.now()
	stale := now.Sub(c.fetchedAt) >= jwksMaxAge
	switch {
	case known && !stale:
		c.mu.Unlock()
		return k, nil
	case c.inflight != nil:
		// Share the fetch in flight.
	case c.keys == nil && !c.endedAt.IsZero() && now.Sub(c.endedAt) < min(c.minRefresh, jwksRetryEmpty):
		// Nothing to answer with: retry soon, but not on every request.
		c.mu.Unlock()
		return jwkset.JWK{}, errKeysUnavailable
	case c.keys != nil && now.Sub(c.endedAt) < c.minRefresh:
		// Too soon to ask the issuer again: answer from what we have,
		// stale or not.
		defer c.mu.Unlock()
		if known {
			return k, nil
		}
		return jwkset.JWK{}, c.unknown(kid)
	default:
		c.startFetch(ctx)
	}
	done := c.inflight
	c.mu.Unlock()
	select {
	case <-done:
	case <-ctx.Done():
		return jwkset.JWK{}, errKeysUnavailable
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if k, ok := c.lookup(ctx, kid); ok {
		return k, nil // possibly stale, if the refresh failed
	}
	return jwkset.JWK{}, c.unknown(kid)
}

// startFetch starts a fetch on its own goroutine. c.mu is held.
func (c *jwksCache) startFetch(ctx context.Context) {
	done := make(chan struct{})
	c.inflight = done
	c.fetches++
	url := c.url
	if url == "" {
		url = c.jwksURL
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.fetchTimeout)
	go func() {
		defer cancel()
		keys, url, err := c.fetch(ctx, url)
		n := 0
		if keys != nil {
			all, _ := keys.KeyReadAll(ctx)
			n = len(all)
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		c.endedAt, c.inflight = c.now(), nil
		defer close(done)
		if err != nil {
			if c.keys != nil {
				all, _ := c.keys.KeyReadAll(ctx)
				n = len(all)
			}
			c.logger.Warn("fetching the OIDC signing keys failed; keeping the keys we have",
				"jwks_url", url, "issuer", c.issuer, "error", err.Error(), "cached_keys", n)
			return
		}
		c.keys, c.fetchedAt, c.jwksURL = keys, c.endedAt, url
		c.logger.Info("fetched the OIDC signing keys", "jwks_url", url, "keys", n)
	}()
}

// lookup finds kid in the current set. c.mu is held.
func (c *jwksCache) lookup(ctx context.Context, kid string) (jwkset.JWK, bool) {
	if c.keys == nil {
		return jwkset.JWK{}, false
	}
	k, err := c.keys.KeyRead(ctx, kid)
	return k, err == nil
}

// KeyReadAll returns every key of the current set (none before the first
// fetch). keyfunc uses it only for tokens without a kid, which the
// validator refuses before any lookup.
func (c *jwksCache) KeyReadAll(ctx context.Context) ([]jwkset.JWK, error) {
	c.mu.Lock()
	keys := c.keys
	c.mu.Unlock()
	if keys == nil {
		return nil, nil
	}
	return keys.KeyReadAll(ctx)
}

// unknown is the error for a kid the set lacks. c.mu is held.
func (c *jwksCache) unknown(kid string) error {
	if c.keys == nil {
		return errKeysUnavailable
	}
	e := invalidToken("The bearer token's signing key is not known.", "kid %s is not in the JWKS", quote(kid))
	e.Err = errNotInSet
	return e
}

// fetch downloads the key set from url (after discovering it, if url is
// empty) and parses it. It returns the URL it fetched.
func (c *jwksCache) fetch(ctx context.Context, url string) (jwkset.Storage, string, error) {
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

// discoverJWKSURL reads jwks_uri from the issuer's discovery document. The
// document must name the same issuer, and jwks_uri must be https (http
// only on loopback), as Config.JWKSURL must.
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
		return "", fmt.Errorf("OIDC discovery: the document is for issuer %s, not %q", quote(doc.Issuer), issuer)
	}
	if err := checkFetchURL(doc.JWKSURI); err != nil {
		return "", fmt.Errorf("OIDC discovery: jwks_uri %s: %v", quote(doc.JWKSURI), err)
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
// could otherwise hand us their own keys. The fetch's context bounds its
// time.
func newKeyClient(transport http.RoundTripper) *http.Client {
	return &http.Client{
		Transport: transport,
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
