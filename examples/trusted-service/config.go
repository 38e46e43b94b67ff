package main

import (
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/acsgo/acsidentity"
	"github.com/acsgo/acsidentity/emulator"
	"github.com/acsgo/acsidentity/tokenservice"
	"github.com/acsgo/acsidentity/tokenservice/oidc"
)

// Environment variables the service reads. In Azure they are application
// settings; locally they come from local.settings.json (func start) or the
// shell (go run).
const (
	envConnectionString = "COMMUNICATION_SERVICES_CONNECTION_STRING"
	envEndpoint         = "COMMUNICATION_SERVICES_ENDPOINT"
	envFunctionsPort    = "FUNCTIONS_CUSTOMHANDLER_PORT"
	envPort             = "PORT"

	envOIDCIssuer     = "TRUSTED_SERVICE_OIDC_ISSUER"
	envOIDCAudience   = "TRUSTED_SERVICE_OIDC_AUDIENCE"
	envOIDCJWKSURL    = "TRUSTED_SERVICE_OIDC_JWKS_URL"
	envOIDCScope      = "TRUSTED_SERVICE_OIDC_REQUIRED_SCOPE"
	envOIDCAlgorithms = "TRUSTED_SERVICE_OIDC_ALGORITHMS"
	envOIDCMinRefresh = "TRUSTED_SERVICE_OIDC_JWKS_MIN_REFRESH"

	envCORSOrigins    = "TRUSTED_SERVICE_CORS_ORIGINS"
	envAllowedHosts   = "TRUSTED_SERVICE_ALLOWED_HOSTS"
	envAllowAnonymous = "TRUSTED_SERVICE_ALLOW_ANONYMOUS"
	envRatePerMinute  = "TRUSTED_SERVICE_RATE_PER_MINUTE"
	envRateBurst      = "TRUSTED_SERVICE_RATE_BURST"
	envCustomIDKey    = "TRUSTED_SERVICE_CUSTOM_ID_KEY"

	envIdentityStore  = "TRUSTED_SERVICE_IDENTITY_STORE"
	envRateLimitStore = "TRUSTED_SERVICE_RATE_LIMIT_STORE"
	envLogFormat      = "TRUSTED_SERVICE_LOG_FORMAT"
	envLogLevel       = "TRUSTED_SERVICE_LOG_LEVEL"
	envEmulatorAddr   = "TRUSTED_SERVICE_EMULATOR_ADDR"
)

// oidcIssuerEmulator, as TRUSTED_SERVICE_OIDC_ISSUER, names the embedded
// emulator's development OpenID Connect issuer, whose address is known only
// once the emulator listens.
const oidcIssuerEmulator = "emulator"

// defaultPort is the port `func start` uses, so URLs match.
const defaultPort = "7071"

// The per-caller rate limit unless configured: tokenservice's default.
const (
	defaultRatePerMinute = 30
	defaultRateBurst     = 10
)

// The ACS resources the service can talk to (config.backend).
const (
	backendEmulator         = "embedded emulator" // in process: nothing was configured
	backendConnectionString = "connection string (access key)"
	backendEntra            = "Entra ID (DefaultAzureCredential)" // managed identity in Azure
)

