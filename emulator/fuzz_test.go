package emulator

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/acsgo/acsidentity/internal/hmacauth"
	"github.com/acsgo/acsidentity/internal/httpfuzz"
	"github.com/acsgo/acsidentity/internal/wire"
)

// FuzzServeHTTP sends arbitrary requests (method, raw request target,
// headers, body) to the emulator's ServeHTTP, once HMAC-signed with the
// development key (so that they reach routing, validation and the
// handlers) and once as they are. The corpus is in
// testdata/fuzz/FuzzServeHTTP; its inputs may use three placeholders:
//
//	@ID@     the ID of an identity the fixture made (custom ID "fuzz-known")
//	@TOKEN@  a token of that identity
//	@JWT@    a JWT whose payload is the claims argument (the emulator does
//	         not check Entra ID signatures), for bearer callers and the
//	         Teams user exchange
//
// flags bit 0 sends the body without a Content-Length (chunked); bit 1
// announces more bytes than are sent (a client that hangs up mid-body).
//
// Invariants: no panic; a documented status; every error is
// {"error":{"code","message"}} with both set; every 2xx body decodes
// strictly into the wire shape its operation promises, and every token in
// it is valid for the identity it names; no response shows the access key
// (unless the request did) or, to an unsigned request, the signature it
// should have had; an unsigned request without a bearer token changes
// nothing; and afterwards the state is consistent (custom IDs map to live
// identities, and a fresh create, issue, revoke and delete work).
func FuzzServeHTTP(f *testing.F) {
	f.Fuzz(func(t *testing.T, method, target, headers string, body, claims []byte, flags uint8) {
		if strings.ContainsAny(method+target, "\r\n") {
			return // not one request line
		}
		for _, signed := range []bool{true, false} {
			fx := newFuzzFixture(t)
			before := fx.snapshot()
			fx.exchange(t, signed, method, target, headers, body, claims, flags)
			// An unchanged state is the fixture's, which the seeds show to
			// be consistent; checking it again is costly (Ed25519).
			if !reflect.DeepEqual(before, fx.snapshot()) {
				fx.checkConsistent(t)
			}
		}
	})
}

// fuzzNow is the fuzzing emulators' clock. It is fixed, so that an input
// means the same on every run, and has a fraction of a second, as a real
// clock does.
var fuzzNow = time.Date(2025, 7, 10, 21, 39, 39, 324458400, time.UTC)

const (
	fuzzHost     = "127.0.0.1:10780"
	fuzzCustomID = "fuzz-known"
	fuzzTenant   = "72f988bf-86f1-41af-91ab-2d7cd011db47"
	fuzzObject   = "0b6f3a8e-5a43-4c1e-9d7e-2f64c1a0b9d3"
	fuzzApp      = "1fd5118e-2576-4263-8130-9503064c837a"
	fuzzMaxBody  = 4 << 10
)

// fuzzStatuses are the statuses the package documentation promises for
// an emulator without faults, throttling or a data file.
var fuzzStatuses = map[int]bool{200: true, 201: true, 204: true, 400: true, 401: true, 403: true, 404: true, 405: true, 413: true, 415: true}

type fuzzFixture struct {
	e        *Emulator
	key      *hmacauth.Key
	rawKey   []byte
	knownID  string
	knownTok string
}

// fuzzShared is what every fixture shares: the token signing key (made
// once: key generation is the costliest part of New) and the fixture
// identity's token.
var fuzzShared struct {
	once     sync.Once
	signer   *signer
	knownTok string
}

// fuzzKnownID is the fixture identity's ID.
const fuzzKnownID = "8:acs:" + DevelopmentResourceID + "_00000000-f022-4e11-8000-00000000f022"

