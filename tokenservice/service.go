package tokenservice

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/acsgo/acsidentity"
	"github.com/acsgo/acsidentity/internal/hmacauth"
	"github.com/acsgo/acsidentity/internal/wire"
)

// Defaults of Options.
const (
	DefaultPathPrefix    = "/api"
	DefaultMaxBodyBytes  = 32 << 10
	DefaultACSTimeout    = 30 * time.Second
	DefaultRatePerMinute = 30
	DefaultRateBurst     = 10
)

// ACS's own range of token lifetimes.
const (
	minACSLifetime = 60 * time.Minute
	maxACSLifetime = 24 * time.Hour
)

// Options configures a Service. The zero value is safe: tokens with the
// voip scope, any lifetime ACS allows, no CORS, 30 requests a minute per
// caller (burst 10), logs to slog.Default — and callers must be
// authenticated, except against an emulator on a loopback address.
type Options struct {
	// PathPrefix is where the endpoints are: PathPrefix+"/token",
	// PathPrefix+"/token/teams" and PathPrefix+"/user". Default "/api".
	// Use the pattern you mount the Service at, so that
	// mux.Handle("/acs/", svc) goes with PathPrefix "/acs", without
	// http.StripPrefix. Paths are matched case-insensitively, as the Azure
	// Functions host routes them.
	PathPrefix string

	// Authenticate decides who is calling, with the app's own sign-in: a
	// session cookie, an API key, a value an earlier middleware put in the
	// request's context. The same caller ID always gets the same ACS
	// identity, on every instance of the service (it becomes the identity's
	// custom ID in ACS, hashed; see CustomIDKey), and different caller IDs
	// never share one.
	//
	// An error refuses the request: 401 AuthenticationRequired, or what an
	// *AuthError says. An empty caller ID is refused too. An error that
	// wraps ErrNoCredentials (the request carries no credentials at all)
	// lets the request in anonymously when AllowAnonymous is set.
	//
	// Ready authenticators: package
	// github.com/acsgo/acsidentity/tokenservice/oidc (Entra ID and any OIDC
	// issuer's bearer tokens); DevelopmentCallers below.
	Authenticate func(r *http.Request) (callerID string, err error)

	// AllowAnonymous lets in requests without credentials: with no
	// Authenticate, every request; otherwise those for which Authenticate
	// returns ErrNoCredentials. An anonymous caller cannot be told apart
	// from any other, so each call gets a new ACS identity (as in the
	// official quickstart) and DELETE of the user is refused.
	//
	// With no Authenticate and AllowAnonymous false, New refuses a client
	// of a real ACS resource; a client of an emulator on a loopback address
	// is served anonymously.
	AllowAnonymous bool

	// DevelopmentCallers lets an anonymous request name a lasting identity
	// in the X-Caller-Id header, so the stable-identity flow can be tried
	// without an identity provider. Anyone can send any header, so New
	// accepts it only with a client of an emulator on a loopback address
	// and with anonymous requests allowed.
	DevelopmentCallers bool

	// CustomIDKey, when set (16 bytes or more), keys the HMAC-SHA256 that
	// turns a caller ID into an ACS custom ID, so that someone who can list
	// the resource's identities and guess a caller ID still cannot tell
	// whose identity is whose. Without it the custom ID is a plain
	// SHA-256. Changing or losing the key gives every caller a new
	// identity.
	CustomIDKey []byte

	// AllowedScopes are the scopes callers may ask for. Default: every
	// scope of acsidentity.PossibleTokenScopeValues.
	AllowedScopes []acsidentity.TokenScope
	// DefaultScopes are issued when the caller names none. Default:
	// voip, the least a Calling client needs.
	DefaultScopes []acsidentity.TokenScope

	// MinLifetime and MaxLifetime bound the lifetime (expiresInMinutes) a
	// caller may ask for, in whole minutes. Default: ACS's own range, 60
	// minutes to 24 hours. A caller who asks for none gets MaxLifetime.
	MinLifetime, MaxLifetime time.Duration

	// CORSOrigins are the browser origins whose pages may call the service
	// (scheme://host[:port], exactly; "*" is refused). CORSLoopbackOrigins
	// allows any http://localhost:<port>, http://127.0.0.1:<port> or
	// http://[::1]:<port> page as well, for local front ends. With neither,
	// the service sends no CORS headers (a platform in front may).
	CORSOrigins         []string
	CORSLoopbackOrigins bool

	// AllowedHosts are host names (without port) the service answers in
	// the Host header; others get 403 HostNotAllowed. Empty: any host —
	// except in development mode (anonymous requests allowed, and a client
	// of an emulator on a loopback address), where only loopback names are
	// answered, so that a web page cannot reach a local service by DNS
	// rebinding; names listed here are then answered as well.
	AllowedHosts []string

	// RateLimiter limits each caller's requests. Default: in memory, per
	// instance, DefaultRatePerMinute a minute with bursts of
	// DefaultRateBurst. Behind several instances, give them one shared
	// limiter, or each allows the full rate.
	RateLimiter RateLimiter

	// Logger receives one line per request, and a few at start and when the
	// OIDC keys change. Tokens, keys, query strings and bodies are never
	// logged. Default: slog.Default().
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

	// TeamsUserID, when set, returns the Entra object ID of the signed-in
	// caller (empty if unknown): the Teams exchange then uses it when the
	// body has no userId, and refuses any other (403), so a caller can
	// exchange only their own Teams token. oidc.Authenticator.ObjectID is
	// one.
	TeamsUserID func(r *http.Request) (objectID string, err error)
}