// config is everything the service is told at start.
type config struct {
	addr      string // the TCP address to listen on
	debugAddr string // when set, a loopback address serving net/http/pprof

	backend          string
	connectionString string // secret: never log it
	endpoint         string

	// loopbackACS: the backend is on a loopback address (the embedded
	// emulator, or a connection string to one): with anonymous callers
	// allowed, X-Caller-Id development callers are too. devEmulator: it
	// is certainly an emulator (the embedded one, or on loopback with the
	// emulator's public development key), where nothing real is at stake:
	// anonymous callers are allowed unless told otherwise. A real resource
	// reached through a loopback tunnel or proxy is loopbackACS but never
	// devEmulator, so it is never served to anonymous callers by default.
	loopbackACS, devEmulator bool

	// identityStore and rateLimitStore are the URLs of the shared stores
	// (TRUSTED_SERVICE_IDENTITY_STORE, TRUSTED_SERVICE_RATE_LIMIT_STORE),
	// checked; "" for none. Secret: they may hold a password.
	identityStore, rateLimitStore string
	rateBurst                     int

	// emulatorAddr is the loopback address the embedded emulator listens
	// on ("127.0.0.1:0": any free port).
	emulatorAddr string

	log *slog.Logger
	// oidc is nil when callers are not authenticated with bearer tokens.
	// auth is its verifier; with the embedded emulator's issuer
	// (TRUSTED_SERVICE_OIDC_ISSUER=emulator) it is made once the emulator
	// listens, and oidcFromEmulator says so.
	oidc             *oidc.Config
	auth             *oidc.Verifier
	oidcFromEmulator bool
	// service holds the tokenservice options read here (all but the
	// authenticator and the logger).
	service tokenservice.Options
	// cors is the CORS policy, and corsLayer its middleware (nil: no CORS
	// headers).
	cors          tokenservice.CORSOptions
	corsLayer     func(http.Handler) http.Handler
	ratePerMinute float64 // 0: no limit
}

// configError is a configuration mistake; its message says what to set.
type configError struct{ msg string }

func (e *configError) Error() string { return e.msg }

func configErrorf(format string, args ...any) error {
	return &configError{msg: fmt.Sprintf(format, args...)}
}

