package tokenservice_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/acsgo/acsidentity"
	"github.com/acsgo/acsidentity/emulator"
	"github.com/acsgo/acsidentity/tokenservice"
)

// newEmulatorClient starts an emulator and returns a client of it, for the
// examples. A real service uses its resource's connection string.
func newEmulatorClient() (*acsidentity.Client, func()) {
	em, err := emulator.Start(nil)
	if err != nil {
		log.Fatal(err)
	}
	client, err := acsidentity.NewClientFromConnectionString(em.ConnectionString(), tokenservice.NewClientOptions())
	if err != nil {
		log.Fatal(err)
	}
	return client, func() { em.Close() }
}

// A web app mounts the token endpoint on its own http.ServeMux, and tells
// it who is calling with its own sign-in: here a session cookie.
func Example() {
	client, stop := newEmulatorClient()
	defer stop()

	sessions := map[string]string{"s3cr3t-session-of-alice": "alice"} // the app's own
	svc, err := tokenservice.New(client, &tokenservice.Options{
		Authenticate: func(r *http.Request) (tokenservice.Caller, error) {
			c, err := r.Cookie("session")
			if err != nil {
				return tokenservice.Caller{}, tokenservice.ErrNoCredentials
			}
			user, ok := sessions[c.Value]
			if !ok {
				return tokenservice.Caller{}, errors.New("unknown session")
			}
			return tokenservice.Caller{ID: user}, nil
		},
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/acs/", svc) // the pattern tells svc where it is mounted
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "the app's home page") })

	get := func(session string) (int, string) {
		r := httptest.NewRequest("GET", "/acs/token?scopes=chat", nil)
		if session != "" {
			r.AddCookie(&http.Cookie{Name: "session", Value: session})
		}
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, r)
		return w.Code, w.Body.String()
	}
	status, body := get("s3cr3t-session-of-alice")
	fmt.Println("signed in:", status, strings.Contains(body, `"communicationUserId":"8:acs:`))
	status, _ = get("")
	fmt.Println("not signed in:", status)
	// Output:
	// signed in: 200 true
	// not signed in: 401
}

// The Service under http.StripPrefix: it serves its endpoints relative to
// where it is mounted, so the prefix is stated once, in the mux.
func Example_stripPrefix() {
	client, stop := newEmulatorClient()
	defer stop()

	svc, err := tokenservice.New(client, &tokenservice.Options{
		Authenticate: func(r *http.Request) (tokenservice.Caller, error) {
			if user := r.Header.Get("X-User"); user != "" { // the app's own sign-in
				return tokenservice.Caller{ID: user}, nil
			}
			return tokenservice.Caller{}, tokenservice.ErrNoCredentials
		},
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/acs/", http.StripPrefix("/acs", svc))

	for _, req := range []struct{ method, path string }{{"GET", "/acs/token"}, {"GET", "/acs/user"}, {"GET", "/acs/tokens"}} {
		r := httptest.NewRequest(req.method, req.path, nil)
		r.Header.Set("X-User", "erin")
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, r)
		fmt.Println(req.method, req.path, w.Code)
	}
	// Output:
	// GET /acs/token 200
	// GET /acs/user 200
	// GET /acs/tokens 404
}

// The token endpoint next to an existing handler chain: the app's
// middleware has already authenticated the request (here by an API key)
// and put the user in the request's context, and Authenticate reads it
// from there.
func Example_middleware() {
	client, stop := newEmulatorClient()
	defer stop()

	type userKey struct{}
	apiKeys := map[string]string{"key-of-carol": "carol"}
	requireAPIKey := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			user, ok := apiKeys[r.Header.Get("X-API-Key")]
			if !ok {
				http.Error(w, "unknown API key", http.StatusUnauthorized)
				return
			}
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), userKey{}, user)))
		})
	}
	svc, err := tokenservice.New(client, &tokenservice.Options{
		Authenticate: func(r *http.Request) (tokenservice.Caller, error) {
			user, _ := r.Context().Value(userKey{}).(string)
			return tokenservice.Caller{ID: user}, nil // empty (the middleware was bypassed) is refused
		},
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/api/", svc)
	mux.HandleFunc("GET /orders", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "orders of", r.Context().Value(userKey{}))
	})
	handler := requireAPIKey(mux)

	for _, path := range []string{"/orders", "/api/token"} {
		r := httptest.NewRequest("GET", path, nil)
		r.Header.Set("X-API-Key", "key-of-carol")
		w := httptest.NewRecorder()
		handler.ServeHTTP(w, r)
		fmt.Println(path, w.Code)
	}
	// Output:
	// /orders 200
	// /api/token 200
}

