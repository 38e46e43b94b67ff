package tokenservice_test

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/acsgo/acsidentity"
	"github.com/acsgo/acsidentity/emulator"
	"github.com/acsgo/acsidentity/internal/httpfuzz"
	"github.com/acsgo/acsidentity/internal/testutil"
	"github.com/acsgo/acsidentity/tokenservice"
	"github.com/acsgo/acsidentity/tokenservice/oidc"
)

// FuzzHandler sends arbitrary requests (method, raw request target,
// headers, body) to a Service in process (bearer callers through package
// oidc, anonymous and development callers allowed), backed by an emulator
// reached without a network. It fuzzes what the service parses:
// the query and JSON body of /api/token, the Teams exchange body, and the
// Authorization, X-Caller-Id and Content-Type headers. The corpus is in
// testdata/fuzz/FuzzHandler; in the target, headers and body, @JWT@ stands
// for a JWT whose payload is the claims argument, signed by the test
// identity provider's key (so that bearer callers get past the signature
// check to the claims), which also serves as a Teams user token.
//
// Invariants: no panic; only 2xx and 4xx (the backend is healthy, so bad
// input must never be a 5xx); every error is {"error":{"code","message"}}
// with both set and shows no token, key or connection string; the security
// headers are always set; every 2xx body has the promised shape, and its
// token is valid in the emulator for the identity it names.
func FuzzHandler(f *testing.F) {
	f.Fuzz(func(t *testing.T, method, target, headers string, body, claims []byte) {
		if strings.ContainsAny(method+target, "\r\n") {
			return // not one request line
		}
		fx := newHandlerFixture(t)
		fx.exchange(t, method, target, headers, body, claims)
	})
}

// Bearer tokens and Teams tokens are checked against the real clock; the
// seeds' tokens were issued in 2025 and expire in 2100.

const (
	handlerFuzzHost = "127.0.0.1:7071"
	handlerFuzzKid  = "fuzz-key"
	handlerFuzzJWKS = "https://idp.example/keys"
)

// handlerFuzzKey is the test identity provider's signing key, the same in
// every run.
var handlerFuzzKey = ed25519.NewKeyFromSeed(func() []byte { s := sha256.Sum256([]byte("trusted-service fuzz idp")); return s[:] }())

type handlerFixture struct {
	em *emulator.Emulator
	h  http.Handler
}

func newHandlerFixture(t *testing.T) *handlerFixture {
	t.Helper()
	em := newEmulator(t)
	jwks, _ := json.Marshal(map[string]any{"keys": []map[string]string{{
		"kty": "OKP", "crv": "Ed25519", "kid": handlerFuzzKid, "use": "sig",
		"x": base64.RawURLEncoding.EncodeToString(handlerFuzzKey.Public().(ed25519.PublicKey)),
	}}})
	idp := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		if r.URL.String() != handlerFuzzJWKS {
			return &http.Response{StatusCode: 404, Body: http.NoBody, Request: r}, nil
		}
		return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/json"}},
			Body: io.NopCloser(bytes.NewReader(jwks)), Request: r}, nil
	})
	verifier, err := oidc.New(oidc.Config{Issuer: testutil.Issuer, Audiences: []string{testutil.Audience}, JWKSURL: handlerFuzzJWKS, Transport: idp, Logger: discard})
	if err != nil {
		t.Fatal(err)
	}
	svc := newBareService(t, inProcessACS(t, em), &tokenservice.Options{
		Authenticate: verifier.Authenticate, AllowAnonymous: true, DevelopmentCallers: true, CaseInsensitivePaths: true,
	})
	// Under /api/ as with http.StripPrefix; anything else straight to the
	// Service, which must answer it too.
	under := http.StripPrefix("/api", svc)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/api/") {
			under.ServeHTTP(w, r)
			return
		}
		svc.ServeHTTP(w, r)
	})
	return &handlerFixture{em: em, h: h}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// signJWT signs claims (any bytes) as the test identity provider.
