// Package oidc verifies bearer tokens: JWTs of Microsoft Entra ID or any
// OpenID Connect issuer, checked against the issuer's published keys. Its
// core, Verifier.Verify(ctx, rawToken), knows nothing of HTTP, so any
// router's authentication middleware (net/http, chi, echo) can call it;
// Verifier.Authenticate adapts it to package
// github.com/acsgo/acsidentity/tokenservice:
//
//	verifier, err := oidc.New(oidc.Config{
//		Issuer:    "https://login.microsoftonline.com/<tenant-id>/v2.0",
//		Audiences: []string{"<client ID of your API's app registration>"},
//	})
//	...
//	svc, err := tokenservice.New(client, &tokenservice.Options{Authenticate: verifier.Authenticate})
//
// A token is accepted when its signature verifies with one of the issuer's
// keys (github.com/golang-jwt/jwt/v5 verifies; github.com/MicahParks/keyfunc/v3
// and github.com/MicahParks/jwkset find and check the key), its alg is one
// of Config.Algorithms (never "none" or an HMAC algorithm), its iss is the
// issuer, its aud one of the audiences, exp and nbf and iat hold (two
// minutes of clock skew), it has a subject, and, when Config.RequiredScope
// is set, its scp, scope or roles grant it. A token that verified is
// remembered until its exp (five minutes at most), so that a client that
// refreshes its token hourly costs one signature check per token, not one
// per request.
//
// The keys come from Config.JWKSURL, or from the jwks_uri of the issuer's
// discovery document (<issuer>/.well-known/openid-configuration), fetched
// over https only (http only to loopback hosts, see Config.Issuer), and
// are kept: a token with a key ID the set lacks refreshes it at most once
// per Config.MinRefresh, however many such tokens arrive; the set is
// fetched again when it is 12 hours old; a failed fetch keeps the keys
// there are. At most one fetch is in flight: requests that need its result
// wait for it (or until their own context ends), and after a failed fetch,
// requests without a usable key fail at once until a retry is due.
package oidc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/acsgo/acsidentity/internal/hostguard"
)

// DefaultMinRefresh is Config.MinRefresh's default.
const DefaultMinRefresh = 5 * time.Minute

// Config configures a Verifier.
type Config struct {
	// Issuer is the tokens' iss, exactly: for Entra ID (v2 tokens)
	// https://login.microsoftonline.com/<tenant-id>/v2.0. Required.
	//
	// Without JWKSURL the keys are found through the issuer's discovery
	// document, so the issuer must then be an https URL, except on a
	// loopback host: http is accepted when the host is localhost or a
	// loopback IP literal (127.0.0.1, [::1]), such as the development
	// issuer of the ACS Identity emulator. The https rule keeps a network
	// attacker from serving the discovery document or the keys, and so
	// from minting tokens the service accepts; traffic to a loopback
	// address never leaves the machine, so there is no network to attack.
	// Other names, *.localhost among them, need https: DNS decides where
	// they go. (With JWKSURL set, which follows the same rule, the issuer
	// is only compared with the tokens' iss.)
	Issuer string
	// Audiences are the accepted aud values (the API's client ID, its
	// Application ID URI...). At least one.
	Audiences []string
	// JWKSURL is where the issuer's keys are. Empty: the jwks_uri of the
	// issuer's discovery document, which must then name Issuer. https, or
	// http to a loopback host.
	JWKSURL string
	// RequiredScope, when set, must be among the token's delegated scopes
	// (scp or scope, space-separated) or its application roles (roles):
	// Entra ID's exposed scope, such as access_as_user.
	RequiredScope string
	// Algorithms are the accepted JWS algorithms: a subset of
	// DefaultAlgorithms, which is the default.
	Algorithms []string
	// MinRefresh is the least time between two fetches of the keys for a
	// key ID the set lacks. Zero means DefaultMinRefresh; a negative value,
	// no minimum (a fetch for every unknown key ID: tests and issuers that
	// rotate without notice).
	MinRefresh time.Duration
	// Transport fetches the keys and the discovery document. Default:
	// http.DefaultTransport. Redirects are followed only to URLs that are
	// acceptable themselves, and never from https to http.
	Transport http.RoundTripper
	// CacheSize is how many verified tokens are remembered. Zero means
	// DefaultCacheSize; a negative value remembers none (every request is
	// verified in full).
	CacheSize int
	// Logger receives a line when keys are fetched or a fetch fails.
	// Default: slog.Default().
	Logger *slog.Logger
}

