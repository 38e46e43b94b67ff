package tokenservice

import (
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/acsgo/acsidentity"
	"github.com/acsgo/acsidentity/internal/wire"
)

// Defaults of Options.
const (
	DefaultMaxBodyBytes = 32 << 10
	DefaultACSTimeout   = 30 * time.Second
)

// Default rate limit: 30 requests a minute per caller, bursts of 10.
const (
	defaultRatePerMinute = 30
	defaultRateBurst     = 10
)

// Options configures a Service. The zero value is safe: tokens with the
// voip scope, any lifetime ACS allows, 30 requests a minute per caller
// (burst 10), logs to slog.Default — and callers must be authenticated,
// except against an emulator on a loopback address.
type Options struct {
	// Authenticate decides who is calling, with the app's own sign-in: a
	// session cookie, an API key, a value an earlier middleware put in the
	// request's context. The same Caller.ID always gets the same ACS
	// identity, and different IDs never share one (see Caller).
	//
	// An error refuses the request: 401 AuthenticationRequired, or what an
	// *Error says. An empty Caller.ID is refused too. An error that wraps
	// ErrNoCredentials (the request carries no credentials at all) lets the
	// request in anonymously when AllowAnonymous is set.
	//
	// Ready authenticators: package
	// github.com/acsgo/acsidentity/tokenservice/oidc (Entra ID and any OIDC
	// issuer's bearer tokens); DevelopmentCallers below.
	Authenticate func(r *http.Request) (Caller, error)

	// AllowAnonymous lets in requests without credentials: with no
	// Authenticate, every request; otherwise those for which Authenticate
	// returns ErrNoCredentials. An anonymous caller cannot be told apart
	// from any other, so each call gets a new ACS identity (as in the
	// official quickstart), and it has no identity to look up or delete.
	//
	// With no Authenticate and AllowAnonymous false, New refuses a client
	// of a real ACS resource (ErrAuthenticateRequired); a client of an
	// emulator on a loopback address is served anonymously.
	AllowAnonymous bool

	// DevelopmentCallers lets an anonymous request name a lasting identity
	// in the X-Caller-Id header, so the stable-identity flow can be tried
	// without an identity provider. Anyone can send any header, so New
	// accepts it only with a client of an emulator on a loopback address
	// and with anonymous requests allowed. Development identities are
	// apart from Authenticate's callers: no Caller.ID shares one.
	DevelopmentCallers bool

	// CustomIDKey, when set (16 bytes or more), keys the HMAC-SHA256 that
	// turns a caller ID into an ACS custom ID (and the key of the caller's
	// record in Identities), so that someone who can list the resource's
	// identities, or read the store, and guess a caller ID still cannot
	// tell whose identity is whose. Without it the custom ID is a plain
	// SHA-256. Changing or losing the key gives every caller a new
	// identity.
	CustomIDKey []byte

	// Identities, when set, records which ACS identity belongs to which
	// caller, shared by every instance of the service (package redisstore
	// or sqlstore; NewMemoryIdentityStore for one instance). A caller's
	// first token request makes an identity without a custom ID and
	// records it. This works with any api-version, GA included, and does
	// not depend on ACS making creates with one custom ID atomic (the real
	// service does not). GET /user answers 404 for a caller with no record.
	//
	// Without it, ACS keeps the mapping: the caller's identity is the one
	// with the caller's custom ID, which needs api-version
	// 2025-03-02-preview (NewClientOptions sets it); see IdentityStore.
	// Switching between the two gives every caller a new identity.
	Identities IdentityStore

	// Tokens says which scopes and lifetimes callers may ask for.
	Tokens TokenPolicy

	// AllowedHosts are host names (without port) the service answers in
	// the Host header; others get 403 HostNotAllowed. An entry is a name or
	// an IP address, ".example.test" for that domain and every name under
	// it, or "*" for any host; the emulator's -allow-host takes the same.
	// Empty: any host — except in development mode (anonymous requests
	// allowed, and a client of an emulator on a loopback address), where
	// only loopback names (localhost, 127.0.0.0/8, ::1; not *.localhost)
	// are answered, so that a web page cannot reach a local service by DNS
	// rebinding; names listed here are then answered as well.
	AllowedHosts []string

	// CaseInsensitivePaths matches the endpoints' paths up to ASCII case
	// (/Token is /token), as the Azure Functions host routes; other
	// characters are never folded. Default: exact paths. Where the Service
	// is mounted is the router's business (see Service).
	CaseInsensitivePaths bool

	// RateLimiter limits each caller's requests. Default: in memory, per
	// instance, 30 a minute with bursts of 10. Behind several instances,
	// give them one shared limiter, or each allows the full rate.
	RateLimiter RateLimiter

	// Logger receives one line per request, and a few at start. Tokens,
	// keys, query strings and bodies are never logged. Default:
	// slog.Default().
	Logger *slog.Logger
	// LogAttrs, when set, adds attributes to each request's log line, such
	// as the request ID a platform put in a header.
	LogAttrs func(r *http.Request) []slog.Attr

	// MaxBodyBytes bounds request bodies. Default 32 KiB: the largest
	// legitimate body, the Teams exchange's, is a few kilobytes.
	MaxBodyBytes int64
	// ACSTimeout bounds the ACS calls of one request, retries included.
	// Default 30 seconds.
	ACSTimeout time.Duration
}