func signJWT(claims []byte) string {
	h := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"EdDSA","kid":"` + handlerFuzzKid + `","typ":"JWT"}`))
	signed := h + "." + base64.RawURLEncoding.EncodeToString(claims)
	return signed + "." + base64.RawURLEncoding.EncodeToString(ed25519.Sign(handlerFuzzKey, []byte(signed)))
}

// buildRequest parses the request as net/http's server would. ok is false
// if the server would have refused it before the handler ran.
func buildRequest(method, target, headers string, body []byte) (*http.Request, bool) {
	var b bytes.Buffer
	b.WriteString(method + " " + target + " HTTP/1.1\r\nHost: " + handlerFuzzHost + "\r\n")
	httpfuzz.WriteHeaders(&b, headers)
	b.WriteString("Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n")
	b.Write(body)
	r, err := http.ReadRequest(bufio.NewReader(&b))
	if err != nil {
		return nil, false
	}
	r.RemoteAddr = "127.0.0.1:50000"
	return r, true
}

// jwtLike matches anything that looks like a JWT (or its first two parts).
var jwtLike = regexp.MustCompile(`eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}`)

// handlerFuzzStatuses are the statuses bad input may get.
var handlerFuzzStatuses = map[int]bool{200: true, 204: true, 400: true, 401: true, 403: true, 404: true, 405: true, 413: true, 415: true, 429: true}

func (fx *handlerFixture) exchange(t *testing.T, method, target, headers string, body, claims []byte) {
	jwt := signJWT(claims)
	expand := func(s string) string { return strings.ReplaceAll(s, "@JWT@", jwt) }
	target, headers, body = expand(target), expand(headers), []byte(expand(string(body)))
	r, ok := buildRequest(method, target, headers, body)
	if !ok {
		return
	}
	rec := httptest.NewRecorder()
	fx.h.ServeHTTP(rec, r)
	res := rec.Result()
	got, _ := io.ReadAll(res.Body)
	what := fmt.Sprintf("%q %q -> %d %s", method, target, res.StatusCode, got)

	if !handlerFuzzStatuses[res.StatusCode] {
		t.Fatalf("%s: status not allowed for client input", what)
	}
	if res.Header.Get("X-Content-Type-Options") != "nosniff" || res.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("%s: security headers missing: %v", what, res.Header)
	}
	if res.StatusCode == http.StatusNoContent {
		if len(got) != 0 {
			t.Fatalf("%s: a body with 204", what)
		}
		if (r.Method != http.MethodDelete || servicePath(r) != "/user") && r.Method != http.MethodOptions {
			t.Fatalf("%s: 204 from something else than DELETE /user or OPTIONS", what)
		}
		return
	}
	if ct := res.Header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
		t.Fatalf("%s: Content-Type %q", what, ct)
	}
	if res.StatusCode >= 300 {
		var e errorBody
		if err := httpfuzz.StrictJSON(got, &e); err != nil || e.Error.Code == "" || e.Error.Message == "" {
			t.Fatalf("%s: not an error body with code and message (%v)", what, err)
		}
		if jwtLike.Match(got) || bytes.Contains(got, []byte(emulator.DevelopmentKey)) ||
			bytes.Contains(bytes.ToLower(got), []byte("accesskey")) || bytes.Contains(got, []byte("endpoint=")) {
			t.Fatalf("%s: the error shows a token, key or connection string", what)
		}
		if want := map[int]string{401: "WWW-Authenticate", 405: "Allow", 429: "Retry-After"}[res.StatusCode]; want != "" && res.Header.Get(want) == "" {
			t.Fatalf("%s: no %s", what, want)
		}
		return
	}
	if r.Method == http.MethodHead {
		return
	}
	switch servicePath(r) {
	case "/user":
		var v struct {
			CommunicationUserID string `json:"communicationUserId"`
		}
		if err := httpfuzz.StrictJSON(got, &v); err != nil || !strings.HasPrefix(v.CommunicationUserID, "8:acs:") {
			t.Fatalf("%s: user body: %v", what, err)
		}
	case "/token", "/token/teams":
		teams := servicePath(r) == "/token/teams"
		var v tokenBody
		if err := httpfuzz.StrictJSON(got, &v); err != nil {
			t.Fatalf("%s: token body: %v", what, err)
		}
		if (v.User != nil) == teams || v.Token == "" {
			t.Fatalf("%s: token body without a token, or user on a Teams exchange", what)
		}
		exp, err := time.Parse(time.RFC3339Nano, v.ExpiresOn)
		if err != nil {
			t.Fatalf("%s: expiresOn: %v", what, err)
		}
		st := fx.em.Introspect(v.Token)
		// The JWT's exp is expiresOn truncated to the second, as the
		// service's are.
		if st.Status != emulator.StatusValid || !st.ExpiresOn.Equal(exp.Truncate(time.Second)) {
			t.Fatalf("%s: the token is %+v", what, st)
		}
		if teams {
			if !strings.HasPrefix(st.User, "8:orgid:") {
				t.Fatalf("%s: a Teams token for %s", what, st.User)
			}
			break
		}
		if v.User.CommunicationUserID == "" || st.User != v.User.CommunicationUserID {
			t.Fatalf("%s: the token is for %s", what, st.User)
		}
		for _, s := range st.Scopes {
			if !slices.Contains(acsidentity.PossibleTokenScopeValues(), acsidentity.TokenScope(s)) {
				t.Fatalf("%s: scope %q", what, s)
			}
		}
	default:
		t.Fatalf("%s: 2xx from an unknown path", what)
	}
}

// servicePath is r's path as the fixture's Service sees it (below /api/,
// or the whole path), lowered as CaseInsensitivePaths folds it.
func servicePath(r *http.Request) string {
	p := r.URL.Path
	if strings.HasPrefix(p, "/api/") {
		p = p[len("/api"):]
	}
	return asciiLower(p)
}

// asciiLower lowers ASCII letters only, as the Service's paths fold (with
// CaseInsensitivePaths): U+212A KELVIN SIGN is no k.
func asciiLower(s string) string {
	return strings.Map(func(r rune) rune {
		if 'A' <= r && r <= 'Z' {
			return r + 'a' - 'A'
		}
		return r
	}, s)
}
