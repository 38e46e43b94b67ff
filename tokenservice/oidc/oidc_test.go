package oidc

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/acsgo/acsidentity/internal/testutil"
	"github.com/acsgo/acsidentity/tokenservice"
)

const (
	testIssuer   = testutil.Issuer
	testAudience = testutil.Audience
)

var (
	goodClaims = testutil.GoodClaims
	with       = testutil.With
	discard    = slog.New(slog.DiscardHandler)
)

type testKey = testutil.SigningKey

func newTestKey(t testing.TB, kid, alg string) *testKey { return testutil.NewSigningKey(t, kid, alg) }

type fakeClock = testutil.Clock

// newTestCache is the key cache of the JWKS at url on clock.
func newTestCache(url string, transport http.RoundTripper, clock *fakeClock, minRefresh time.Duration) *jwksCache {
	c := newJWKSCache(url, "", newKeyClient(transport), minRefresh, discard)
	c.now = clock.Now
	return c
}

// newTestValidator returns a validator of p's tokens on clock.
func newTestValidator(p *testutil.IDP, clock *fakeClock, minRefresh time.Duration, algs ...string) (*validator, *jwksCache) {
	if len(algs) == 0 {
		algs = DefaultAlgorithms()
	}
	cache := newTestCache(p.JWKSURL(), nil, clock, minRefresh)
	return &validator{issuer: testIssuer, audiences: []string{"other", testAudience}, algorithms: algs, keys: cache, now: clock.Now}, cache
}

// authErr returns err, which must be an *Error, as the tokenservice
// answer it becomes (Authenticate's), failing the test if it is not one.
func authErr(t *testing.T, err error) *tokenservice.Error {
	t.Helper()
	if _, ok := errors.AsType[*Error](err); !ok {
		t.Fatalf("error %v (%T), want an *oidc.Error", err, err)
	}
	ae, ok := errors.AsType[*tokenservice.Error](serviceError(err))
	if !ok {
		t.Fatalf("serviceError(%v) is not a *tokenservice.Error", err)
	}
	return ae
}

func TestValidatorAcceptsEveryAllowedAlgorithm(t *testing.T) {
	t.Parallel()
	clock := testutil.NewClock(time.Unix(1_800_000_000, 0))
	var keys []*testKey
	for _, alg := range DefaultAlgorithms() {
		keys = append(keys, newTestKey(t, "kid-"+alg, alg))
	}
	p := testutil.NewIDP(t, keys...)
	v, _ := newTestValidator(p, clock, time.Minute)
	for _, k := range keys {
		t.Run(k.Alg, func(t *testing.T) {
			c, err := v.validate(context.Background(), k.Sign(t, goodClaims(clock.Now(), "alice"), nil))
			if err != nil {
				t.Fatalf("validate: %v", err)
			}
			if c.Subject != "alice" || c.Issuer != testIssuer || c.ObjectID == "" {
				t.Errorf("claims = %+v", c)
			}
		})
	}
}