// Service is the trusted token endpoint, an http.Handler:
//
//	GET|POST {prefix}/token        a token for the caller's identity
//	POST     {prefix}/token/teams  exchange a Teams user's Entra ID token
//	DELETE   {prefix}/user         revoke and delete the caller's identity
//
// It is safe for concurrent use.
type Service struct {
	acs          *acsidentity.Client
	routes       []route
	authenticate func(*http.Request) (string, error)
	anonymous    bool
	devCallers   bool
	devMode      bool // answer loopback Host names only (and allowedHosts)
	allowedHosts []string
	customIDKey  []byte
	scopes       []acsidentity.TokenScope
	defaults     []acsidentity.TokenScope
	defaultList  string // "voip": the defaults, for messages
	minMinutes   int
	maxMinutes   int
	lifetime     time.Duration // when the caller asks for none; 0: ACS's default
	cors         *corsPolicy
	limit        RateLimiter
	log          *slog.Logger
	logAttrs     func(*http.Request) []slog.Attr
	maxBody      int64
	acsTimeout   time.Duration
	teamsUserID  func(*http.Request) (string, error)
}

// route is one endpoint.
type route struct {
	path    string
	methods []string
	allow   string // the Allow header: methods and OPTIONS
	handle  func(s *Service, w http.ResponseWriter, r *http.Request, c *caller, l *requestLog)
}

// Endpoint is one of the Service's endpoints.
type Endpoint struct {
	// Path is the endpoint's path, with the prefix.
	Path string
	// Methods are the methods it takes (OPTIONS aside, which answers CORS
	// preflights on every endpoint).
	Methods []string
}

// Endpoints lists what the Service serves, for a platform's routing
// configuration (the Azure Functions function.json files, say) or a test
// of it.
func (s *Service) Endpoints() []Endpoint {
	out := make([]Endpoint, len(s.routes))
	for i, rt := range s.routes {
		out[i] = Endpoint{Path: rt.path, Methods: slices.Clone(rt.methods)}
	}
	return out
}

// New returns a Service that issues tokens with client, which must be
// able to create identities with a custom ID (api-version
// 2025-03-02-preview; NewClientOptions sets it) unless every caller is
// anonymous. Options may be nil. New checks everything it can: a mistake
// is an error here, not a failure later.
func New(client *acsidentity.Client, options *Options) (*Service, error) {
	if client == nil {
		return nil, errors.New("tokenservice: the ACS client is nil")
	}
	var o Options
	if options != nil {
		o = *options
	}
	s := &Service{
		acs:          client,
		authenticate: o.Authenticate,
		anonymous:    o.AllowAnonymous,
		devCallers:   o.DevelopmentCallers,
		customIDKey:  slices.Clone(o.CustomIDKey),
		limit:        o.RateLimiter,
		log:          o.Logger,
		logAttrs:     o.LogAttrs,
		maxBody:      o.MaxBodyBytes,
		acsTimeout:   o.ACSTimeout,
		teamsUserID:  o.TeamsUserID,
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.limit == nil {
		s.limit = NewMemoryRateLimiter(DefaultRatePerMinute, DefaultRateBurst)
	}
	if s.maxBody <= 0 {
		s.maxBody = DefaultMaxBodyBytes
	}
	if s.acsTimeout <= 0 {
		s.acsTimeout = DefaultACSTimeout
	}
	if err := s.setRoutes(o.PathPrefix); err != nil {
		return nil, err
	}
	if len(o.CustomIDKey) > 0 && len(o.CustomIDKey) < 16 {
		return nil, errors.New("tokenservice: CustomIDKey must be at least 16 bytes")
	}
	if err := s.setAccess(client); err != nil {
		return nil, err
	}
	if err := s.setScopes(o.AllowedScopes, o.DefaultScopes); err != nil {
		return nil, err
	}
	if err := s.setLifetimes(o.MinLifetime, o.MaxLifetime); err != nil {
		return nil, err
	}
	for _, h := range o.AllowedHosts {
		name := strings.ToLower(strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(h), "["), "]"))
		if name == "" || strings.ContainsAny(name, "/ @?#") || strings.Contains(name, ":") && net.ParseIP(name) == nil {
			return nil, fmt.Errorf("tokenservice: AllowedHosts: %q is not a host name (without a port)", h)
		}
		s.allowedHosts = append(s.allowedHosts, name)
	}
	if len(o.CORSOrigins) > 0 || o.CORSLoopbackOrigins {
		s.cors = &corsPolicy{anyLoopback: o.CORSLoopbackOrigins, devCallers: s.devCallers}
		for _, origin := range o.CORSOrigins {
			norm, err := ParseOrigin(origin)
			if err != nil {
				return nil, fmt.Errorf("tokenservice: CORSOrigins: %q: %w", origin, err)
			}
			s.cors.origins = append(s.cors.origins, norm)
		}
	}
	s.logStart()
	return s, nil
}

