package main

import (
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Environment variables the service reads. In Azure they are application
// settings; locally they come from local.settings.json (func start) or the
// shell (go run).
const (
	envConnectionString = "COMMUNICATION_SERVICES_CONNECTION_STRING"
	envEndpoint         = "COMMUNICATION_SERVICES_ENDPOINT"
	envFunctionsPort    = "FUNCTIONS_CUSTOMHANDLER_PORT"

	envOIDCIssuer     = "TRUSTED_SERVICE_OIDC_ISSUER"
	envOIDCAudience   = "TRUSTED_SERVICE_OIDC_AUDIENCE"
	envOIDCJWKSURL    = "TRUSTED_SERVICE_OIDC_JWKS_URL"
	envOIDCScope      = "TRUSTED_SERVICE_OIDC_REQUIRED_SCOPE"
	envOIDCAlgorithms = "TRUSTED_SERVICE_OIDC_ALGORITHMS"
	envOIDCMinRefresh = "TRUSTED_SERVICE_OIDC_JWKS_MIN_REFRESH"

	envCORSOrigins    = "TRUSTED_SERVICE_CORS_ORIGINS"
	envPort           = "PORT"
	envAllowAnonymous = "TRUSTED_SERVICE_ALLOW_ANONYMOUS"
	envRatePerMinute  = "TRUSTED_SERVICE_RATE_PER_MINUTE"
	envRateBurst      = "TRUSTED_SERVICE_RATE_BURST"
	envCustomIDKey    = "TRUSTED_SERVICE_CUSTOM_ID_KEY"
	envLogFormat      = "TRUSTED_SERVICE_LOG_FORMAT"
	envLogLevel       = "TRUSTED_SERVICE_LOG_LEVEL"
)

// Defaults.
const (
	defaultPort          = "7071" // the port `func start` uses, so URLs match
	defaultRatePerMinute = 30
	defaultRateBurst     = 10
	defaultMinRefresh    = 5 * time.Minute
)

// backendKind says which ACS resource the service talks to.
type backendKind int

const (
	// backendEmulator is the in-process emulator: nothing was configured.
	backendEmulator backendKind = iota
	// backendConnectionString is a resource reached with its access key.
	backendConnectionString
	// backendEntra is a resource reached with Entra ID (managed identity in Azure).
	backendEntra
)

func (b backendKind) String() string {
	switch b {
	case backendConnectionString:
		return "connection string (access key)"
	case backendEntra:
		return "Entra ID (DefaultAzureCredential)"
	}
	return "embedded emulator"
}

// config is everything the service is told at start.
type config struct {
	// addr is the TCP address to listen on.
	addr string
	// debugAddr, when set, is a loopback address serving net/http/pprof.
	debugAddr string

	backend          backendKind
	connectionString string // secret: never log it
	endpoint         string

	// oidc is nil when callers are not authenticated with bearer tokens.
	oidc *oidcConfig
	// allowAnonymous lets requests without a bearer token in.
	allowAnonymous bool

	// corsOrigins are the browser origins allowed to call the service;
	// corsAnyLoopback allows any http loopback origin (the embedded
	// emulator's default when corsOrigins is unset).
	corsOrigins     []string
	corsAnyLoopback bool

	ratePerMinute float64 // 0 disables the limit
	rateBurst     int

	// customIDKey, when set, keys the HMAC that turns a caller into a custom ID.
	customIDKey []byte // secret: never log it

	logFormat string // "text" or "json"
	logLevel  slog.Level
}

// oidcConfig configures bearer-token (OIDC / Entra ID) caller authentication.
type oidcConfig struct {
	issuer        string
	audiences     []string
	jwksURL       string
	requiredScope string
	algorithms    []string
	minRefresh    time.Duration
}

// configError is a configuration mistake; its message says what to set.
type configError struct{ msg string }

func (e *configError) Error() string { return e.msg }

func configErrorf(format string, args ...any) error {
	return &configError{msg: fmt.Sprintf(format, args...)}
}

// loadConfig reads the command line and the environment (through getenv,
// so tests can pass their own). Flag errors and -h are reported on stderr.
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

	c := &config{}
	switch {
	case *addr != "":
		c.addr = *addr
	case env(envFunctionsPort) != "":
		p := env(envFunctionsPort)
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return nil, configErrorf("%s=%q is not a TCP port", envFunctionsPort, p)
		}
		// The Functions host only ever calls the handler on loopback.
		c.addr = net.JoinHostPort("127.0.0.1", p)
	case env(envPort) != "":
		p := env(envPort)
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return nil, configErrorf("%s=%q is not a TCP port", envPort, p)
		}
		// Container platforms (Cloud Run, Container Apps, Heroku...) set
		// PORT and send traffic from outside the container: every
		// interface.
		c.addr = net.JoinHostPort("", p)
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

	c.connectionString = env(envConnectionString)
	c.endpoint = env(envEndpoint)
	switch {
	case c.connectionString != "" && c.endpoint != "":
		return nil, configErrorf("both %s and %s are set; set %s to use the access key, or only %s to use Entra ID (managed identity)",
			envConnectionString, envEndpoint, envConnectionString, envEndpoint)
	case c.connectionString != "":
		c.backend = backendConnectionString
	case c.endpoint != "":
		u, err := url.Parse(c.endpoint)
		if err != nil || u.Scheme != "https" || u.Host == "" {
			return nil, configErrorf("%s must be an https URL such as https://<resource>.communication.azure.com", envEndpoint)
		}
		c.backend = backendEntra
	default:
		c.backend = backendEmulator
	}

	var err error
	if c.allowAnonymous, err = parseBool(envAllowAnonymous, env(envAllowAnonymous)); err != nil {
		return nil, err
	}
	if c.oidc, err = loadOIDC(env); err != nil {
		return nil, err
	}
	if c.oidc == nil && !c.allowAnonymous {
		if c.backend != backendEmulator {
			return nil, configErrorf("callers are not authenticated, and the backend is a real ACS resource (%s): "+
				"set %s and %s (and %s if the issuer has no OIDC discovery document) to accept OIDC / Entra ID bearer tokens, "+
				"or set %s=true to hand tokens to anyone who can reach the service",
				c.backend, envOIDCIssuer, envOIDCAudience, envOIDCJWKSURL, envAllowAnonymous)
		}
		// The embedded emulator is harmless: anonymous callers are allowed.
		c.allowAnonymous = true
	}

	if s := env(envCORSOrigins); s != "" {
		for o := range strings.SplitSeq(s, ",") {
			if o = strings.TrimSpace(o); o == "" {
				continue
			}
			origin, err := parseOrigin(o)
			if err != nil {
				return nil, configErrorf("%s: %q: %v", envCORSOrigins, o, err)
			}
			c.corsOrigins = append(c.corsOrigins, origin)
		}
	} else if c.backend == backendEmulator {
		c.corsAnyLoopback = true
	}

	c.ratePerMinute = defaultRatePerMinute
	if s := env(envRatePerMinute); s != "" {
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || f < 0 || f > 1e6 {
			return nil, configErrorf("%s=%q must be a number of requests per minute from 0 (no limit) to 1000000", envRatePerMinute, s)
		}
		c.ratePerMinute = f
	}
	c.rateBurst = defaultRateBurst
	if s := env(envRateBurst); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 1e6 {
			return nil, configErrorf("%s=%q must be a whole number from 1 to 1000000", envRateBurst, s)
		}
		c.rateBurst = n
	}

	if s := env(envCustomIDKey); s != "" {
		k, err := base64.StdEncoding.DecodeString(s)
		if err != nil || len(k) < 16 {
			// Do not quote the value: it is a secret.
			return nil, configErrorf("%s must be base64 of at least 16 bytes", envCustomIDKey)
		}
		c.customIDKey = k
	}

	switch f := strings.ToLower(env(envLogFormat)); f {
	case "", "text":
		c.logFormat = "text"
	case "json":
		c.logFormat = "json"
	default:
		return nil, configErrorf("%s=%q must be text or json", envLogFormat, f)
	}
	if s := env(envLogLevel); s != "" {
		if err := c.logLevel.UnmarshalText([]byte(s)); err != nil {
			return nil, configErrorf("%s=%q must be debug, info, warn or error", envLogLevel, s)
		}
	}
	return c, nil
}