func TestValidatorRejects(t *testing.T) {
	t.Parallel()
	clock := testutil.NewClock(time.Unix(1_800_000_000, 0))
	rs := newTestKey(t, "rs", "RS256")
	es := newTestKey(t, "es", "ES256")
	ed := newTestKey(t, "ed", "EdDSA")
	p := testutil.NewIDP(t, rs, es, ed)
	v, _ := newTestValidator(p, clock, time.Minute)
	now := clock.Now()
	good := goodClaims(now, "alice")
	otherRSA := &testKey{KID: "rs", Alg: "RS256", Priv: testutil.RSAKey(1)} // same kid, wrong key

	cases := []struct {
		name, token, want string
	}{
		{"wrong audience", rs.Sign(t, with(good, "aud", "api://someone-else"), nil), "audience"},
		{"audience list without ours", rs.Sign(t, with(good, "aud", []string{"a", "b"}), nil), "audience"},
		{"wrong issuer", rs.Sign(t, with(good, "iss", "https://evil.example/v2.0"), nil), "issuer"},
		{"no issuer", rs.Sign(t, with(good, "iss", nil), nil), "issuer"},
		{"expired beyond skew", rs.Sign(t, with(good, "exp", now.Add(-clockSkew-time.Second).Unix()), nil), "expired"},
		{"no exp", rs.Sign(t, with(good, "exp", nil), nil), "expiry"},
		{"exp not a number", rs.Sign(t, with(good, "exp", "tomorrow"), nil), "malformed"},
		{"not yet valid", rs.Sign(t, with(good, "nbf", now.Add(clockSkew+time.Minute).Unix()), nil), "not valid yet"},
		{"issued in the future", rs.Sign(t, with(good, "iat", now.Add(clockSkew+time.Minute).Unix()), nil), "future"},
		{"no subject", rs.Sign(t, with(good, "sub", nil), nil), "subject"},
		{"alg none", rs.Sign(t, good, map[string]any{"alg": "none"}), "not signed"},
		{"alg None", rs.Sign(t, good, map[string]any{"alg": "None"}), "not signed"},
		{"no alg", rs.Sign(t, good, map[string]any{"alg": nil}), "not signed"},
		{"alg HS256 (key confusion)", rs.Sign(t, good, map[string]any{"alg": "HS256"}), "algorithm"},
		{"bad signature", otherRSA.Sign(t, good, nil), "signature"},
		{"tampered payload", tamper(t, rs.Sign(t, good, nil)), "signature"},
		{"RSA key with ES256 header", es.Sign(t, good, map[string]any{"kid": "rs"}), "signature"},
		{"EdDSA key with RS256 header", rs.Sign(t, good, map[string]any{"kid": "ed"}), "signature"},
		{"no kid", rs.Sign(t, good, map[string]any{"kid": nil}), "key ID"},
		{"crit header", rs.Sign(t, good, map[string]any{"crit": []string{"exp"}}), "malformed"},
		{"two parts", "abc.def", "malformed"},
		{"JWE (five parts)", "a.b.c.d.e", "malformed"},
		{"garbage header", "!!!.e30.sig", "malformed"},
		{"huge", strings.Repeat("a", maxTokenBytes+1), "malformed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := v.validate(context.Background(), tc.token)
			ae := authErr(t, err)
			if ae.Status != http.StatusUnauthorized || ae.Code != "InvalidToken" || ae.Challenge != `Bearer error="invalid_token"` || !strings.Contains(ae.Message, tc.want) {
				t.Errorf("error = %d %s %q (%s), want 401 InvalidToken containing %q", ae.Status, ae.Code, ae.Message, ae.Reason, tc.want)
			}
		})
	}
}

// tamper changes the payload of a JWT, keeping its signature.
func tamper(t *testing.T, token string) string {
	parts := strings.Split(token, ".")
	other := strings.Split(newTestKey(t, "x", "EdDSA").Sign(t, map[string]any{"iss": testIssuer, "aud": testAudience, "sub": "mallory", "exp": 1_900_000_000}, nil), ".")
	parts[1] = other[1]
	return strings.Join(parts, ".")
}

func TestValidatorClockSkew(t *testing.T) {
	t.Parallel()
	clock := testutil.NewClock(time.Unix(1_800_000_000, 0))
	k := newTestKey(t, "ed", "EdDSA")
	v, _ := newTestValidator(testutil.NewIDP(t, k), clock, time.Minute)
	now := clock.Now()
	// Expired a minute ago, and not valid for another minute: both within
	// the two minutes of skew.
	tok := k.Sign(t, with(goodClaims(now, "alice"), "exp", now.Add(-time.Minute).Unix(), "nbf", now.Add(time.Minute).Unix(), "iat", now.Add(time.Minute).Unix()), nil)
	if _, err := v.validate(context.Background(), tok); err != nil {
		t.Fatalf("validate within the skew: %v", err)
	}
	// Fractional NumericDates are allowed.
	tok = k.Sign(t, with(goodClaims(now, "alice"), "exp", float64(now.Unix())+3600.5), nil)
	if _, err := v.validate(context.Background(), tok); err != nil {
		t.Fatalf("validate with a fractional exp: %v", err)
	}
}

func TestValidatorNarrowedAlgorithms(t *testing.T) {
	t.Parallel()
	clock := testutil.NewClock(time.Unix(1_800_000_000, 0))
	rs, ed := newTestKey(t, "rs", "RS256"), newTestKey(t, "ed", "EdDSA")
	v, _ := newTestValidator(testutil.NewIDP(t, rs, ed), clock, time.Minute, "RS256")
	if _, err := v.validate(context.Background(), rs.Sign(t, goodClaims(clock.Now(), "a"), nil)); err != nil {
		t.Fatalf("RS256: %v", err)
	}
	_, err := v.validate(context.Background(), ed.Sign(t, goodClaims(clock.Now(), "a"), nil))
	if ae := authErr(t, err); !strings.Contains(ae.Message, "algorithm") {
		t.Fatalf("EdDSA with only RS256 allowed: %v", err)
	}
}