// loadConfig reads the command line and the environment (through getenv,
// so tests can pass their own), and makes the logger (to stderr) and the
// OIDC authenticator. Flag errors and -h are reported on stderr.
func loadConfig(args []string, getenv func(string) string, stderr io.Writer) (*config, error) {
	fs := flag.NewFlagSet("trusted-service", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "", "listen address `host:port` (default 127.0.0.1:$"+envFunctionsPort+", else :$"+envPort+", else 127.0.0.1:"+defaultPort+")")
	debugAddr := fs.String("debug-addr", "", "also serve Go's profiler (net/http/pprof: goroutines, heap, CPU) on this loopback `host:port`; off by default")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: trusted-service [-addr host:port] [-debug-addr host:port]\n\n"+
			"An ACS trusted token service: an Azure Functions custom handler and a plain HTTP server.\n"+
			"With nothing configured it runs against an in-process ACS Identity emulator (not Azure).\n"+
			"Configuration is by environment variable; see README.md.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, configErrorf("unexpected argument %q; configuration is by environment variable (see README.md)", fs.Arg(0))
	}
	env := func(name string) string { return strings.TrimSpace(getenv(name)) }
	port := func(name, host string) (string, error) {
		p := env(name)
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return "", configErrorf("%s=%q is not a TCP port", name, p)
		}
		return net.JoinHostPort(host, p), nil
	}

	c := &config{addr: *addr, backend: backendEmulator}
	var err error
	switch {
	case c.addr != "":
	case env(envFunctionsPort) != "":
		// The Functions host only ever calls the handler on loopback.
		if c.addr, err = port(envFunctionsPort, "127.0.0.1"); err != nil {
			return nil, err
		}
	case env(envPort) != "":
		// Container platforms (Cloud Run, Container Apps, Heroku...) set
		// PORT and send traffic from outside the container: every
		// interface.
		if c.addr, err = port(envPort, ""); err != nil {
			return nil, err
		}
	default:
		c.addr = net.JoinHostPort("127.0.0.1", defaultPort)
	}
	if _, _, err := net.SplitHostPort(c.addr); err != nil {
		return nil, configErrorf("-addr %q is not host:port", c.addr)
	}
	if *debugAddr != "" {
		host, _, err := net.SplitHostPort(*debugAddr)
		if ip := net.ParseIP(host); err != nil || (host != "localhost" && (ip == nil || !ip.IsLoopback())) {
			return nil, configErrorf("-debug-addr %q must be a loopback host:port, such as 127.0.0.1:6060: the profiler must not be reachable from other machines", *debugAddr)
		}
		c.debugAddr = *debugAddr
	}

	var logOpts slog.HandlerOptions
	if s := env(envLogLevel); s != "" {
		var level slog.Level
		if err := level.UnmarshalText([]byte(s)); err != nil {
			return nil, configErrorf("%s=%q must be debug, info, warn or error", envLogLevel, s)
		}
		logOpts.Level = level
	}
	switch f := strings.ToLower(env(envLogFormat)); f {
	case "", "text":
		c.log = slog.New(slog.NewTextHandler(stderr, &logOpts))
	case "json":
		c.log = slog.New(slog.NewJSONHandler(stderr, &logOpts))
	default:
		return nil, configErrorf("%s=%q must be text or json", envLogFormat, f)
	}

	c.connectionString = env(envConnectionString)
	c.endpoint = env(envEndpoint)
	switch {
	case c.connectionString != "" && c.endpoint != "":
		return nil, configErrorf("both %s and %s are set; set %s to use the access key, or only %s to use Entra ID (managed identity)",
			envConnectionString, envEndpoint, envConnectionString, envEndpoint)
	case c.connectionString != "":
		c.backend = backendConnectionString
		if parsed, err := acsidentity.ParseConnectionString(c.connectionString); err == nil {
			c.loopbackACS = isLoopbackURL(parsed.Endpoint)
			c.devEmulator = c.loopbackACS && parsed.AccessKey == emulator.DevelopmentKey
		} // else newACSClient reports it, without the key
	case c.endpoint != "":
		if u, err := url.Parse(c.endpoint); err != nil || u.Scheme != "https" || u.Host == "" {
			return nil, configErrorf("%s must be an https URL such as https://<resource>.communication.azure.com", envEndpoint)
		}
		c.backend = backendEntra
	default:
		c.loopbackACS, c.devEmulator = true, true // the embedded emulator
	}

	c.emulatorAddr = "127.0.0.1:0"
	if s := env(envEmulatorAddr); s != "" {
		if c.backend != backendEmulator {
			return nil, configErrorf("%s is set, but the backend is a real ACS resource (%s): it is the address of the embedded emulator, which runs only when neither %s nor %s is set",
				envEmulatorAddr, c.backend, envConnectionString, envEndpoint)
		}
		host, _, err := net.SplitHostPort(s)
		if ip := net.ParseIP(host); err != nil || (host != "localhost" && (ip == nil || !ip.IsLoopback())) {
			return nil, configErrorf("%s=%q must be a loopback host:port, such as 127.0.0.1:10780: the embedded emulator's key is public", envEmulatorAddr, s)
		}
		c.emulatorAddr = s
	}

	o := &c.service
	if s := env(envAllowAnonymous); s != "" {
		if o.AllowAnonymous, err = strconv.ParseBool(s); err != nil {
			return nil, configErrorf("%s=%q must be true or false", envAllowAnonymous, s)
		}
	}
	if err := c.loadOIDC(env); err != nil {
		return nil, err
	}
	if c.oidc == nil && !o.AllowAnonymous {
		if !c.devEmulator {
			return nil, configErrorf("callers are not authenticated, and the backend may be a real ACS resource (%s; an emulator on loopback counts as one only with its public development key): "+
				"set %s and %s (and %s if the issuer has no OIDC discovery document) to accept OIDC / Entra ID bearer tokens, "+
				"or set %s=true to hand tokens to anyone who can reach the service",
				c.backend, envOIDCIssuer, envOIDCAudience, envOIDCJWKSURL, envAllowAnonymous)
		}
		// An emulator is harmless: anonymous callers are allowed, as
		// tokenservice allows them.
		o.AllowAnonymous = true
	}
	// With an emulator on loopback, X-Caller-Id names a lasting identity
	// (tokenservice allows it nowhere else), so that several replicas on
	// one emulator can be tried by hand.
	o.DevelopmentCallers = c.loopbackACS && o.AllowAnonymous
	// The Functions host routes paths up to ASCII case.
	o.CaseInsensitivePaths = true

	if s := env(envCORSOrigins); s != "" {
		for origin := range strings.SplitSeq(s, ",") {
			if origin = strings.TrimSpace(origin); origin != "" {
				c.cors.Origins = append(c.cors.Origins, origin)
			}
		}
	} else if c.devEmulator {
		c.cors.LoopbackOrigins = true
	}
	if len(c.cors.Origins) > 0 || c.cors.LoopbackOrigins {
		c.cors.DevCallerHeader = o.DevelopmentCallers
		if c.corsLayer, err = tokenservice.NewCORS(c.cors); err != nil {
			return nil, configErrorf("%s: %v", envCORSOrigins, strings.TrimPrefix(err.Error(), "tokenservice: "))
		}
	}

	if s := env(envAllowedHosts); s != "" {
		for h := range strings.SplitSeq(s, ",") {
			o.AllowedHosts = append(o.AllowedHosts, strings.TrimSpace(h)) // checked by tokenservice.New
		}
	}

	c.ratePerMinute = defaultRatePerMinute
	if s := env(envRatePerMinute); s != "" {
		if c.ratePerMinute, err = strconv.ParseFloat(s, 64); err != nil || c.ratePerMinute < 0 || c.ratePerMinute > 1e6 {
			return nil, configErrorf("%s=%q must be a number of requests per minute from 0 (no limit) to 1000000", envRatePerMinute, s)
		}
	}
	burst := defaultRateBurst
	if s := env(envRateBurst); s != "" {
		if burst, err = strconv.Atoi(s); err != nil || burst < 1 || burst > 1e6 {
			return nil, configErrorf("%s=%q must be a whole number from 1 to 1000000", envRateBurst, s)
		}
	}
	c.rateBurst = burst
	o.RateLimiter = tokenservice.NewMemoryRateLimiter(c.ratePerMinute, burst)
	if err := c.loadStores(env); err != nil {
		return nil, err
	}

	if s := env(envCustomIDKey); s != "" {
		if o.CustomIDKey, err = base64.StdEncoding.DecodeString(s); err != nil || len(o.CustomIDKey) < 16 {
			// Do not quote the value: it is a secret.
			return nil, configErrorf("%s must be base64 of at least 16 bytes", envCustomIDKey)
		}
	}
	return c, nil
}