// loadOIDC reads the OIDC settings: none, or the issuer and the audience,
// with the JWKS URL optional (discovered from the issuer when unset).
func loadOIDC(env func(string) string) (*oidcConfig, error) {
	issuer, audience, jwks := env(envOIDCIssuer), env(envOIDCAudience), env(envOIDCJWKSURL)
	if issuer == "" && audience == "" && jwks == "" {
		for _, name := range []string{envOIDCScope, envOIDCAlgorithms, envOIDCMinRefresh} {
			if env(name) != "" {
				return nil, configErrorf("%s is set but %s and %s are not", name, envOIDCIssuer, envOIDCAudience)
			}
		}
		return nil, nil
	}
	var missing []string
	for _, v := range []struct{ name, value string }{{envOIDCIssuer, issuer}, {envOIDCAudience, audience}} {
		if v.value == "" {
			missing = append(missing, v.name)
		}
	}
	if len(missing) > 0 {
		return nil, configErrorf("OIDC authentication needs %s and %s (%s is optional); missing: %s",
			envOIDCIssuer, envOIDCAudience, envOIDCJWKSURL, strings.Join(missing, ", "))
	}
	o := &oidcConfig{issuer: issuer, jwksURL: jwks, requiredScope: env(envOIDCScope), minRefresh: defaultMinRefresh}
	for a := range strings.SplitSeq(audience, ",") {
		if a = strings.TrimSpace(a); a != "" {
			o.audiences = append(o.audiences, a)
		}
	}
	if len(o.audiences) == 0 {
		return nil, configErrorf("%s names no audience", envOIDCAudience)
	}
	if jwks != "" {
		if err := checkFetchURL(jwks); err != nil {
			return nil, configErrorf("%s: %v", envOIDCJWKSURL, err)
		}
	} else if err := checkFetchURL(discoveryURL(issuer)); err != nil {
		// The discovery document is fetched from the issuer's URL.
		return nil, configErrorf("%s: %v (or set %s)", envOIDCIssuer, err, envOIDCJWKSURL)
	}
	o.algorithms = defaultAlgorithms()
	if s := env(envOIDCAlgorithms); s != "" {
		o.algorithms = nil
		for a := range strings.SplitSeq(s, ",") {
			a = strings.TrimSpace(a)
			if !isSupportedAlgorithm(a) {
				return nil, configErrorf("%s: %q is not one of %s", envOIDCAlgorithms, a, strings.Join(defaultAlgorithms(), ", "))
			}
			o.algorithms = append(o.algorithms, a)
		}
	}
	if s := env(envOIDCMinRefresh); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d < 0 {
			return nil, configErrorf("%s=%q must be a duration such as 5m (0 refreshes on every unknown key ID)", envOIDCMinRefresh, s)
		}
		o.minRefresh = d
	}
	return o, nil
}

// checkFetchURL accepts https URLs, and http URLs to loopback hosts (tests
// and local identity providers).
func checkFetchURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return errors.New("not an absolute URL")
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if isLoopback(u.Hostname()) {
			return nil
		}
	}
	return errors.New("must be an https URL (http is allowed only for loopback hosts)")
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func parseBool(name, s string) (bool, error) {
	if s == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(s)
	if err != nil {
		return false, configErrorf("%s=%q must be true or false", name, s)
	}
	return b, nil
}