func TestValidatorRequiredScope(t *testing.T) {
	t.Parallel()
	clock := testutil.NewClock(time.Unix(1_800_000_000, 0))
	k := newTestKey(t, "ed", "EdDSA")
	v, _ := newTestValidator(testutil.NewIDP(t, k), clock, time.Minute)
	v.requiredScope = "access_as_user"
	now := clock.Now()
	for _, c := range []map[string]any{
		goodClaims(now, "a"),
		with(goodClaims(now, "a"), "scp", nil, "scope", "access_as_user"),
		with(goodClaims(now, "a"), "scp", nil, "roles", []string{"access_as_user"}),
	} {
		if _, err := v.validate(context.Background(), k.Sign(t, c, nil)); err != nil {
			t.Errorf("validate(%v): %v", c, err)
		}
	}
	_, err := v.validate(context.Background(), k.Sign(t, with(goodClaims(now, "a"), "scp", "other"), nil))
	if ae := authErr(t, err); ae.Status != http.StatusForbidden || ae.Code != "InsufficientScope" || ae.Challenge != `Bearer error="insufficient_scope"` {
		t.Fatalf("validate without the scope = %v, want 403 InsufficientScope", err)
	}
}

// TestJWKSRefresh checks the key cache: an unknown kid refreshes the set at
// most once per minimum interval, and a rotation is picked up.
func TestJWKSRefresh(t *testing.T) {
	t.Parallel()
	clock := testutil.NewClock(time.Unix(1_800_000_000, 0))
	old, rotated := newTestKey(t, "old", "EdDSA"), newTestKey(t, "new", "ES256")
	p := testutil.NewIDP(t, old)
	v, _ := newTestValidator(p, clock, 5*time.Minute)
	ctx := context.Background()
	validate := func(k *testKey) error {
		_, err := v.validate(ctx, k.Sign(t, goodClaims(clock.Now(), "alice"), nil))
		return err
	}

	if err := validate(old); err != nil {
		t.Fatalf("old key: %v", err)
	}
	if n := p.Fetches(); n != 1 {
		t.Fatalf("fetches after the first token = %d, want 1", n)
	}
	if err := validate(old); err != nil || p.Fetches() != 1 {
		t.Fatalf("a known key must come from the cache: err %v, fetches %d", err, p.Fetches())
	}

	// The issuer rotates. Within the minimum interval the new kid is not
	// fetched: an attacker's made-up kids cannot hammer the issuer.
	p.SetKeys(old, rotated)
	if err := validate(rotated); err == nil || !strings.Contains(authErr(t, err).Message, "not known") {
		t.Fatalf("new key within the minimum interval = %v, want unknown key", err)
	}
	if n := p.Fetches(); n != 1 {
		t.Fatalf("fetches within the minimum interval = %d, want 1", n)
	}
	clock.Advance(5 * time.Minute)
	if err := validate(rotated); err != nil {
		t.Fatalf("new key after the minimum interval: %v", err)
	}
	if n := p.Fetches(); n != 2 {
		t.Fatalf("fetches after the rotation = %d, want 2", n)
	}
	if err := validate(old); err != nil {
		t.Fatalf("old key, still published: %v", err)
	}

	// A kid that never exists: one fetch per interval, then answered from
	// the cache.
	ghost := &testKey{KID: "ghost", Alg: "EdDSA", Priv: old.Priv}
	clock.Advance(5 * time.Minute)
	for range 3 {
		if err := validate(ghost); err == nil {
			t.Fatal("unknown kid accepted")
		}
	}
	if n := p.Fetches(); n != 3 {
		t.Fatalf("fetches after three unknown-kid tokens = %d, want 3", n)
	}

	// The old key is withdrawn; once the set is refreshed it is refused.
	p.SetKeys(rotated)
	clock.Advance(jwksMaxAge)
	if err := validate(old); err == nil {
		t.Fatal("withdrawn key accepted after the set expired")
	}
	if err := validate(rotated); err != nil {
		t.Fatalf("current key: %v", err)
	}
}

func TestJWKSUnavailable(t *testing.T) {
	t.Parallel()
	clock := testutil.NewClock(time.Unix(1_800_000_000, 0))
	k := newTestKey(t, "ed", "EdDSA")
	p := testutil.NewIDP(t, k)
	p.Server.Close() // the issuer is down
	v, _ := newTestValidator(p, clock, time.Minute)
	_, err := v.validate(context.Background(), k.Sign(t, goodClaims(clock.Now(), "a"), nil))
	if ae := authErr(t, err); ae.Status != http.StatusServiceUnavailable || ae.Code != "AuthenticationUnavailable" {
		t.Fatalf("validate with the issuer down = %v, want 503 AuthenticationUnavailable", err)
	}
}