// sharedStore stands in for what several instances of a service share:
// Redis (INCR, then EXPIRE on the first), a gateway's counters, a table.
type sharedStore struct {
	mu     sync.Mutex
	counts map[string]int64
}

// incr adds one to key's count and returns it; the count starts over when
// the key names a new window.
func (s *sharedStore) incr(_ context.Context, key string) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.counts[key]++
	return s.counts[key], nil
}

// windowLimiter is a tokenservice.RateLimiter over a shared store: at most
// limit requests per caller per window, counted for all instances at once.
type windowLimiter struct {
	store  *sharedStore
	limit  int64
	window time.Duration
	now    func() time.Time
}

func (l *windowLimiter) Allow(ctx context.Context, key string) (bool, time.Duration, error) {
	now := l.now()
	start := now.Truncate(l.window)
	n, err := l.store.incr(ctx, key+"@"+strconv.FormatInt(start.Unix(), 10))
	if err != nil {
		return false, 0, err // refused with 503: the limit cannot be checked
	}
	if n > l.limit {
		return false, start.Add(l.window).Sub(now), nil
	}
	return true, 0, nil
}

// Several instances of a service share one rate limit through a
// RateLimiter over a shared store. The default limiter counts per
// instance: behind three instances a caller would get three times the
// limit.
func ExampleRateLimiter() {
	client, stop := newEmulatorClient()
	defer stop()

	limiter := &windowLimiter{
		store: &sharedStore{counts: map[string]int64{}},
		limit: 2, window: time.Minute,
		now: func() time.Time { return time.Date(2026, 1, 1, 12, 0, 30, 0, time.UTC) },
	}
	var instances []*tokenservice.Service
	for range 3 {
		svc, err := tokenservice.New(client, &tokenservice.Options{
			Authenticate: func(r *http.Request) (tokenservice.Caller, error) {
				return tokenservice.Caller{ID: r.Header.Get("X-User")}, nil
			},
			RateLimiter: limiter,
			Logger:      slog.New(slog.DiscardHandler),
		})
		if err != nil {
			log.Fatal(err)
		}
		instances = append(instances, svc)
	}
	for i, svc := range instances {
		r := httptest.NewRequest("GET", "/token", nil)
		r.Header.Set("X-User", "dave")
		w := httptest.NewRecorder()
		svc.ServeHTTP(w, r)
		fmt.Printf("instance %d: %d, Retry-After %q\n", i, w.Code, w.Header().Get("Retry-After"))
	}
	// Output:
	// instance 0: 200, Retry-After ""
	// instance 1: 200, Retry-After ""
	// instance 2: 429, Retry-After "30"
}

// With an identity store, a caller's identity is recorded there on its
// first token request, and every instance that shares the store gives the
// caller that identity, on any api-version: here the library's default,
// GA, which has no custom IDs. Several instances share a store of package
// redisstore or sqlstore; NewMemoryIdentityStore serves one instance.
func ExampleIdentityStore() {
	em, err := emulator.Start(nil)
	if err != nil {
		log.Fatal(err)
	}
	defer em.Close()
	opts := tokenservice.NewClientOptions()
	opts.APIVersion = "" // the default, GA: the store replaces custom IDs
	client, err := acsidentity.NewClientFromConnectionString(em.ConnectionString(), opts)
	if err != nil {
		log.Fatal(err)
	}
	store := tokenservice.NewMemoryIdentityStore()
	var instances []*tokenservice.Service
	for range 2 {
		svc, err := tokenservice.New(client, &tokenservice.Options{
			Authenticate: func(r *http.Request) (tokenservice.Caller, error) {
				return tokenservice.Caller{ID: r.Header.Get("X-Test-User")}, nil // the app's own sign-in
			},
			Identities: store,
			Logger:     slog.New(slog.DiscardHandler),
		})
		if err != nil {
			log.Fatal(err)
		}
		instances = append(instances, svc)
	}
	user := func(svc *tokenservice.Service, method, path string) string {
		r := httptest.NewRequest(method, path, nil)
		r.Header.Set("X-Test-User", "alice")
		w := httptest.NewRecorder()
		svc.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			return strconv.Itoa(w.Code)
		}
		body := w.Body.String()
		i := strings.Index(body, `"communicationUserId":"`) + len(`"communicationUserId":"`)
		return body[i : i+strings.IndexByte(body[i:], '"')]
	}
	fmt.Println("before any token, GET /user:", user(instances[0], "GET", "/user"))
	first := user(instances[0], "GET", "/token")
	fmt.Println("the other instance, same identity:", user(instances[1], "GET", "/token") == first)
	fmt.Println("recorded callers:", store.Len())
	// Output:
	// before any token, GET /user: 404
	// the other instance, same identity: true
	// recorded callers: 1
}