func (s *Service) setRoutes(prefix string) error {
	if prefix == "" {
		prefix = DefaultPathPrefix
	}
	if !strings.HasPrefix(prefix, "/") || strings.ContainsAny(prefix, "?#") {
		return fmt.Errorf("tokenservice: PathPrefix %q must be a path that starts with /", prefix)
	}
	prefix = strings.TrimRight(prefix, "/")
	add := func(path string, handle func(*Service, http.ResponseWriter, *http.Request, *caller, *requestLog), methods ...string) {
		s.routes = append(s.routes, route{path: prefix + path, methods: methods, allow: strings.Join(methods, ", ") + ", OPTIONS", handle: handle})
	}
	add("/token", (*Service).token, http.MethodGet, http.MethodPost)
	add("/token/teams", (*Service).teamsToken, http.MethodPost)
	add("/user", (*Service).deleteUser, http.MethodDelete)
	return nil
}

// setAccess checks who may call against what the client talks to.
func (s *Service) setAccess(client *acsidentity.Client) error {
	u, err := url.Parse(client.Endpoint())
	if err != nil {
		return fmt.Errorf("tokenservice: the client's endpoint: %w", err)
	}
	local := hmacauth.IsLoopbackHost(u.Host)
	if s.authenticate == nil && !s.anonymous {
		if !local {
			return ErrNotAuthenticated
		}
		s.anonymous = true // an emulator: nothing real is at stake
	}
	if s.devCallers && (!local || !s.anonymous) {
		return errors.New("tokenservice: DevelopmentCallers needs a client of an emulator on a loopback address, and anonymous requests allowed: anyone can send X-Caller-Id")
	}
	s.devMode = s.anonymous && local
	lasting := s.authenticate != nil || s.devCallers
	if v := client.APIVersion(); lasting && wire.Known(v) && !wire.Has(v, wire.FeatureCustomID) {
		return fmt.Errorf("tokenservice: the client's api-version %s has no custom IDs, which give each caller a lasting identity; use %s (NewClientOptions sets it)",
			v, strings.Join(wire.VersionsWith(wire.FeatureCustomID), " or "))
	}
	return nil
}

// logStart says at start who may call and from which pages.
func (s *Service) logStart() {
	u, _ := url.Parse(s.acs.Endpoint())
	switch {
	case s.authenticate == nil && s.devMode:
		s.log.Warn("tokenservice: anonymous callers are allowed (an emulator on " + u.Host + "): each call gets a new identity" + devHint(s.devCallers))
	case s.authenticate == nil:
		s.log.Warn("tokenservice: anonymous callers are allowed: anyone who can reach the service gets tokens, each call for a new identity")
	case s.anonymous:
		s.log.Info("tokenservice: callers without credentials are allowed, each call for a new identity" + devHint(s.devCallers))
	}
	switch {
	case s.cors == nil:
		s.log.Info("tokenservice: no CORS headers: browser apps on other origins need Options.CORSOrigins, or CORS on the platform")
	case s.cors.anyLoopback && len(s.cors.origins) == 0:
		s.log.Info("tokenservice: browser apps on any http://localhost:<port> or http://127.0.0.1:<port> may call the service (CORS)")
	case s.cors.anyLoopback:
		s.log.Info("tokenservice: browser apps on these origins, and on any http://localhost:<port> or http://127.0.0.1:<port>, may call the service (CORS)", "origins", s.cors.origins)
	default:
		s.log.Info("tokenservice: browser apps on these origins may call the service (CORS)", "origins", s.cors.origins)
	}
}

func devHint(devCallers bool) string {
	if devCallers {
		return ", or a lasting one named by the " + DevCallerHeader + " header"
	}
	return ""
}