func TestParseJWKSSkipsUnusableKeys(t *testing.T) {
	t.Parallel()
	doc := `{"keys":[
	 {"kty":"RSA","kid":"short","n":"AQAB","e":"AQAB"},
	 {"kty":"EC","kid":"offcurve","crv":"P-256","x":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","y":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},
	 {"kty":"oct","kid":"hmac","k":"c2VjcmV0"},
	 {"kty":"OKP","kid":"enc","use":"enc","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"},
	 {"kty":"OKP","kid":"ok","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}
	]}`
	keys, err := parseJWKS([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	all, err := keys.KeyReadAll(context.Background())
	if err != nil || len(all) != 1 || all[0].Marshal().KID != "ok" {
		t.Fatalf("keys = %v (%v), want only \"ok\"", all, err)
	}
	if _, err := parseJWKS([]byte(`{"keys":[]}`)); err == nil {
		t.Fatal("an empty JWKS was accepted")
	}
}

// TestJWKSDiscovery checks that with only the issuer configured the JWKS
// URL comes from its discovery document, which must name that issuer.
func TestJWKSDiscovery(t *testing.T) {
	t.Parallel()
	clock := testutil.NewClock(time.Unix(1_800_000_000, 0))
	k := newTestKey(t, "ed", "EdDSA")
	p := testutil.NewIDP(t, k)
	var docIssuer string
	mux := http.NewServeMux()
	disc := httptest.NewServer(mux)
	t.Cleanup(disc.Close)
	issuer := disc.URL + "/tenant/v2.0"
	mux.HandleFunc("/tenant/v2.0/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]string{"issuer": docIssuer, "jwks_uri": p.JWKSURL()})
	})
	newValidator := func() *validator {
		cache := newJWKSCache("", issuer, newKeyClient(nil), time.Minute, discard)
		cache.now = clock.Now
		return &validator{issuer: issuer, audiences: []string{testAudience}, algorithms: DefaultAlgorithms(), keys: cache, now: clock.Now}
	}
	tok := k.Sign(t, with(goodClaims(clock.Now(), "alice"), "iss", issuer), nil)

	docIssuer = issuer
	if _, err := newValidator().validate(context.Background(), tok); err != nil {
		t.Fatalf("validate with discovered keys: %v", err)
	}
	if p.Fetches() != 1 {
		t.Fatalf("JWKS fetches = %d, want 1", p.Fetches())
	}

	// A document for another issuer is not trusted.
	docIssuer = "https://evil.example/"
	_, err := newValidator().validate(context.Background(), tok)
	if ae := authErr(t, err); ae.Status != http.StatusServiceUnavailable {
		t.Fatalf("validate with a discovery document for another issuer = %v, want unavailable", err)
	}
}

// TestJWKSRedirectStaysOnHTTPS checks that an https JWKS (or discovery)
// URL redirected to plain http is not followed, so its keys are not
// trusted, while an https-to-https redirect is.
func TestJWKSRedirectStaysOnHTTPS(t *testing.T) {
	t.Parallel()
	clock := testutil.NewClock(time.Unix(1_800_000_000, 0))
	k := newTestKey(t, "ed", "EdDSA")
	plain := testutil.NewIDP(t, k) // http on loopback: acceptable as configured, not as a redirect target from https
	var secureJWKS []byte
	secure := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/to-http":
			http.Redirect(w, r, plain.JWKSURL(), http.StatusFound)
		case "/to-https":
			http.Redirect(w, r, "/keys", http.StatusFound)
		case "/keys":
			w.Write(secureJWKS)
		}
	}))
	t.Cleanup(secure.Close)
	b, err := json.Marshal(map[string]any{"keys": []map[string]string{k.JWK()}})
	if err != nil {
		t.Fatal(err)
	}
	secureJWKS = b
	validate := func(url string) error {
		cache := newTestCache(url, secure.Client().Transport, clock, time.Minute)
		v := &validator{issuer: testIssuer, audiences: []string{testAudience}, algorithms: DefaultAlgorithms(), keys: cache, now: clock.Now}
		_, err := v.validate(context.Background(), k.Sign(t, goodClaims(clock.Now(), "alice"), nil))
		return err
	}
	if err := validate(secure.URL + "/to-https"); err != nil {
		t.Fatalf("https to https redirect: %v", err)
	}
	err = validate(secure.URL + "/to-http")
	if ae := authErr(t, err); ae.Status != http.StatusServiceUnavailable {
		t.Fatalf("https to http redirect = %v, want the keys unavailable", err)
	}
	if n := plain.Fetches(); n != 0 {
		t.Fatalf("the plain-http JWKS was fetched %d times after an https redirect", n)
	}
}

// BenchmarkValidate is the cost of checking one bearer token whose key is
// cached, for each kind of key.
func BenchmarkValidate(b *testing.B) {
	clock := testutil.NewClock(time.Unix(1_800_000_000, 0))
	for _, alg := range []string{"RS256", "ES256", "EdDSA"} {
		b.Run(alg, func(b *testing.B) {
			k := newTestKey(b, "kid-"+alg, alg)
			v, _ := newTestValidator(testutil.NewIDP(b, k), clock, time.Minute)
			tok := k.Sign(b, goodClaims(clock.Now(), "alice"), nil)
			if _, err := v.validate(context.Background(), tok); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.validate(context.Background(), tok); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