// ConfigError is New's error for a setting it cannot accept.
type ConfigError struct {
	// Field is the Config field: Issuer, Audiences, JWKSURL, Algorithms.
	Field string
	// Problem says what is wrong.
	Problem string
}

// Error says which field is wrong and how.
func (e *ConfigError) Error() string { return "oidc: Config." + e.Field + ": " + e.Problem }

// DefaultAlgorithms returns the JWS algorithms a Verifier can verify
// and accepts by default. "none" and the HMAC algorithms are never
// accepted: a public-key issuer has no business using them, and accepting
// HS256 with a public key is the classic algorithm-confusion attack.
func DefaultAlgorithms() []string {
	return []string{"RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA"}
}

func isSupportedAlgorithm(alg string) bool { return slices.Contains(DefaultAlgorithms(), alg) }

// Verifier checks bearer tokens of one issuer. It is safe for concurrent
// use.
type Verifier struct {
	v     *validator
	cache *tokenCache
}

// New checks cfg and returns a Verifier. It does no I/O: the keys are
// fetched when the first token needs them, or by FetchKeys.
func New(cfg Config) (*Verifier, error) {
	if cfg.Issuer == "" {
		return nil, &ConfigError{"Issuer", "required"}
	}
	var audiences []string
	for _, a := range cfg.Audiences {
		if a = strings.TrimSpace(a); a != "" {
			audiences = append(audiences, a)
		}
	}
	if len(audiences) == 0 {
		return nil, &ConfigError{"Audiences", "at least one audience is required"}
	}
	if cfg.JWKSURL != "" {
		if err := checkFetchURL(cfg.JWKSURL); err != nil {
			return nil, &ConfigError{"JWKSURL", err.Error()}
		}
	} else if err := checkFetchURL(discoveryURL(cfg.Issuer)); err != nil {
		return nil, &ConfigError{"Issuer", err.Error() + " (the discovery document is fetched from it; or set JWKSURL)"}
	}
	algs := DefaultAlgorithms()
	if cfg.Algorithms != nil {
		algs = nil
		for _, a := range cfg.Algorithms {
			if !isSupportedAlgorithm(a) {
				return nil, &ConfigError{"Algorithms", fmt.Sprintf("%q is not one of %s", a, strings.Join(DefaultAlgorithms(), ", "))}
			}
			algs = append(algs, a)
		}
		if len(algs) == 0 {
			return nil, &ConfigError{"Algorithms", "empty: leave it nil for the default"}
		}
	}
	minRefresh := cfg.MinRefresh
	switch {
	case minRefresh == 0:
		minRefresh = DefaultMinRefresh
	case minRefresh < 0:
		minRefresh = 0
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.Default()
	}
	jwks := cfg.JWKSURL
	if jwks == "" {
		jwks = "(from " + discoveryURL(cfg.Issuer) + ")"
	}
	logger.Info("oidc: callers authenticate with bearer tokens", "issuer", cfg.Issuer, "audiences", audiences, "jwks_url", jwks, "algorithms", algs)
	keys := newJWKSCache(cfg.JWKSURL, cfg.Issuer, newKeyClient(cfg.Transport), minRefresh, logger)
	cacheSize := cfg.CacheSize
	if cacheSize == 0 {
		cacheSize = DefaultCacheSize
	}
	return &Verifier{
		v: &validator{
			issuer: cfg.Issuer, audiences: audiences, requiredScope: cfg.RequiredScope,
			algorithms: algs, keys: keys, now: time.Now,
		},
		cache: newTokenCache(cacheSize, time.Now),
	}, nil
}

// checkFetchURL accepts https URLs, and http URLs to loopback hosts:
// localhost and loopback IP literals (tests and local identity providers;
// see Config.Issuer for why).
func checkFetchURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return errors.New("not an absolute URL")
	}
	if u.Scheme == "https" || u.Scheme == "http" && hostguard.IsLoopback(u.Host) {
		return nil
	}
	return errors.New("must be an https URL (http is allowed only for loopback hosts)")
}

// discoveryURL is where an issuer publishes its OpenID Connect discovery
// document (OpenID Connect Discovery 1.0, section 4).
func discoveryURL(issuer string) string {
	return strings.TrimSuffix(issuer, "/") + "/.well-known/openid-configuration"
}

// FetchKeys fetches the issuer's keys now, if none are held yet, so that a
// wrong issuer or JWKS URL shows at start. It returns what the first token
// would otherwise meet: nil, or why the keys are unavailable.
func (v *Verifier) FetchKeys(ctx context.Context) error {
	_, err := v.v.keys.KeyRead(ctx, "")
	if errors.Is(err, errNotInSet) {
		return nil
	}
	return err
}
