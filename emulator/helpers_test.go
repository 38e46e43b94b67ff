package emulator

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/acsgo/acsidentity/internal/hmacauth"
	"github.com/acsgo/acsidentity/internal/wire"
)

// client sends raw, HMAC-signed requests to a running emulator.
type client struct {
	t    testing.TB
	base string
	hc   *http.Client
	key  *hmacauth.Key
	now  func() time.Time
}

func newClient(t testing.TB, srv *Server, accessKey string) *client {
	t.Helper()
	if accessKey == "" {
		accessKey = DevelopmentKey
	}
	raw, err := base64.StdEncoding.DecodeString(accessKey)
	if err != nil {
		t.Fatal(err)
	}
	return &client{t: t, base: srv.URL, hc: srv.Client(), key: hmacauth.NewKey(raw), now: time.Now}
}

// start runs an emulator for the test and closes it at cleanup.
func start(t testing.TB, opts *Options) (*Server, *client) {
	t.Helper()
	srv, err := Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	c := newClient(t, srv, optKey(opts))
	if opts != nil && opts.Now != nil {
		c.now = opts.Now
	}
	return srv, c
}

func optKey(o *Options) string {
	if o == nil {
		return ""
	}
	return o.AccessKey
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r *response) decode(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decoding %s: %v", r.body, err)
	}
}

func (r *response) errorBody(t testing.TB) wire.ErrorDetail {
	t.Helper()
	var e wire.ErrorResponse
	r.decode(t, &e)
	if e.Error.Code == "" || e.Error.Message == "" {
		t.Fatalf("error body without code or message: %s", r.body)
	}
	return e.Error
}

// req is one request to send; zero values mean "sign normally".
type req struct {
	method, path string // path includes the query
	body         any    // nil, []byte, string or a value to marshal
	ctype        string
	mutate       func(*http.Request) // after signing
	bearer       string              // send this bearer token instead of signing
}

func (c *client) send(r req) *response {
	c.t.Helper()
	resp, err := c.hc.Do(c.build(r))
	if err != nil {
		c.t.Fatalf("%s %s: %v", r.method, r.path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	return &response{status: resp.StatusCode, header: resp.Header, body: b}
}

// build makes the signed request r describes.
func (c *client) build(r req) *http.Request {
	c.t.Helper()
	var body []byte
	switch b := r.body.(type) {
	case nil:
	case []byte:
		body = b
	case string:
		body = []byte(b)
	default:
		var err error
		if body, err = json.Marshal(b); err != nil {
			c.t.Fatal(err)
		}
	}
	u, err := url.Parse(c.base + r.path)
	if err != nil {
		c.t.Fatal(err)
	}
	hr, err := http.NewRequest(r.method, u.String(), bytes.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	if len(body) > 0 {
		ct := r.ctype
		if ct == "" {
			ct = "application/json"
		}
		hr.Header.Set("Content-Type", ct)
	}
	if r.bearer != "" {
		hr.Header.Set("Authorization", "Bearer "+r.bearer)
	} else {
		date := c.now().UTC().Format(http.TimeFormat)
		hash := hmacauth.ContentHash(body)
		hr.Header.Set(hmacauth.DateHeader, date)
		hr.Header.Set(hmacauth.ContentHashHeader, hash)
		hr.Header.Set("Authorization", hmacauth.AuthorizationPrefix+c.key.Signature(r.method, hr.URL.RequestURI(), date, hr.URL.Host, hash))
	}
	if r.mutate != nil {
		r.mutate(hr)
	}
	return hr
}

func idPath(id string, rest string, version string) string {
	return "/identities/" + url.PathEscape(id) + rest + "?api-version=" + version
}

// mustStatus fails the test unless r has the wanted status.
func mustStatus(t testing.TB, r *response, want int) {
	t.Helper()
	if r.status != want {
		t.Fatalf("status %d, want %d; body %s", r.status, want, r.body)
	}
}

func (c *client) createUser(version string) string {
	c.t.Helper()
	r := c.send(req{method: "POST", path: "/identities?api-version=" + version, body: "{}"})
	mustStatus(c.t, r, 201)
	var res wire.AccessTokenResult
	r.decode(c.t, &res)
	return res.Identity.ID
}

func (c *client) issue(id, version string, scopes ...string) (*response, wire.AccessToken) {
	c.t.Helper()
	r := c.send(req{method: "POST", path: idPath(id, "/:issueAccessToken", version), body: wire.IssueTokenRequest{Scopes: scopes}})
	var tok wire.AccessToken
	if r.status == 200 {
		r.decode(c.t, &tok)
	}
	return r, tok
}

// fakeJWT makes an unsigned-looking JWT with the given claims (the
// emulator does not check Entra ID signatures).
func fakeJWT(claims map[string]any) string {
	h := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"RS256","typ":"JWT"}`))
	p, _ := json.Marshal(claims)
	return h + "." + base64.RawURLEncoding.EncodeToString(p) + ".c2lnbmF0dXJl"
}

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2025, 7, 10, 21, 39, 39, 324458400, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}