// loadStores checks the URLs of the shared stores: redis://host:port/N
// (rediss:// for TLS), postgres://... (postgresql://...), or sqlite:PATH
// for the identity store; redis:// for the rate limiter. They are opened
// in main (stores.go). The values are never quoted in an error: they may
// hold a password.
func (c *config) loadStores(env func(string) string) error {
	if s := env(envIdentityStore); s != "" {
		switch scheme, _, _ := strings.Cut(s, ":"); strings.ToLower(scheme) {
		case "redis", "rediss", "postgres", "postgresql":
			if u, err := url.Parse(s); err != nil || u.Host == "" {
				return configErrorf("%s must be a URL with a host: redis://host:6379/0, postgres://user:password@host:5432/db", envIdentityStore)
			}
		case "sqlite":
			if strings.TrimPrefix(s[len(scheme)+1:], "//") == "" {
				return configErrorf("%s=sqlite: needs a file path: sqlite:/var/lib/trusted-service/ids.db", envIdentityStore)
			}
		default:
			return configErrorf("%s must start with redis://, rediss://, postgres://, postgresql:// or sqlite:", envIdentityStore)
		}
		c.identityStore = s
	}
	if s := env(envRateLimitStore); s != "" {
		u, err := url.Parse(s)
		if err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") || u.Host == "" {
			return configErrorf("%s must be a Redis URL: redis://host:6379/0 (rediss:// for TLS)", envRateLimitStore)
		}
		if c.ratePerMinute == 0 {
			return configErrorf("%s is set, but the rate limit is off (%s=0)", envRateLimitStore, envRatePerMinute)
		}
		c.rateLimitStore = s
	}
	return nil
}