// ErrNotAuthenticated is New's error for a Service that would hand tokens
// of a real ACS resource to anyone: no Options.Authenticate and no
// Options.AllowAnonymous.
var ErrNotAuthenticated = errors.New("tokenservice: callers are not authenticated and the client is for a real ACS resource: " +
	"set Options.Authenticate (see package tokenservice/oidc for bearer tokens), or Options.AllowAnonymous to hand tokens to anyone who can reach the service")

func (s *Service) setScopes(allowed, defaults []acsidentity.TokenScope) error {
	s.scopes = slices.Clone(allowed)
	if len(s.scopes) == 0 {
		s.scopes = acsidentity.PossibleTokenScopeValues()
	}
	s.defaults = slices.Clone(defaults)
	if len(s.defaults) == 0 {
		s.defaults = []acsidentity.TokenScope{acsidentity.TokenScopeVoIP}
	}
	names := make([]string, len(s.defaults))
	for i, sc := range s.defaults {
		if !slices.Contains(s.scopes, sc) {
			return fmt.Errorf("tokenservice: default scope %q is not one of AllowedScopes", sc)
		}
		names[i] = string(sc)
	}
	s.defaultList = strings.Join(names, ",")
	return nil
}

func (s *Service) setLifetimes(lo, hi time.Duration) error {
	if lo == 0 {
		lo = minACSLifetime
	}
	if hi == 0 {
		hi = maxACSLifetime
	}
	if lo%time.Minute != 0 || hi%time.Minute != 0 || lo < minACSLifetime || hi > maxACSLifetime || lo > hi {
		return fmt.Errorf("tokenservice: MinLifetime %v and MaxLifetime %v must be whole minutes from 60m to 24h, the shorter first", lo, hi)
	}
	s.minMinutes, s.maxMinutes = int(lo/time.Minute), int(hi/time.Minute)
	if hi < maxACSLifetime {
		s.lifetime = hi
	}
	return nil
}

// Header values the service sets on every answer. Their slices are never
// appended to in place (len == cap), so they can be shared.
var (
	nosniff = []string{"nosniff"}
	noStore = []string{"no-store"}
)

// ServeHTTP answers a request: the Host check, CORS headers and preflights,
// 404 and 405, authentication and the rate limit, then the endpoint; and
// logs one line.
func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	l := requestLog{start: time.Now()}
	defer s.finish(w, r, &l)
	h := w.Header()
	h["X-Content-Type-Options"] = nosniff
	h["Cache-Control"] = noStore
	if !s.hostAllowed(r.Host) {
		l.reason = "Host " + strconv.Quote(bounded(r.Host, 64)) + " not allowed"
		s.writeError(w, &l, http.StatusForbidden, "HostNotAllowed", "This service does not answer requests for this host name.")
		return
	}
	var rt *route
	for i := range s.routes {
		if strings.EqualFold(s.routes[i].path, r.URL.Path) {
			rt = &s.routes[i]
			break
		}
	}
	if s.cors.apply(w, r, rt, s, &l) {
		return
	}
	if rt == nil {
		s.writeError(w, &l, http.StatusNotFound, "NotFound", "There is no such endpoint.")
		return
	}
	if !slices.Contains(rt.methods, r.Method) {
		h.Set("Allow", rt.allow)
		s.writeError(w, &l, http.StatusMethodNotAllowed, "MethodNotAllowed", "The method "+bounded(r.Method, maxLogMethod)+" is not allowed here.")
		return
	}
	c, ok := s.identify(w, r, &l)
	if !ok {
		return
	}
	ok, wait, err := s.limit.Allow(r.Context(), c.rateKey)
	switch {
	case err != nil:
		l.level, l.reason = slog.LevelError, "rate limiter: "+err.Error()
		h.Set("Retry-After", "10")
		s.writeError(w, &l, http.StatusServiceUnavailable, "RateLimitUnavailable", "The service cannot take requests right now; retry after the time in the Retry-After header.")
		return
	case !ok:
		l.reason = "rate limited"
		h.Set("Retry-After", retryAfterValue(wait))
		s.writeError(w, &l, http.StatusTooManyRequests, "TooManyRequests", "Too many requests from this caller; retry after the time in the Retry-After header.")
		return
	}
	rt.handle(s, w, r, c, &l)
}

// hostAllowed reports whether the service answers requests for host (the
// Host header, perhaps with a port).
func (s *Service) hostAllowed(host string) bool {
	if !s.devMode && len(s.allowedHosts) == 0 {
		return true
	}
	if s.devMode && hmacauth.IsLoopbackHost(host) {
		return true
	}
	name := strings.ToLower(host)
	if i := strings.LastIndexByte(name, ':'); i >= 0 && !strings.HasSuffix(name, "]") {
		name = name[:i]
	}
	name = strings.TrimSuffix(strings.TrimPrefix(name, "["), "]")
	return slices.Contains(s.allowedHosts, name)
}