// Service is the trusted token endpoint, an http.Handler. Relative to
// where it is mounted:
//
//	GET|POST /token        a token for the caller's identity
//	POST     /token/teams  exchange a Teams user's Entra ID token
//	GET      /user         the caller's identity, without a token
//	DELETE   /user         revoke and delete the caller's identity
//
// Mount it with the router's own means, stating the prefix once:
// mux.Handle("/acs/", svc) (the ServeMux pattern tells it where it is),
// http.StripPrefix("/acs", svc), or chi's r.Mount("/acs", svc). As the
// server's handler it serves /token, /token/teams and /user.
//
// It is safe for concurrent use.
type Service struct {
	endpoints    endpoints
	authenticate func(*http.Request) (Caller, error)
	anonymous    bool
	devCallers   bool
	customIDKey  []byte
	hosts        hostGuard
	fold         bool
	limit        RateLimiter
	log          requestLogger
}

// New returns a Service that issues tokens with client, which must be
// able to create identities with a custom ID (api-version
// 2025-03-02-preview; NewClientOptions sets it) unless every caller is
// anonymous or Options.Identities is set. Options may be nil. New checks
// everything it can: a mistake is an error here, not a failure later.
func New(client *acsidentity.Client, options *Options) (*Service, error) {
	if client == nil {
		return nil, errors.New("tokenservice: the ACS client is nil")
	}
	var o Options
	if options != nil {
		o = *options
	}
	if len(o.CustomIDKey) > 0 && len(o.CustomIDKey) < 16 {
		return nil, errors.New("tokenservice: CustomIDKey must be at least 16 bytes")
	}
	s := &Service{
		authenticate: o.Authenticate,
		anonymous:    o.AllowAnonymous,
		devCallers:   o.DevelopmentCallers,
		customIDKey:  slices.Clone(o.CustomIDKey),
		fold:         o.CaseInsensitivePaths,
		limit:        o.RateLimiter,
		log:          requestLogger{log: o.Logger, attrs: o.LogAttrs},
	}
	if s.log.log == nil {
		s.log.log = slog.Default()
	}
	if s.limit == nil {
		s.limit = NewMemoryRateLimiter(defaultRatePerMinute, defaultRateBurst)
	}
	maxBody, acsTimeout := o.MaxBodyBytes, o.ACSTimeout
	if maxBody <= 0 {
		maxBody = DefaultMaxBodyBytes
	}
	if acsTimeout <= 0 {
		acsTimeout = DefaultACSTimeout
	}
	rules, err := newTokenRules(o.Tokens, maxBody)
	if err != nil {
		return nil, err
	}
	s.endpoints = endpoints{acs: client, identities: newIdentities(client, o.Identities, acsTimeout, s.log.log), rules: rules, acsTimeout: acsTimeout}
	local, err := isLoopbackEndpoint(client.Endpoint())
	if err != nil {
		return nil, err
	}
	if err := s.setAccess(client, local, o.Identities != nil); err != nil {
		return nil, err
	}
	// Development mode: anonymous callers of an emulator.
	if s.hosts, err = newHostGuard(s.anonymous && local, o.AllowedHosts); err != nil {
		return nil, err
	}
	s.logStart(client, local)
	return s, nil
}

// setAccess checks who may call against what the client talks to.
func (s *Service) setAccess(client *acsidentity.Client, local, store bool) error {
	if s.authenticate == nil && !s.anonymous {
		if !local {
			return ErrAuthenticateRequired
		}
		s.anonymous = true // an emulator: nothing real is at stake
	}
	if s.devCallers && (!local || !s.anonymous) {
		return errors.New("tokenservice: DevelopmentCallers needs a client of an emulator on a loopback address, and anonymous requests allowed: anyone can send X-Caller-Id")
	}
	lasting := s.authenticate != nil || s.devCallers
	if v := client.APIVersion(); lasting && !store && wire.Known(v) && !wire.Has(v, wire.FeatureCustomID) {
		return errors.New("tokenservice: the client's api-version " + v + " has no custom IDs, which give each caller a lasting identity without an identity store; use " +
			strings.Join(wire.VersionsWith(wire.FeatureCustomID), " or ") + " (NewClientOptions sets it), or set Options.Identities")
	}
	return nil
}

// logStart says at start who may call.
func (s *Service) logStart(client *acsidentity.Client, local bool) {
	log := s.log.log
	switch {
	case s.authenticate == nil && local:
		log.Warn("tokenservice: anonymous callers are allowed (an emulator on " + client.Endpoint() + "): each call gets a new identity" + devHint(s.devCallers))
	case s.authenticate == nil:
		log.Warn("tokenservice: anonymous callers are allowed: anyone who can reach the service gets tokens, each call for a new identity")
	case s.anonymous:
		log.Info("tokenservice: callers without credentials are allowed, each call for a new identity" + devHint(s.devCallers))
	}
}

func devHint(devCallers bool) string {
	if devCallers {
		return ", or a lasting one named by the " + DevCallerHeader + " header"
	}
	return ""
}
