package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/acsgo/acsidentity"
	"github.com/acsgo/acsidentity/emulator"
	"github.com/acsgo/acsidentity/internal/testutil"
	"github.com/acsgo/acsidentity/tokenservice"
)

// TestFunctionsConfigMatchesRoutes checks host.json and every function.json
// against the handler's route table: the host forwards /api/<route> only
// for declared functions and methods, and a declared function the handler
// does not serve is the classic custom-handler 404.
func TestFunctionsConfigMatchesRoutes(t *testing.T) {
	t.Parallel()
	var host struct {
		Version       string `json:"version"`
		CustomHandler struct {
			Description struct {
				DefaultExecutablePath string `json:"defaultExecutablePath"`
				WorkingDirectory      string `json:"workingDirectory"`
			} `json:"description"`
			EnableForwardingHTTPRequest bool `json:"enableForwardingHttpRequest"`
		} `json:"customHandler"`
		Extensions struct {
			HTTP struct {
				RoutePrefix *string `json:"routePrefix"`
			} `json:"http"`
		} `json:"extensions"`
	}
	readJSONFile(t, "host.json", &host)
	if host.Version != "2.0" {
		t.Errorf("host.json version = %q, want 2.0", host.Version)
	}
	if got := host.CustomHandler.Description.DefaultExecutablePath; got != "handler" {
		t.Errorf("defaultExecutablePath = %q, want handler (the documented build output)", got)
	}
	if !host.CustomHandler.EnableForwardingHTTPRequest {
		t.Error("enableForwardingHttpRequest is not true: the handler would get invocation payloads, not HTTP requests")
	}
	prefix := "api"
	if p := host.Extensions.HTTP.RoutePrefix; p != nil {
		prefix = *p
	}

	files, err := filepath.Glob("*/function.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no function.json files (err %v)", err)
	}
	declared := map[string][]string{} // path -> methods
	for _, f := range files {
		var fn struct {
			Bindings []struct {
				Type      string   `json:"type"`
				Direction string   `json:"direction"`
				Name      string   `json:"name"`
				AuthLevel string   `json:"authLevel"`
				Methods   []string `json:"methods"`
				Route     string   `json:"route"`
			} `json:"bindings"`
		}
		readJSONFile(t, f, &fn)
		// Forwarding applies only to exactly one httpTrigger in and one
		// http out (the host's IsHttpInAndOutFunction).
		if len(fn.Bindings) != 2 {
			t.Errorf("%s: %d bindings, want an httpTrigger and an http output", f, len(fn.Bindings))
			continue
		}
		in, out := fn.Bindings[0], fn.Bindings[1]
		if in.Type != "httpTrigger" || in.Direction != "in" || out.Type != "http" || out.Direction != "out" {
			t.Errorf("%s: bindings are %s/%s and %s/%s, want httpTrigger/in and http/out", f, in.Type, in.Direction, out.Type, out.Direction)
		}
		if !slices.Contains([]string{"anonymous", "function", "admin"}, in.AuthLevel) {
			t.Errorf("%s: authLevel %q", f, in.AuthLevel)
		}
		if len(in.Methods) == 0 {
			t.Errorf("%s: no methods: the host would forward every method", f)
		}
		route := in.Route
		if route == "" {
			route = filepath.Base(filepath.Dir(f)) // the function's name
		}
		path := "/" + strings.Trim(prefix+"/"+route, "/")
		if _, dup := declared[path]; dup {
			t.Errorf("%s: route %s declared twice", f, path)
		}
		var methods []string
		for _, m := range in.Methods {
			methods = append(methods, strings.ToUpper(m))
		}
		declared[path] = methods
	}

	client, err := acsidentity.NewClientFromConnectionString("endpoint=http://127.0.0.1:10780/;accesskey="+emulator.DevelopmentKey, tokenservice.NewClientOptions())
	if err != nil {
		t.Fatal(err)
	}
	svc, err := tokenservice.New(client, &tokenservice.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	// What the handler serves, as an OPTIONS request's Allow header says
	// (OPTIONS too: the host must forward CORS preflights. The health
	// probe, /, the host calls directly).
	h := newHandler(svc)
	served := map[string][]string{}
	for _, path := range []string{"/api/token", "/api/token/teams", "/api/user"} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodOptions, "http://127.0.0.1:7071"+path, nil))
		if w.Code != http.StatusNoContent {
			t.Fatalf("OPTIONS %s: %d", path, w.Code)
		}
		for m := range strings.SplitSeq(w.Header().Get("Allow"), ",") {
			served[path] = append(served[path], strings.TrimSpace(m))
		}
	}
	for path, methods := range declared {
		got, ok := served[path]
		if !ok {
			t.Errorf("function route %s is not served by the handler", path)
			continue
		}
		if !sameSet(methods, got) {
			t.Errorf("%s: function.json methods %v, handler methods %v", path, methods, got)
		}
	}
	for path := range served {
		if _, ok := declared[path]; !ok {
			t.Errorf("handler route %s has no function.json: the host would never forward it", path)
		}
	}
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

