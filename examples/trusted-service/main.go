// Command trusted-service is an Azure Communication Services trusted token
// service: it authenticates callers and hands each one an ACS access token
// for its own ACS identity, in the shape the ACS Calling and Chat SDKs'
// token refreshers consume.
//
// The same binary is an Azure Functions custom handler (host.json,
// */function.json; the host sets FUNCTIONS_CUSTOMHANDLER_PORT and forwards
// the HTTP requests) and a plain net/http service. With nothing configured
// it starts an in-process ACS Identity emulator and serves
// http://localhost:7071/api/token.
//
// Endpoints:
//
//	GET|POST /api/token        a token for the caller's identity
//	POST     /api/token/teams  exchange a Teams user's Entra ID token
//	DELETE   /api/user         revoke and delete the caller's identity
//	GET      /                 health (the Functions host polls it)
//
// Configuration is by environment variable; see README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/acsgo/acsidentity"
	"github.com/acsgo/acsidentity/emulator"
)

// apiVersion is the ACS api-version the service uses: the preview, because
// lasting identities need custom IDs.
const apiVersion = "2025-03-02-preview"

// Server timeouts. Write covers the ACS calls (acsTimeout) with room to spare.
const (
	readHeaderTimeout = 10 * time.Second
	readTimeout       = 30 * time.Second
	writeTimeout      = 60 * time.Second
	idleTimeout       = 120 * time.Second
	maxHeaderBytes    = 64 << 10
	shutdownTimeout   = 25 * time.Second
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "trusted-service:", err)
		var ce *configError
		if errors.As(err, &ce) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

// run starts the service and serves until ctx is done, then shuts down
// gracefully. Logs go to stderr.
func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	cfg, err := loadConfig(args, getenv, stderr)
	if err != nil {
		return err
	}
	log := newLogger(cfg, stderr)

	acs, closeBackend, err := newACSClient(cfg, log)
	if err != nil {
		return err
	}
	defer closeBackend()

	auth := &authenticator{
		allowAnonymous: cfg.allowAnonymous,
		devCallers:     cfg.backend == backendEmulator,
		customIDKey:    cfg.customIDKey,
	}
	if o := cfg.oidc; o != nil {
		keys := &jwksCache{url: o.jwksURL, issuer: o.issuer, client: newKeyClient(nil), minRefresh: o.minRefresh, now: time.Now, logger: log}
		auth.validator = &validator{issuer: o.issuer, audiences: o.audiences, requiredScope: o.requiredScope, algorithms: o.algorithms, keys: keys, now: time.Now}
		jwksURL := o.jwksURL
		if jwksURL == "" {
			jwksURL = "(from " + discoveryURL(o.issuer) + ")"
		}
		log.Info("callers authenticate with OIDC bearer tokens", "issuer", o.issuer, "audience", o.audiences, "jwks_url", jwksURL, "algorithms", o.algorithms)
		// Fetch the keys now, so a wrong issuer or JWKS URL shows in the
		// log at start.
		go keys.KeyRead(ctx, "")
	}
	switch {
	case cfg.allowAnonymous && cfg.backend == backendEmulator:
		log.Warn("anonymous callers are allowed (embedded emulator): each call gets a new identity, or a lasting one named by the " + devCallerHeader + " header")
	case cfg.allowAnonymous:
		log.Warn("anonymous callers are allowed (" + envAllowAnonymous + "=true): anyone who can reach the service gets tokens, each call for a new identity")
	}
	limit := newLimiter(cfg.ratePerMinute, cfg.rateBurst, time.Now)
	if cfg.ratePerMinute == 0 {
		log.Warn("the per-caller rate limit is off (" + envRatePerMinute + "=0)")
	} else {
		log.Info("per-caller rate limit", "per_minute", cfg.ratePerMinute, "burst", cfg.rateBurst)
	}

	if cfg.debugAddr != "" {
		stopDebug, err := serveDebug(ctx, cfg.debugAddr, log)
		if err != nil {
			return err
		}
		defer stopDebug()
	}

	var cors *corsPolicy
	switch {
	case len(cfg.corsOrigins) > 0:
		cors = &corsPolicy{origins: cfg.corsOrigins, devCallers: auth.devCallers}
		log.Info("browser apps on these origins may call the service (CORS)", "origins", cfg.corsOrigins)
	case cfg.corsAnyLoopback:
		cors = &corsPolicy{anyLoopback: true, devCallers: auth.devCallers}
		log.Info("browser apps on any http://localhost:<port> or http://127.0.0.1:<port> origin may call the service (CORS; embedded emulator, " + envCORSOrigins + " unset)")
	default:
		log.Info("no CORS headers: set " + envCORSOrigins + " for browser apps on other origins, or configure CORS on the platform")
	}
	svc := &service{acs: acs, auth: auth, limit: limit, cors: cors}
	srv := &http.Server{
		Handler:           withLogging(log, svc),
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", cfg.addr, err)
	}
	addr := ln.Addr().String()
	_, port, _ := net.SplitHostPort(addr)
	log.Info("listening", "addr", addr, "token_url", "http://localhost:"+port+"/api/token")

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serving: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down: finishing requests in flight")
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("shutdown did not finish cleanly", "error", err.Error())
	}
	log.Info("stopped")
	return nil
}