// newFuzzFixture makes an emulator holding an identity (custom ID
// fuzzCustomID, with a chat token issued at fuzzNow) and a Teams extension
// and an Entra assignment for fuzzObject, so that bearer callers can
// exchange.
func newFuzzFixture(t *testing.T) *fuzzFixture {
	t.Helper()
	e, err := New(&Options{AllowBearer: true, Now: func() time.Time { return fuzzNow }, MaxBodyBytes: fuzzMaxBody, PageSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	fuzzShared.once.Do(func() {
		fuzzShared.signer = e.signer
		fuzzShared.knownTok = e.token(fuzzKnownID, []string{"chat"}, issued{seq: 1, iat: fuzzNow, expires: fuzzNow.Add(defaultLifetime).Truncate(time.Second)}).Token
	})
	e.signer = fuzzShared.signer
	raw, _ := base64.StdEncoding.DecodeString(DevelopmentKey)
	fx := &fuzzFixture{e: e, key: hmacauth.NewKey(raw), rawKey: raw, knownID: fuzzKnownID, knownTok: fuzzShared.knownTok}
	st := e.store
	st.add(&identity{id: fuzzKnownID, customID: fuzzCustomID, created: fuzzNow, lastIssued: fuzzNow})
	st.custom[fuzzCustomID] = []string{fuzzKnownID}
	e.tokenSeq.Store(1)
	st.teams[teamsKey{fuzzTenant, fuzzObject}] = wire.TeamsExtensionAssignment{ObjectID: fuzzObject, TenantID: fuzzTenant, PrincipalType: "user"}
	st.entra[fuzzObject] = wire.EntraAssignment{ObjectID: fuzzObject, TenantID: fuzzTenant, PrincipalType: "user", ClientIDs: []string{fuzzApp}}
	return fx
}

// sign signs r (whose body is body) as a correct client does.
func (fx *fuzzFixture) sign(r *http.Request, body []byte) {
	date := fuzzNow.Format(http.TimeFormat)
	hash := hmacauth.ContentHash(body)
	r.Header.Set(hmacauth.DateHeader, date)
	r.Header.Set(hmacauth.ContentHashHeader, hash)
	r.Header.Set("Authorization", hmacauth.AuthorizationPrefix+fx.key.Signature(r.Method, signedURI(r), date, r.Host, hash))
}

// signedURI is the request URI a client signs: the one it sent.
func signedURI(r *http.Request) string {
	if strings.HasPrefix(r.RequestURI, "/") {
		return r.RequestURI
	}
	return r.URL.RequestURI()
}

// mustDo sends a signed request the fixture needs and decodes the answer.
func (fx *fuzzFixture) mustDo(t *testing.T, method, target, body string, want int, out any) {
	t.Helper()
	r := httptest.NewRequest(method, target, strings.NewReader(body))
	r.Host = fuzzHost
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	fx.sign(r, []byte(body))
	rec := httptest.NewRecorder()
	fx.e.ServeHTTP(rec, r)
	if rec.Code != want {
		t.Fatalf("%s %s: status %d, want %d: %s", method, target, rec.Code, want, rec.Body)
	}
	if out != nil {
		if err := httpfuzz.StrictJSON(rec.Body.Bytes(), out); err != nil {
			t.Fatalf("%s %s: %v: %s", method, target, err, rec.Body)
		}
	}
}

// expand replaces the placeholders.
func (fx *fuzzFixture) expand(s, jwt string) string {
	if !strings.Contains(s, "@") {
		return s
	}
	return strings.NewReplacer("@ID@", fx.knownID, "@TOKEN@", fx.knownTok, "@JWT@", jwt).Replace(s)
}

// fuzzJWT is a JWT with the given payload bytes (any bytes: the emulator
// decodes Entra ID tokens without checking their signatures).
func fuzzJWT(claims []byte) string {
	return "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9." + base64.RawURLEncoding.EncodeToString(claims) + ".c2lnbmF0dXJl"
}

// buildFuzzRequest parses the request as the server would. ok is false if
// net/http would have refused it before any handler ran.
func buildFuzzRequest(method, target, headers string, body []byte, flags uint8) (*http.Request, bool) {
	var b bytes.Buffer
	b.WriteString(method + " " + target + " HTTP/1.1\r\nHost: " + fuzzHost + "\r\n")
	httpfuzz.WriteHeaders(&b, headers)
	announced := len(body)
	if flags&2 != 0 {
		announced += 1 + int(flags>>4)
	}
	b.WriteString("Content-Length: " + strconv.Itoa(announced) + "\r\n\r\n")
	b.Write(body)
	r, err := http.ReadRequest(bufio.NewReader(&b))
	if err != nil {
		return nil, false
	}
	r.RemoteAddr = "127.0.0.1:50000"
	if flags&3 == 1 { // chunked: the length is unknown to the handler
		r.ContentLength = -1
		r.Header.Del("Content-Length")
		r.TransferEncoding = []string{"chunked"}
	}
	return r, true
}

// exchange sends one fuzzed request and checks the answer.
func (fx *fuzzFixture) exchange(t *testing.T, signed bool, method, target, headers string, body, claims []byte, flags uint8) {
	jwt := fuzzJWT(claims)
	target, headers = fx.expand(target, jwt), fx.expand(headers, jwt)
	body = []byte(fx.expand(string(body), jwt))
	r, ok := buildFuzzRequest(method, target, headers, body, flags)
	if !ok {
		return
	}
	if signed {
		fx.sign(r, body)
	}
	authz := r.Header.Get("Authorization")
	bearer := len(authz) > 7 && strings.EqualFold(authz[:7], "Bearer ")
	// What a correct signature would be: an unsigned request must never be
	// told it.
	var wantSigs []string
	if !signed {
		for _, hash := range []string{r.Header.Get(hmacauth.ContentHashHeader), hmacauth.ContentHash(body)} {
			for _, date := range []string{r.Header.Get(hmacauth.DateHeader), fuzzNow.Format(http.TimeFormat)} {
				wantSigs = append(wantSigs, fx.key.Signature(r.Method, signedURI(r), date, r.Host, hash))
			}
		}
	}
	var sent bytes.Buffer
	fmt.Fprintf(&sent, "%s %s %v", method, target, r.Header)
	sent.Write(body)

	before := fx.snapshot()
	rec := httptest.NewRecorder()
	fx.e.ServeHTTP(rec, r)
	res := rec.Result()
	got, _ := io.ReadAll(res.Body)
	what := fmt.Sprintf("signed=%v %q %q -> %d %s", signed, method, target, res.StatusCode, got)

	if !fuzzStatuses[res.StatusCode] {
		t.Fatalf("%s: status not documented", what)
	}
	if res.Header.Get("MS-CV") == "" {
		t.Fatalf("%s: no MS-CV", what)
	}
	var all bytes.Buffer
	res.Header.Write(&all)
	all.Write(got)
	for _, secret := range []string{DevelopmentKey, strings.TrimRight(DevelopmentKey, "="), string(fx.rawKey)} {
		if !bytes.Contains(sent.Bytes(), []byte(secret)) && bytes.Contains(all.Bytes(), []byte(secret)) {
			t.Fatalf("%s: the response shows the access key", what)
		}
	}
	for _, sig := range wantSigs {
		if bytes.Contains(all.Bytes(), []byte(sig)) {
			t.Fatalf("%s: the response to an unsigned request shows its correct signature", what)
		}
	}

	path := r.URL.EscapedPath()
	extension := path == "/" || strings.HasPrefix(path, "/.emulator/") || strings.HasPrefix(path, "/.well-known/")
	var op *operation
	var params []string
	if !extension {
		if rt, p, st := fx.e.match(r.Method, path); st == 0 {
			op, params = rt.methods[r.Method], p
		}
	}
	if !signed && !bearer {
		if op != nil && res.StatusCode < 300 {
			t.Fatalf("%s: an unsigned request without a bearer token succeeded", what)
		}
		if after := fx.snapshot(); !reflect.DeepEqual(before, after) {
			t.Fatalf("%s: an unsigned request without a bearer token changed the state", what)
		}
	}

	if res.StatusCode >= 300 {
		if res.StatusCode == 405 && res.Header.Get("Allow") == "" {
			t.Fatalf("%s: 405 without Allow", what)
		}
		if ct := res.Header.Get("Content-Type"); ct != "application/json" {
			t.Fatalf("%s: error Content-Type %q", what, ct)
		}
		var e wire.ErrorResponse
		if err := httpfuzz.StrictJSON(got, &e); err != nil {
			t.Fatalf("%s: error body: %v", what, err)
		}
		if e.Error.Code == "" || e.Error.Message == "" {
			t.Fatalf("%s: error without code or message", what)
		}
		return
	}
	if r.Method == http.MethodHead {
		return // a server sends no body
	}
	if extension {
		fx.checkExtension(t, what, path, got)
		return
	}
	fx.checkSuccess(t, what, op, params, res.StatusCode, got)
}

// checkExtension checks a 2xx from the emulator's own endpoints.
func (fx *fuzzFixture) checkExtension(t *testing.T, what, path string, got []byte) {
	switch path {
	case "/", HealthPath:
		var v struct{ Status, Service string }
		if err := httpfuzz.StrictJSON(got, &v); err != nil || v.Status != "ok" {
			t.Fatalf("%s: health body: %v", what, err)
		}
	case JWKSPath:
		var v struct {
			Keys []map[string]string `json:"keys"`
		}
		if err := httpfuzz.StrictJSON(got, &v); err != nil || len(v.Keys) != 1 || v.Keys[0]["kty"] != "OKP" {
			t.Fatalf("%s: JWKS: %v", what, err)
		}
	case IntrospectPath:
		var v introspection
		if err := httpfuzz.StrictJSON(got, &v); err != nil {
			t.Fatalf("%s: introspection: %v", what, err)
		}
		switch v.Status {
		case StatusValid, StatusExpired, StatusRevoked, StatusDeleted:
			if v.User == "" || v.ExpiresOn == nil {
				t.Fatalf("%s: introspection without user or expiry", what)
			}
		case StatusInvalid:
		default:
			t.Fatalf("%s: introspection status %q", what, v.Status)
		}
	default:
		t.Fatalf("%s: 2xx from an unknown extension path", what)
	}
}

// checkSuccess checks a 2xx from an ACS operation against the shape and
// status the operation promises.
func (fx *fuzzFixture) checkSuccess(t *testing.T, what string, op *operation, params []string, status int, got []byte) {
	if op == nil {
		t.Fatalf("%s: 2xx from an unrouted request", what)
	}
	want := map[string][]int{
		OpCreate: {201}, OpGet: {200}, OpDelete: {204}, OpIssueToken: {200}, OpRevoke: {204},
		OpTeamsUserExchange: {200}, OpTeamsExtensionExchange: {200}, OpTeamsExtensionAssignmentGet: {200},
		OpTeamsExtensionAssignmentPut: {200, 201}, OpTeamsExtensionAssignmentDelete: {204},
		OpEntraExchange: {200}, OpEntraAssignmentList: {200}, OpEntraAssignmentPatch: {200},
		OpEntraAssignmentGet: {200}, OpEntraAssignmentPut: {200, 201}, OpEntraAssignmentDelete: {204},
	}[op.name]
	if !containsInt(want, status) {
		t.Fatalf("%s: %s answered %d, want one of %v", what, op.name, status, want)
	}
	decode := func(v any) {
		if err := httpfuzz.StrictJSON(got, v); err != nil {
			t.Fatalf("%s: %s body: %v", what, op.name, err)
		}
	}
	// validToken checks that a token just handed out is valid, for user
	// (if not ""), and expires when the response says.
	validToken := func(tok *wire.AccessToken, user string) {
		if tok == nil || tok.Token == "" {
			t.Fatalf("%s: no token", what)
		}
		st := fx.e.Introspect(tok.Token)
		if st.Status != StatusValid || (user != "" && st.User != user) || !st.ExpiresOn.Equal(tok.ExpiresOn.Truncate(time.Second)) {
			t.Fatalf("%s: the token just issued introspects as %+v (expiresOn %v)", what, st, tok.ExpiresOn)
		}
	}
	switch op.name {
	case OpCreate:
		var v wire.AccessTokenResult
		decode(&v)
		if !strings.HasPrefix(v.Identity.ID, fx.e.idPrefix) {
			t.Fatalf("%s: identity %q", what, v.Identity.ID)
		}
		if v.AccessToken != nil {
			validToken(v.AccessToken, v.Identity.ID)
		}
	case OpGet:
		var v wire.Identity
		decode(&v)
		if v.ID != params[0] {
			t.Fatalf("%s: got identity %q for %q", what, v.ID, params[0])
		}
	case OpIssueToken:
		var v wire.AccessToken
		decode(&v)
		validToken(&v, params[0])
	case OpTeamsUserExchange:
		var v wire.AccessToken
		decode(&v)
		validToken(&v, "")
	case OpTeamsExtensionExchange, OpEntraExchange:
		var v wire.AccessTokenResult
		decode(&v)
		validToken(v.AccessToken, v.Identity.ID)
	case OpTeamsExtensionAssignmentGet, OpTeamsExtensionAssignmentPut:
		var v wire.TeamsExtensionAssignment
		decode(&v)
		if !isGUID(v.ObjectID) || !isGUID(v.TenantID) || v.PrincipalType == "" {
			t.Fatalf("%s: assignment %+v", what, v)
		}
	case OpEntraAssignmentGet, OpEntraAssignmentPut:
		var v wire.EntraAssignment
		decode(&v)
		if !isGUID(v.ObjectID) || !isGUID(v.TenantID) || v.PrincipalType == "" || v.ClientIDs == nil {
			t.Fatalf("%s: assignment %+v", what, v)
		}
	case OpEntraAssignmentList, OpEntraAssignmentPatch:
		var v wire.EntraAssignmentList
		decode(&v)
		if v.Value == nil {
			t.Fatalf("%s: a list without value", what)
		}
		if v.NextLink != "" {
			if u, err := url.Parse(v.NextLink); err != nil || u.Host != fuzzHost {
				t.Fatalf("%s: nextLink %q", what, v.NextLink)
			}
		}
	default: // 204s
		if len(got) != 0 {
			t.Fatalf("%s: a body with 204", what)
		}
	}
}

func containsInt(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// fuzzState is everything the emulator holds.
type fuzzState struct {
	identities []identity
	custom     map[string][]string
	teams      map[teamsKey]wire.TeamsExtensionAssignment
	entra      map[string]wire.EntraAssignment
	seq        uint64
}

func (fx *fuzzFixture) snapshot() fuzzState {
	st := fx.e.store
	s := fuzzState{identities: st.all(), seq: fx.e.tokenSeq.Load()}
	st.customMu.Lock()
	s.custom = make(map[string][]string, len(st.custom))
	for k, v := range st.custom {
		s.custom[k] = slices.Clone(v)
	}
	st.customMu.Unlock()
	st.assignMu.RLock()
	s.teams = make(map[teamsKey]wire.TeamsExtensionAssignment, len(st.teams))
	for k, v := range st.teams {
		s.teams[k] = v
	}
	s.entra = make(map[string]wire.EntraAssignment, len(st.entra))
	for k, v := range st.entra {
		s.entra[k] = v
	}
	st.assignMu.RUnlock()
	return s
}

// checkConsistent checks the state after the fuzzed request: the custom
// ID index matches the live identities, the fixture's identity is what its
// token says it is, and the usual life of an identity still works.
func (fx *fuzzFixture) checkConsistent(t *testing.T) {
	s := fx.snapshot()
	live := map[string]identity{}
	for _, it := range s.identities {
		if !it.deleted {
			live[it.id] = it
		}
		if it.customID != "" && !it.deleted && !slices.Equal(s.custom[it.customID], []string{it.id}) {
			t.Fatalf("live identity %s has custom ID %q, which maps to %q", it.id, it.customID, s.custom[it.customID])
		}
	}
	for cid, ids := range s.custom {
		if len(ids) != 1 {
			t.Fatalf("custom ID %q maps to %q, not one identity (creates are atomic here)", cid, ids)
		}
		if it, ok := live[ids[0]]; !ok || it.customID != cid {
			t.Fatalf("custom ID %q maps to %s, which is not a live identity with that custom ID", cid, ids[0])
		}
	}

	known := fx.e.Introspect(fx.knownTok).Status
	switch known {
	case StatusValid, StatusRevoked, StatusDeleted:
	default:
		t.Fatalf("the fixture's token is %q", known)
	}
	const v = "?api-version=2025-03-02-preview"
	escaped := "/identities/" + url.PathEscape(fx.knownID)
	if known == StatusDeleted {
		fx.mustDo(t, "GET", escaped+v, "", 404, nil)
	} else {
		fx.mustDo(t, "GET", escaped+v, "", 200, nil)
	}
	var again wire.AccessTokenResult
	fx.mustDo(t, "POST", "/identities"+v, `{"customId":"`+fuzzCustomID+`","createTokenWithScopes":["voip"]}`, 201, &again)
	if same := again.Identity.ID == fx.knownID; same != (known != StatusDeleted) {
		t.Fatalf("the custom ID now names %s; the fixture's identity %s is %s", again.Identity.ID, fx.knownID, known)
	}
	if st := fx.e.Introspect(again.AccessToken.Token); st.Status != StatusValid {
		t.Fatalf("a token of the custom-ID identity is %+v", st)
	}

	var fresh wire.AccessTokenResult
	fx.mustDo(t, "POST", "/identities"+v, `{"createTokenWithScopes":["chat"]}`, 201, &fresh)
	p := "/identities/" + url.PathEscape(fresh.Identity.ID)
	var tok wire.AccessToken
	fx.mustDo(t, "POST", p+"/:issueAccessToken"+v, `{"scopes":["voip"]}`, 200, &tok)
	for _, tk := range []string{fresh.AccessToken.Token, tok.Token} {
		if st := fx.e.Introspect(tk); st.Status != StatusValid || st.User != fresh.Identity.ID {
			t.Fatalf("a fresh identity's token is %+v", st)
		}
	}
	fx.mustDo(t, "POST", p+"/:revokeAccessTokens"+v, "", 204, nil)
	if st := fx.e.Introspect(tok.Token); st.Status != StatusRevoked {
		t.Fatalf("after a revoke the token is %q", st.Status)
	}
	fx.mustDo(t, "DELETE", p+v, "", 204, nil)
	if st := fx.e.Introspect(tok.Token); st.Status != StatusDeleted {
		t.Fatalf("after a delete the token is %q", st.Status)
	}
}