func readJSONFile(t *testing.T, name string, v any) {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

func TestLocalSettingsExample(t *testing.T) {
	t.Parallel()
	var ls struct {
		Values map[string]string `json:"Values"`
	}
	readJSONFile(t, "local.settings.json.example", &ls)
	if ls.Values["FUNCTIONS_WORKER_RUNTIME"] != "Custom" {
		t.Errorf("FUNCTIONS_WORKER_RUNTIME = %q, want Custom", ls.Values["FUNCTIONS_WORKER_RUNTIME"])
	}
	// The example must pass loadConfig once its placeholders are filled in.
	env := func(name string) string {
		v := ls.Values[name]
		if name == envConnectionString {
			return "endpoint=https://contoso.communication.azure.com/;accesskey=" + "c2VjcmV0"
		}
		return strings.NewReplacer("<tenant-id>", "tenant", "<client-id-of-your-api-app-registration>", "client").Replace(v)
	}
	if _, err := loadConfig(nil, env, io.Discard); err != nil {
		t.Fatalf("loadConfig(local.settings.json.example) = %v", err)
	}
}

func TestLoadConfig(t *testing.T) {
	t.Parallel()
	const cs = "endpoint=https://contoso.communication.azure.com/;accesskey=c2VjcmV0"
	oidc := map[string]string{
		envOIDCIssuer: "https://login.microsoftonline.com/t/v2.0", envOIDCAudience: "api://x",
		envOIDCJWKSURL: "https://login.microsoftonline.com/t/discovery/v2.0/keys",
	}
	merge := func(ms ...map[string]string) map[string]string {
		out := map[string]string{}
		for _, m := range ms {
			for k, v := range m {
				out[k] = v
			}
		}
		return out
	}
	cases := []struct {
		name    string
		args    []string
		env     map[string]string
		wantErr string // substring; "" means success
		check   func(*testing.T, *config)
	}{
		{name: "nothing: emulator, anonymous, port 7071", check: func(t *testing.T, c *config) {
			if c.backend != backendEmulator || !c.service.AllowAnonymous || !c.service.DevelopmentCallers || c.addr != "127.0.0.1:7071" || c.oidc != nil {
				t.Errorf("config = %+v", c)
			}
		}},
		{name: "debug endpoint on loopback", args: []string{"-debug-addr", "127.0.0.1:6060"}, check: func(t *testing.T, c *config) {
			if c.debugAddr != "127.0.0.1:6060" {
				t.Errorf("debugAddr = %q", c.debugAddr)
			}
		}},
		{name: "debug endpoint off loopback", args: []string{"-debug-addr", "0.0.0.0:6060"}, wantErr: "loopback"},
		{name: "debug endpoint without port", args: []string{"-debug-addr", "127.0.0.1"}, wantErr: "loopback"},
		{name: "PORT of a container platform", env: map[string]string{envPort: "8080"}, check: func(t *testing.T, c *config) {
			if c.addr != ":8080" {
				t.Errorf("addr = %q, want :8080", c.addr)
			}
		}},
		{name: "Functions port wins over PORT", env: map[string]string{envFunctionsPort: "40123", envPort: "8080"}, check: func(t *testing.T, c *config) {
			if c.addr != "127.0.0.1:40123" {
				t.Errorf("addr = %q", c.addr)
			}
		}},
		{name: "-addr wins over PORT", args: []string{"-addr", "127.0.0.1:9"}, env: map[string]string{envPort: "8080"}, check: func(t *testing.T, c *config) {
			if c.addr != "127.0.0.1:9" {
				t.Errorf("addr = %q", c.addr)
			}
		}},
		{name: "bad PORT", env: map[string]string{envPort: "http"}, wantErr: envPort},
		{name: "CORS: emulator allows loopback origins by default", check: func(t *testing.T, c *config) {
			if !c.cors.LoopbackOrigins || c.cors.Origins != nil || !c.cors.DevCallerHeader || c.corsLayer == nil {
				t.Errorf("cors = %+v", c.cors)
			}
		}},
		{name: "CORS: listed origins only", env: map[string]string{envCORSOrigins: "https://App.example.com, http://localhost:3000"}, check: func(t *testing.T, c *config) {
			if c.cors.LoopbackOrigins || !slices.Equal(c.cors.Origins, []string{"https://App.example.com", "http://localhost:3000"}) || c.corsLayer == nil {
				t.Errorf("cors = %+v", c.cors)
			}
		}},
		{name: "CORS: none with a real resource by default", env: merge(oidc, map[string]string{envConnectionString: cs}), check: func(t *testing.T, c *config) {
			if c.cors.LoopbackOrigins || c.cors.Origins != nil || c.corsLayer != nil {
				t.Errorf("cors = %+v", c.cors)
			}
		}},
		{name: "CORS: wildcard refused", env: map[string]string{envCORSOrigins: "*"}, wantErr: envCORSOrigins},
		{name: "CORS: path refused", env: map[string]string{envCORSOrigins: "https://app.example.com/login"}, wantErr: "without a path"},
		{name: "Functions port", env: map[string]string{envFunctionsPort: "40123"}, check: func(t *testing.T, c *config) {
			if c.addr != "127.0.0.1:40123" {
				t.Errorf("addr = %q", c.addr)
			}
		}},
		{name: "-addr wins", args: []string{"-addr", ":8080"}, env: map[string]string{envFunctionsPort: "40123"}, check: func(t *testing.T, c *config) {
			if c.addr != ":8080" {
				t.Errorf("addr = %q", c.addr)
			}
		}},
		{name: "bad Functions port", env: map[string]string{envFunctionsPort: "http"}, wantErr: envFunctionsPort},
		{name: "real resource without authentication is refused", env: map[string]string{envConnectionString: cs},
			wantErr: "set " + envOIDCIssuer + " and " + envOIDCAudience + " (and " + envOIDCJWKSURL},
		{name: "endpoint without authentication is refused", env: map[string]string{envEndpoint: "https://contoso.communication.azure.com"}, wantErr: envAllowAnonymous + "=true"},
		{name: "real resource, anonymous allowed", env: map[string]string{envConnectionString: cs, envAllowAnonymous: "true"}, check: func(t *testing.T, c *config) {
			if c.backend != backendConnectionString || !c.service.AllowAnonymous || c.service.DevelopmentCallers {
				t.Errorf("config = %+v", c)
			}
		}},
		{name: "endpoint with OIDC", env: merge(oidc, map[string]string{envEndpoint: "https://contoso.communication.azure.com"}), check: func(t *testing.T, c *config) {
			if c.backend != backendEntra || c.service.AllowAnonymous || c.oidc == nil || c.auth == nil || c.oidc.MinRefresh != 0 {
				t.Errorf("config = %+v", c)
			}
		}},
		{name: "both connection string and endpoint", env: map[string]string{envConnectionString: cs, envEndpoint: "https://x.communication.azure.com", envAllowAnonymous: "true"}, wantErr: "both"},
		{name: "http endpoint", env: map[string]string{envEndpoint: "http://x.communication.azure.com", envAllowAnonymous: "1"}, wantErr: "https"},
		{name: "partial OIDC", env: map[string]string{envOIDCIssuer: "https://i"}, wantErr: "missing: " + envOIDCAudience},
		{name: "OIDC by discovery", env: map[string]string{envOIDCIssuer: "https://login.microsoftonline.com/t/v2.0", envOIDCAudience: "api://x"}, check: func(t *testing.T, c *config) {
			if c.oidc == nil || c.oidc.JWKSURL != "" || c.oidc.Issuer != "https://login.microsoftonline.com/t/v2.0" {
				t.Errorf("oidc = %+v, want discovery from the issuer", c.oidc)
			}
		}},
		{name: "plain-http issuer to discover", env: map[string]string{envOIDCIssuer: "http://idp.example/t", envOIDCAudience: "api://x"}, wantErr: envOIDCIssuer},
		{name: "plain-http issuer with a JWKS URL", env: map[string]string{envOIDCIssuer: "http://idp.example/t", envOIDCAudience: "api://x", envOIDCJWKSURL: "https://idp.example/keys"}},
		{name: "OIDC option without OIDC", env: map[string]string{envOIDCScope: "x"}, wantErr: envOIDCScope},
		{name: "plain-http JWKS", env: merge(oidc, map[string]string{envOIDCJWKSURL: "http://idp.example/keys"}), wantErr: "https"},
		{name: "loopback http JWKS", env: merge(oidc, map[string]string{envOIDCJWKSURL: "http://127.0.0.1:9/keys"})},
		{name: "unknown algorithm", env: merge(oidc, map[string]string{envOIDCAlgorithms: "RS256,HS256"}), wantErr: "HS256"},
		{name: "none algorithm", env: merge(oidc, map[string]string{envOIDCAlgorithms: "none"}), wantErr: "none"},
		{name: "bad anonymous flag", env: map[string]string{envAllowAnonymous: "yes please"}, wantErr: envAllowAnonymous},
		{name: "bad rate", env: map[string]string{envRatePerMinute: "-1"}, wantErr: envRatePerMinute},
		{name: "bad burst", env: map[string]string{envRateBurst: "0"}, wantErr: envRateBurst},
		{name: "short custom ID key", env: map[string]string{envCustomIDKey: "c2VjcmV0"}, wantErr: envCustomIDKey},
		{name: "stray argument", args: []string{"serve"}, wantErr: "unexpected argument"},
		{name: "an emulator on loopback by connection string: anonymous and development callers", env: map[string]string{envConnectionString: "endpoint=http://127.0.0.1:10780/;accesskey=" + emulator.DevelopmentKey}, check: func(t *testing.T, c *config) {
			if c.backend != backendConnectionString || !c.loopbackACS || !c.devEmulator || !c.service.AllowAnonymous || !c.service.DevelopmentCallers || !c.cors.DevCallerHeader {
				t.Errorf("config = %+v", c)
			}
		}},
		// A real resource through a loopback tunnel has its own key: not
		// served to anonymous callers unless told.
		{name: "loopback with another key: authentication required", env: map[string]string{envConnectionString: "endpoint=https://127.0.0.1:8443/;accesskey=c2VjcmV0"}, wantErr: envAllowAnonymous + "=true"},
		{name: "loopback with another key, anonymous allowed: development callers", env: map[string]string{envConnectionString: "endpoint=https://127.0.0.1:8443/;accesskey=c2VjcmV0", envAllowAnonymous: "true"}, check: func(t *testing.T, c *config) {
			if !c.loopbackACS || c.devEmulator || !c.service.AllowAnonymous || !c.service.DevelopmentCallers || c.cors.LoopbackOrigins {
				t.Errorf("config = %+v", c)
			}
		}},
		{name: "an emulator on localhost with OIDC: no development callers", env: merge(oidc, map[string]string{envConnectionString: "endpoint=https://localhost:10780/;accesskey=c2VjcmV0"}), check: func(t *testing.T, c *config) {
			if !c.loopbackACS || c.service.AllowAnonymous || c.service.DevelopmentCallers {
				t.Errorf("config = %+v", c)
			}
		}},
		{name: "identity store: redis", env: map[string]string{envIdentityStore: "redis://127.0.0.1:6379/2"}, check: func(t *testing.T, c *config) {
			if c.identityStore != "redis://127.0.0.1:6379/2" {
				t.Errorf("identityStore = %q", c.identityStore)
			}
		}},
		{name: "identity store: postgres", env: map[string]string{envIdentityStore: "postgres://u:p@127.0.0.1:5432/ids?sslmode=disable"}},
		{name: "identity store: sqlite", env: map[string]string{envIdentityStore: "sqlite:/tmp/ids.db"}},
		{name: "identity store: sqlite without a path", env: map[string]string{envIdentityStore: "sqlite:"}, wantErr: "file path"},
		{name: "identity store: unknown scheme", env: map[string]string{envIdentityStore: "mysql://u:secretpw@db/ids"}, wantErr: envIdentityStore},
		{name: "identity store: no host", env: map[string]string{envIdentityStore: "redis:///0"}, wantErr: "with a host"},
		{name: "rate limit store", env: map[string]string{envRateLimitStore: "redis://127.0.0.1:6379/0"}, check: func(t *testing.T, c *config) {
			if c.rateLimitStore != "redis://127.0.0.1:6379/0" || c.rateBurst != defaultRateBurst {
				t.Errorf("config = %+v", c)
			}
		}},
		{name: "rate limit store: not redis", env: map[string]string{envRateLimitStore: "postgres://u:secretpw@db/x"}, wantErr: envRateLimitStore},
		{name: "rate limit store without a limit", env: map[string]string{envRateLimitStore: "redis://127.0.0.1:6379/0", envRatePerMinute: "0"}, wantErr: "off"},
		{name: "the embedded emulator's issuer", env: map[string]string{envOIDCIssuer: "emulator", envOIDCAudience: "api://acs-test", envEmulatorAddr: "127.0.0.1:10780"}, check: func(t *testing.T, c *config) {
			if c.backend != backendEmulator || !c.oidcFromEmulator || c.auth != nil || c.oidc == nil || c.service.AllowAnonymous || c.service.DevelopmentCallers || c.emulatorAddr != "127.0.0.1:10780" {
				t.Errorf("config = %+v", c)
			}
		}},
		{name: "the emulator's issuer with a real resource", env: map[string]string{envConnectionString: cs, envOIDCIssuer: "emulator", envOIDCAudience: "api://x"}, wantErr: "embedded emulator's development issuer"},
		{name: "the emulator's issuer with a JWKS URL", env: map[string]string{envOIDCIssuer: "emulator", envOIDCAudience: "api://x", envOIDCJWKSURL: "https://idp.example/keys"}, wantErr: "unset " + envOIDCJWKSURL},
		{name: "the emulator's issuer, bad audience", env: map[string]string{envOIDCIssuer: "emulator", envOIDCAudience: ","}, wantErr: envOIDCAudience},
		{name: "emulator address off loopback", env: map[string]string{envEmulatorAddr: "0.0.0.0:10780"}, wantErr: "loopback"},
		{name: "emulator address with a real resource", env: map[string]string{envConnectionString: cs, envAllowAnonymous: "true", envEmulatorAddr: "127.0.0.1:10780"}, wantErr: envEmulatorAddr},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := loadConfig(tc.args, func(k string) string { return tc.env[k] }, io.Discard)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("loadConfig = %v, want an error containing %q", err, tc.wantErr)
				}
				if strings.Contains(err.Error(), "c2VjcmV0") || strings.Contains(err.Error(), "secretpw") {
					t.Errorf("the error shows a secret: %v", err)
				}
				var ce *configError
				if !errors.As(err, &ce) {
					t.Errorf("error %T is not a *configError", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("loadConfig: %v", err)
			}
			if tc.check != nil {
				tc.check(t, c)
			}
		})
	}
}