// isLoopbackURL reports whether u's host is localhost or a loopback IP
// address.
func isLoopbackURL(u string) bool {
	p, err := url.Parse(u)
	if err != nil {
		return false
	}
	h := p.Hostname()
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// oidcFields names the environment variable of each oidc.Config field.
var oidcFields = map[string]string{"Issuer": envOIDCIssuer, "Audiences": envOIDCAudience, "JWKSURL": envOIDCJWKSURL, "Algorithms": envOIDCAlgorithms}

// loadOIDC reads the OIDC settings: none, or the issuer and the audience,
// with the JWKS URL optional (discovered from the issuer when unset), and
// makes the authenticator.
func (c *config) loadOIDC(env func(string) string) error {
	issuer, audience, jwks := env(envOIDCIssuer), env(envOIDCAudience), env(envOIDCJWKSURL)
	if issuer == "" && audience == "" && jwks == "" {
		for _, name := range []string{envOIDCScope, envOIDCAlgorithms, envOIDCMinRefresh} {
			if env(name) != "" {
				return configErrorf("%s is set but %s and %s are not", name, envOIDCIssuer, envOIDCAudience)
			}
		}
		return nil
	}
	var missing []string
	for name, v := range map[string]string{envOIDCIssuer: issuer, envOIDCAudience: audience} {
		if v == "" {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return configErrorf("OIDC authentication needs %s and %s (%s is optional); missing: %s",
			envOIDCIssuer, envOIDCAudience, envOIDCJWKSURL, strings.Join(missing, ", "))
	}
	o := &oidc.Config{Issuer: issuer, Audiences: strings.Split(audience, ","), JWKSURL: jwks, RequiredScope: env(envOIDCScope), Logger: c.log}
	if issuer == oidcIssuerEmulator {
		if c.backend != backendEmulator {
			return configErrorf("%s=%s names the embedded emulator's development issuer, but the backend is a real ACS resource (%s): set the issuer's URL",
				envOIDCIssuer, oidcIssuerEmulator, c.backend)
		}
		if jwks != "" {
			return configErrorf("%s is set with %s=%s: the embedded emulator's issuer has a discovery document; unset %s",
				envOIDCJWKSURL, envOIDCIssuer, oidcIssuerEmulator, envOIDCJWKSURL)
		}
		c.oidcFromEmulator = true
	}
	if s := env(envOIDCAlgorithms); s != "" {
		for a := range strings.SplitSeq(s, ",") {
			o.Algorithms = append(o.Algorithms, strings.TrimSpace(a))
		}
	}
	if s := env(envOIDCMinRefresh); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d < 0 {
			return configErrorf("%s=%q must be a duration such as 5m (0 refreshes on every unknown key ID)", envOIDCMinRefresh, s)
		}
		if o.MinRefresh = d; d == 0 {
			o.MinRefresh = -1 // no minimum
		}
	}
	check := *o
	if c.oidcFromEmulator {
		// The issuer's address is known once the emulator listens
		// (useEmulatorIssuer); the other fields are checked now.
		check.Issuer = "http://127.0.0.1" + emulator.OIDCIssuerPath
		check.Logger = slog.New(slog.DiscardHandler) // not the issuer used
	}
	auth, err := oidc.New(check)
	if c.oidcFromEmulator {
		auth = nil
	}
	if ce, ok := errors.AsType[*oidc.ConfigError](err); ok {
		return configErrorf("%s: %s", oidcFields[ce.Field], ce.Problem)
	} else if err != nil {
		return err
	}
	c.oidc, c.auth = o, auth
	return nil
}
