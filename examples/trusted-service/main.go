// Command trusted-service is an Azure Communication Services trusted token
// service: package tokenservice's endpoints (/api/token, /api/token/teams,
// /api/user) and a health probe on /, configured by environment variables
// (README.md). The same binary is an Azure Functions custom handler
// (host.json, */function.json) and a plain net/http service. With nothing
// configured it starts an in-process ACS Identity emulator and serves
// http://localhost:7071/api/token.
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
	"strings"
	"syscall"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/acsgo/acsidentity"
	"github.com/acsgo/acsidentity/emulator"
	"github.com/acsgo/acsidentity/tokenservice"
	"github.com/acsgo/acsidentity/tokenservice/oidc"
)

// shutdownTimeout is how long requests in flight get at SIGTERM.
const shutdownTimeout = 25 * time.Second

// invocationIDHeader is the header the Functions host adds to every request
// it forwards to the handler.
const invocationIDHeader = "X-Azure-Functions-InvocationId"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "trusted-service:", err)
		if _, ok := errors.AsType[*configError](err); ok {
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
	log := cfg.log
	acs, closeBackend, err := newACSClient(cfg)
	if err != nil {
		return err
	}
	defer closeBackend()
	closeStores, err := openStores(ctx, cfg)
	if err != nil {
		return err
	}
	defer closeStores()

	opts := cfg.service
	opts.Logger = log
	opts.LogAttrs = func(r *http.Request) []slog.Attr {
		if id := r.Header.Get(invocationIDHeader); id != "" {
			return []slog.Attr{slog.String("invocation_id", id[:min(len(id), 64)])}
		}
		return nil
	}
	if cfg.auth != nil {
		opts.Authenticate = cfg.auth.Authenticate
		// Fetch the keys now, so a wrong issuer or JWKS URL shows in the
		// log at start.
		go cfg.auth.FetchKeys(ctx)
	}
	svc, err := tokenservice.New(acs, &opts)
	if err != nil {
		return &configError{msg: err.Error()}
	}
	if cfg.ratePerMinute == 0 {
		log.Warn("the per-caller rate limit is off (" + envRatePerMinute + "=0)")
	}
	if cfg.debugAddr != "" {
		stopDebug, err := serveDebug(ctx, cfg.debugAddr, log)
		if err != nil {
			return err
		}
		defer stopDebug()
	}

	// The write timeout covers the ACS calls (tokenservice's 30 s) with room
	// to spare.
	handler := newHandler(svc)
	if cfg.corsLayer != nil {
		handler = cfg.corsLayer(handler)
	}
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 60 * time.Second, IdleTimeout: 120 * time.Second, MaxHeaderBytes: 64 << 10,
		ErrorLog:    slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		BaseContext: func(net.Listener) context.Context { return context.WithoutCancel(ctx) }}
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", cfg.addr, err)
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	log.Info("listening", "addr", ln.Addr().String(), "token_url", "http://localhost:"+port+"/api/token")

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

// apiPrefix is the Functions host's route prefix (host.json), where svc is
// mounted.
const apiPrefix = "/api"

var healthBody = []byte(`{"status":"ok"}` + "\n")

// newHandler serves the health probe on / (the Functions host polls it
// until the handler answers; load balancers can too) and svc under /api/.
// Paths are not split with a ServeMux: the Functions host routes up to
// ASCII case and forwards the original case (/API/Token), and svc matches
// its paths the same way (Options.CaseInsensitivePaths).
func newHandler(svc *tokenservice.Service) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p := r.URL.Path; len(p) > len(apiPrefix) && p[len(apiPrefix)] == '/' && strings.EqualFold(p[:len(apiPrefix)], apiPrefix) {
			http.StripPrefix(p[:len(apiPrefix)], svc).ServeHTTP(w, r)
			return
		}
		if r.URL.Path != "/" {
			w.Header().Set("Cache-Control", "no-store")
			w.Header().Set("X-Content-Type-Options", "nosniff")
			tokenservice.WriteError(w, http.StatusNotFound, tokenservice.CodeNotFound, "There is no such endpoint. This service serves /api/token, /api/token/teams and /api/user.")
			return
		}
		h := w.Header()
		h.Set("Cache-Control", "no-store")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Allow", "GET, HEAD, OPTIONS")
		switch r.Method {
		case http.MethodGet, http.MethodHead:
			h.Set("Content-Type", "application/json; charset=utf-8")
			w.Write(healthBody)
		case http.MethodOptions:
			w.WriteHeader(http.StatusNoContent)
		default:
			tokenservice.WriteError(w, http.StatusMethodNotAllowed, tokenservice.CodeMethodNotAllowed, "The method is not allowed here.")
		}
	})
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
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, BaseContext: func(net.Listener) context.Context { return context.WithoutCancel(ctx) }}
	go srv.Serve(ln)
	log.Info("debug endpoint listening", "addr", ln.Addr().String(), "path", "/debug/pprof/")
	return func() { srv.Close() }, nil
}