// TestAllowedHosts: TRUSTED_SERVICE_ALLOWED_HOSTS adds host names that the
// embedded emulator's development service answers (a container reached by
// its service name, say), and a value tokenservice refuses stops the start
// as a configuration error.
func TestAllowedHosts(t *testing.T) {
	t.Parallel()
	env := func(hosts string) func(string) string {
		return func(k string) string { return map[string]string{envAllowedHosts: hosts}[k] }
	}
	err := run(context.Background(), []string{"-addr", "127.0.0.1:0"}, env("trusted-service:7071"), io.Discard)
	if _, ok := errors.AsType[*configError](err); !ok || !strings.Contains(err.Error(), "AllowedHosts") {
		t.Fatalf("run with a host and port in %s = %v, want a configuration error", envAllowedHosts, err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	logs := &testutil.SyncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-addr", "127.0.0.1:0"}, env("trusted-service, tokens.example"), logs)
	}()
	t.Cleanup(func() { cancel(); <-done })
	addr := regexp.MustCompile(`msg=listening addr=(127\.0\.0\.1:\d+)`)
	var base string
	for deadline := time.Now().Add(time.Minute); base == ""; time.Sleep(20 * time.Millisecond) {
		select {
		case err := <-done:
			done <- err // for the clean-up
			t.Fatalf("the service stopped before it listened: %v\n%s", err, logs.String())
		default:
		}
		if m := addr.FindStringSubmatch(logs.String()); m != nil {
			base = "http://" + m[1]
		} else if time.Now().After(deadline) {
			t.Fatalf("the service did not listen:\n%s", logs.String())
		}
	}
	for host, want := range map[string]int{"trusted-service:7071": 200, "tokens.example": 200, "localhost": 200, "rebind.attacker.example": 403} {
		req, _ := http.NewRequest("GET", base+"/api/token", nil)
		req.Host = host
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != want {
			t.Errorf("Host %s: %d, want %d", host, res.StatusCode, want)
		}
	}
}