// serveDebug serves net/http/pprof on addr (a loopback address, checked by
// loadConfig), so that a load test can watch goroutines and the heap.
func serveDebug(ctx context.Context, addr string, log *slog.Logger) (stop func(), err error) {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listening on -debug-addr %s: %w", addr, err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: readHeaderTimeout, BaseContext: func(net.Listener) context.Context { return context.WithoutCancel(ctx) }}
	go srv.Serve(ln)
	log.Info("debug endpoint listening", "addr", ln.Addr().String(), "path", "/debug/pprof/")
	return func() { srv.Close() }, nil
}

func newLogger(cfg *config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.logLevel}
	if cfg.logFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// clientOptions are the ACS client's options: the preview api-version, and
// retries short enough that the caller's own refresher, not this request,
// waits out a throttled resource (429 is passed back at once as 503).
func clientOptions() *acsidentity.ClientOptions {
	return &acsidentity.ClientOptions{ClientOptions: azcore.ClientOptions{
		APIVersion: apiVersion,
		Retry: policy.RetryOptions{
			MaxRetries:    2,
			TryTimeout:    10 * time.Second,
			RetryDelay:    500 * time.Millisecond,
			MaxRetryDelay: 4 * time.Second,
			StatusCodes:   []int{http.StatusRequestTimeout, http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout},
		},
		Telemetry: policy.TelemetryOptions{ApplicationID: "acs-trusted-service"},
		Transport: acsTransport,
	}}
}

// acsTransport is net/http's default transport (proxy from the environment,
// HTTP/2, its timeouts) with enough idle connections per host for a busy
// service: azcore's default keeps 10, and with 16 concurrent callers over
// HTTP/1.1 about one call in five opened a new connection
// (bench/trusted-load).
var acsTransport = func() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 128
	return &http.Client{Transport: tr}
}()

// newACSClient makes the ACS client for the configured backend. stop
// stops the embedded emulator, if any.
func newACSClient(cfg *config, log *slog.Logger) (c *acsidentity.Client, stop func(), err error) {
	stop = func() {}
	switch cfg.backend {
	case backendConnectionString:
		cs, err := acsidentity.ParseConnectionString(cfg.connectionString)
		if err != nil {
			return nil, nil, &configError{msg: envConnectionString + ": " + err.Error()} // never contains the key
		}
		if c, err = acsidentity.NewClientFromConnectionString(cfg.connectionString, clientOptions()); err != nil {
			return nil, nil, err
		}
		log.Info("using the ACS resource of "+envConnectionString, "endpoint", cs.Endpoint, "auth", "access key")
	case backendEntra:
		cred, err := azidentity.NewDefaultAzureCredential(nil)
		if err != nil {
			return nil, nil, fmt.Errorf("making the Entra ID credential for %s: %w", envEndpoint, err)
		}
		if c, err = acsidentity.NewClient(cfg.endpoint, cred, clientOptions()); err != nil {
			return nil, nil, err
		}
		log.Info("using the ACS resource of "+envEndpoint, "endpoint", cfg.endpoint, "auth", "Entra ID (DefaultAzureCredential: managed identity in Azure)")
	default:
		em, err := emulator.Start(nil)
		if err != nil {
			return nil, nil, fmt.Errorf("starting the embedded ACS emulator: %w", err)
		}
		if c, err = acsidentity.NewClientFromConnectionString(em.ConnectionString(), clientOptions()); err != nil {
			em.Close()
			return nil, nil, err
		}
		stop = func() { em.Close() }
		log.Warn("no ACS resource is configured ("+envConnectionString+" or "+envEndpoint+"): "+
			"using the embedded ACS Identity EMULATOR. This is NOT Azure: its tokens work only with the emulator, and its identities vanish when the service stops.",
			"emulator_url", em.URL)
	}
	return c, stop, nil
}