// useEmulatorIssuer makes the bearer-token verifier trust the embedded
// emulator's development issuer at emulatorURL
// (TRUSTED_SERVICE_OIDC_ISSUER=emulator), and says in the log how to get a
// token from it.
func useEmulatorIssuer(cfg *config, emulatorURL string) error {
	o := *cfg.oidc
	o.Issuer = strings.TrimSuffix(emulatorURL, "/") + emulator.OIDCIssuerPath
	auth, err := oidc.New(o)
	if err != nil {
		return fmt.Errorf("the embedded emulator's OIDC issuer: %w", err)
	}
	cfg.oidc, cfg.auth = &o, auth
	cfg.log.Warn("callers sign in with the embedded emulator's DEVELOPMENT OpenID Connect issuer, which signs a token for anyone who asks: "+
		"POST {\"sub\":\"alice\",\"aud\":\""+o.Audiences[0]+"\"} to its token URL for a bearer token",
		"issuer", o.Issuer, "token_url", o.Issuer+"/token")
	return nil
}

// clientOptions are tokenservice's recommended client options: the
// preview api-version, whose custom IDs give each caller a lasting
// identity; with an identity store, the library's default, GA, version.
func clientOptions(cfg *config) *acsidentity.ClientOptions {
	o := tokenservice.NewClientOptions()
	if cfg.identityStore != "" {
		o.APIVersion = ""
	}
	return o
}

// newACSClient makes the ACS client for the configured backend, with
// tokenservice's recommended options. stop stops the embedded emulator, if
// any.
func newACSClient(cfg *config) (c *acsidentity.Client, stop func(), err error) {
	if cfg.backend == backendEntra {
		cred, err := azidentity.NewDefaultAzureCredential(nil)
		if err != nil {
			return nil, nil, fmt.Errorf("making the Entra ID credential for %s: %w", envEndpoint, err)
		}
		cfg.log.Info("using the ACS resource of "+envEndpoint, "endpoint", cfg.endpoint, "auth", "Entra ID (DefaultAzureCredential: managed identity in Azure)")
		c, err = acsidentity.NewClient(cfg.endpoint, cred, clientOptions(cfg))
		return c, func() {}, err
	}
	cs, stop := cfg.connectionString, func() {}
	if cfg.backend == backendEmulator {
		em, err := emulator.Listen(cfg.emulatorAddr, nil)
		if err != nil {
			return nil, nil, fmt.Errorf("starting the embedded ACS emulator on %s: %w", cfg.emulatorAddr, err)
		}
		cs, stop = em.ConnectionString(), func() { em.Close() }
		cfg.log.Warn("no ACS resource is configured ("+envConnectionString+" or "+envEndpoint+"): "+
			"using the embedded ACS Identity EMULATOR. This is NOT Azure: its tokens work only with the emulator, and its identities vanish when the service stops.",
			"emulator_url", em.URL)
		if cfg.oidcFromEmulator {
			if err := useEmulatorIssuer(cfg, em.URL); err != nil {
				stop()
				return nil, nil, err
			}
		}
	} else if parsed, err := acsidentity.ParseConnectionString(cs); err != nil {
		return nil, nil, &configError{msg: envConnectionString + ": " + err.Error()} // never contains the key
	} else {
		cfg.log.Info("using the ACS resource of "+envConnectionString, "endpoint", parsed.Endpoint, "auth", "access key")
	}
	if c, err = acsidentity.NewClientFromConnectionString(cs, clientOptions(cfg)); err != nil {
		stop()
		return nil, nil, err
	}
	return c, stop, nil
}
