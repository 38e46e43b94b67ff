package emulator_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/acsgo/acsidentity/emulator"
	"github.com/acsgo/acsidentity/internal/hmacauth"
	"github.com/acsgo/acsidentity/internal/recorded"
)

// recording is what the real ACS Identity service answered during the
// official Python SDK's live tests (../testdata/recorded/README.md).
var recording = filepath.Join("..", "testdata", "recorded", "python.jsonl")

var (
	// serviceTimeRE is the service's date-time form: .NET's round-trip
	// form with the fraction's trailing zeros trimmed.
	serviceTimeRE = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{0,6}[1-9])?\+00:00$`)
	acsIDRE       = regexp.MustCompile(`^8:acs:` + emulator.DevelopmentResourceID + `_[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	jwtRE         = regexp.MustCompile(`^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$`)
	// pytestParam is a parametrized test's "[case-value]" suffix.
	pytestParam = regexp.MustCompile(`\[([A-Za-z_&]+)-([^\]]*)\]$`)
)

// TestReplayRecordedTraffic replays every recorded request against the
// emulator, making the identities each test needs first and reproducing
// each error condition, and compares what the emulator answers with what
// the real service answered: status, content type, MS-CV and Request-Id,
// JSON key sets and types, ID, token and date-time forms, the error's code,
// target and message, and the token's lifetime.
func TestReplayRecordedTraffic(t *testing.T) {
	t.Parallel()
	all, err := recorded.Load(recording)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := emulator.Start(&emulator.Options{AllowBearer: true})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	raw, _ := base64.StdEncoding.DecodeString(emulator.DevelopmentKey)
	key := hmacauth.NewKey(raw)

	replayed := 0
	escaped := map[bool]int{}
	for i, group := range recorded.ByTest(all) {
		t.Run(group[0].Test, func(t *testing.T) {
			r := &replayer{t: t, srv: srv, key: key, escape: i%2 == 1, test: group[0].Test}
			for _, in := range group {
				r.replay(in)
				replayed++
				if strings.Contains(in.Path, recorded.Sanitized) {
					escaped[r.escape]++
				}
			}
		})
	}
	if replayed != len(all) || len(all) < 41 {
		t.Errorf("replayed %d of %d interactions", replayed, len(all))
	}
	// Identity paths went both ways: colons escaped (%3A, as the JS SDK
	// sends them) and not (as the Java SDK does).
	if escaped[true] == 0 || escaped[false] == 0 {
		t.Errorf("identity paths sent escaped %d times and unescaped %d times", escaped[true], escaped[false])
	}
}

// replayer replays one test's interactions, in order.
type replayer struct {
	t      *testing.T
	srv    *emulator.Server
	key    *hmacauth.Key
	escape bool   // send the identity's colons as %3A
	test   string // the SDK test, which names the condition it provoked
	lastID string // the identity the test made last
}

func (r *replayer) replay(in recorded.Interaction) {
	t := r.t
	t.Helper()
	what := in.Name()

	path := in.Path
	if strings.Contains(path, "/"+recorded.Sanitized) {
		if r.lastID == "" {
			t.Fatalf("%s: the path names an identity the test has not made", what)
		}
		id := r.lastID
		if r.escape {
			id = strings.ReplaceAll(id, ":", "%3A")
		}
		path = strings.Replace(path, "/"+recorded.Sanitized, "/"+id, 1)
	}
	var body []byte
	teamsExp := time.Now().Add(time.Hour).Truncate(time.Second)
	if in.HasRequestBody() {
		body = in.RequestBody
		if strings.HasPrefix(in.Path, "/teamsUser/") {
			body = r.teamsBody(in, teamsExp)
		}
	}
	req, err := http.NewRequest(in.Method, r.srv.URL+path+"?api-version="+in.APIVersion, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if in.RequestHeaders.ContentType != "" {
		req.Header.Set("Content-Type", in.RequestHeaders.ContentType)
	}
	if slices.Contains(in.RequestHeaders.XMS, "x-ms-client-request-id") {
		req.Header.Set("x-ms-client-request-id", "replay-"+fmt.Sprint(in.Seq))
	}
	if slices.Contains(in.RequestHeaders.XMS, "x-ms-return-client-request-id") {
		req.Header.Set("x-ms-return-client-request-id", "true")
	}
	switch in.Auth {
	case "hmac":
		date := time.Now().UTC().Format(http.TimeFormat)
		hash := hmacauth.ContentHash(body)
		req.Header.Set(hmacauth.DateHeader, date)
		req.Header.Set(hmacauth.ContentHashHeader, hash)
		req.Header.Set("Authorization", hmacauth.AuthorizationPrefix+r.key.Signature(in.Method, req.URL.RequestURI(), date, req.URL.Host, hash))
	case "bearer":
		req.Header.Set("Authorization", "Bearer "+fakeJWT(map[string]any{
			"aud": emulator.CommunicationAudience, "exp": time.Now().Add(time.Hour).Unix(),
			"tid": "72f988bf-86f1-41af-91ab-2d7cd011db47", "oid": "5d2c6e1f-8a7b-4c3d-9e0f-1a2b3c4d5e6f",
		}))
	default:
		t.Fatalf("%s: unknown auth %q", what, in.Auth)
	}

	sent := time.Now()
	res, err := r.srv.Client().Do(req)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	got, err := io.ReadAll(res.Body)
	res.Body.Close()
	answered := time.Now()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}

	if res.StatusCode != in.Status {
		t.Errorf("%s: status %d, the service answered %d; body %s", what, res.StatusCode, in.Status, got)
		return
	}
	wantCT := in.ResponseHeaders.ContentType
	if !in.HasResponseBody() {
		wantCT = ""
	}
	if ct := res.Header.Get("Content-Type"); ct != wantCT {
		t.Errorf("%s: Content-Type %q, the service sent %q", what, ct, wantCT)
	}
	if has := res.Header.Get("MS-CV") != ""; has != in.ResponseHeaders.MSCV {
		t.Errorf("%s: MS-CV sent %v, the service %v", what, has, in.ResponseHeaders.MSCV)
	}
	if has := res.Header.Get("Request-Id") != ""; has != in.ResponseHeaders.RequestID {
		t.Errorf("%s: Request-Id sent %v, the service %v", what, has, in.ResponseHeaders.RequestID)
	}
	if loc := res.Header.Get("Location"); (in.ResponseHeaders.Location == nil) != (loc == "") {
		t.Errorf("%s: Location %q, the service %v", what, loc, in.ResponseHeaders.Location)
	}
	if !in.HasResponseBody() {
		if len(got) != 0 {
			t.Errorf("%s: a body where the service sent none: %s", what, got)
		}
		return
	}
	want, ours := decodeAny(t, what, in.ResponseBody), decodeAny(t, what, got)
	sameShape(t, what, "$", want, ours)

	// What the answer says, beyond its shape.
	m, _ := ours.(map[string]any)
	if ident, ok := m["identity"].(map[string]any); ok && in.Status == http.StatusCreated {
		r.lastID, _ = ident["id"].(string)
	}
	tok := m
	if at, ok := m["accessToken"].(map[string]any); ok {
		tok = at
	}
	if token, ok := tok["token"].(string); ok {
		exp, err := time.Parse(time.RFC3339Nano, tok["expiresOn"].(string))
		if err != nil {
			t.Fatalf("%s: expiresOn: %v", what, err)
		}
		r.checkToken(what, in, token, exp, sent, answered, teamsExp)
	}
}

// checkToken checks a token's lifetime (expiresInMinutes, or 24 hours, or
// the Teams token's expiry) and that its JWT exp is expiresOn's second.
func (r *replayer) checkToken(what string, in recorded.Interaction, token string, expiresOn, sent, answered, teamsExp time.Time) {
	t := r.t
	t.Helper()
	st := r.srv.Emulator.Introspect(token)
	if st.Status != emulator.StatusValid || !st.ExpiresOn.Equal(expiresOn.Truncate(time.Second)) {
		t.Errorf("%s: the token introspects as %+v; expiresOn %v", what, st, expiresOn)
	}
	if strings.HasPrefix(in.Path, "/teamsUser/") {
		if !expiresOn.Equal(teamsExp) {
			t.Errorf("%s: a Teams user's token expires on %v, its Entra ID token on %v", what, expiresOn, teamsExp)
		}
		return
	}
	var req struct {
		ExpiresInMinutes *int `json:"expiresInMinutes"`
	}
	json.Unmarshal(in.RequestBody, &req)
	life := 24 * time.Hour
	if req.ExpiresInMinutes != nil {
		life = time.Duration(*req.ExpiresInMinutes) * time.Minute
	}
	if expiresOn.Before(sent.Add(life).Add(-time.Microsecond)) || expiresOn.After(answered.Add(life)) {
		t.Errorf("%s: expiresOn %v is not %v after the call (%v to %v)", what, expiresOn, life, sent, answered)
	}
	if st.User != r.lastID {
		t.Errorf("%s: the token is for %s, the identity is %s", what, st.User, r.lastID)
	}
}

// teamsBody rebuilds a Teams user exchange request. The recorder replaced
// the token, appId and userId with "sanitized"; the test's name says which
// condition it provoked, and a pytest parameter ("[invalid_token-invalid]")
// the value it sent.
func (r *replayer) teamsBody(in recorded.Interaction, exp time.Time) []byte {
	const app, user, tenant = "6b2a9c1e-3f4d-4e5a-8b7c-9d0e1f2a3b4c", "0b6f3a8e-5a43-4c1e-9d7e-2f64c1a0b9d3", "72f988bf-86f1-41af-91ab-2d7cd011db47"
	var b struct {
		Token  string `json:"token"`
		AppID  string `json:"appId"`
		UserID string `json:"userId"`
	}
	if err := json.Unmarshal(in.RequestBody, &b); err != nil {
		r.t.Fatalf("%s: %v", in.Name(), err)
	}
	var param, value string
	if m := pytestParam.FindStringSubmatch(r.test); m != nil {
		param, value = m[1], m[2]
	}
	claims := map[string]any{"aud": emulator.TeamsUserAudience, "appid": app, "oid": user, "tid": tenant, "exp": exp.Unix()}
	if strings.Contains(r.test, "expired_token") {
		claims["exp"] = time.Now().Add(-time.Hour).Unix()
	}
	fill := func(field *string, paramSuffix, def string) {
		if *field != recorded.Sanitized {
			return // sent as recorded: "" or a literal value
		}
		if strings.HasSuffix(param, paramSuffix) {
			*field = value
			return
		}
		*field = def
	}
	fill(&b.Token, "_token", fakeJWT(claims))
	fill(&b.AppID, "_client_id", app)
	wrongUser := user
	if strings.Contains(r.test, "wrong_user_object_id") {
		wrongUser = "9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a"
	}
	fill(&b.UserID, "_user_object_id", wrongUser)
	out, _ := json.Marshal(b)
	return out
}

// sameShape compares the emulator's answer (got) with the service's (want):
// the same keys and JSON types everywhere; the error object's strings
// exactly; sanitized IDs and tokens by their form; date-times by the
// service's form, a whole second where the service wrote one.
func sameShape(t *testing.T, what, at string, want, got any) {
	t.Helper()
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			t.Errorf("%s: %s is %T, the service's is an object", what, at, got)
			return
		}
		wk, gk := keys(w), keys(g)
		if !slices.Equal(wk, gk) {
			t.Errorf("%s: %s has keys %v, the service's %v", what, at, gk, wk)
			return
		}
		for _, k := range wk {
			sameShape(t, what, at+"."+k, w[k], g[k])
		}
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			t.Errorf("%s: %s is %v, the service's %v", what, at, got, want)
			return
		}
		for i := range w {
			sameShape(t, what, fmt.Sprintf("%s[%d]", at, i), w[i], g[i])
		}
	case string:
		g, ok := got.(string)
		if !ok {
			t.Errorf("%s: %s is %T, the service's is a string", what, at, got)
			return
		}
		field := at[strings.LastIndexByte(at, '.')+1:]
		switch {
		case strings.HasPrefix(at, "$.error."):
			if g != w {
				t.Errorf("%s: %s is %q, the service's %q", what, at, g, w)
			}
		case w == recorded.Sanitized && field == "id":
			if !acsIDRE.MatchString(g) {
				t.Errorf("%s: %s %q is not an ACS identity of the resource", what, at, g)
			}
		case w == recorded.Sanitized && field == "token":
			if !jwtRE.MatchString(g) {
				t.Errorf("%s: %s is not a JWT", what, at)
			}
		case serviceTimeRE.MatchString(w):
			if !serviceTimeRE.MatchString(g) || !strings.Contains(w, ".") && strings.Contains(g, ".") {
				t.Errorf("%s: %s %q is not in the service's form (%q)", what, at, g, w)
			}
		default:
			t.Errorf("%s: %s: no rule to compare %q with the service's %q", what, at, g, w)
		}
	case json.Number:
		if _, ok := got.(json.Number); !ok {
			t.Errorf("%s: %s is %T, the service's is a number", what, at, got)
		}
	case bool:
		if _, ok := got.(bool); !ok {
			t.Errorf("%s: %s is %T, the service's is a boolean", what, at, got)
		}
	case nil:
		if got != nil {
			t.Errorf("%s: %s is %v, the service's is null", what, at, got)
		}
	}
}

func keys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func decodeAny(t *testing.T, what string, b []byte) any {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		t.Fatalf("%s: %v in %s", what, err, b)
	}
	return v
}

// fakeJWT makes a JWT with the given claims and a dummy signature (the
// emulator does not check Entra ID signatures).
func fakeJWT(claims map[string]any) string {
	h := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"RS256","typ":"JWT"}`))
	p, _ := json.Marshal(claims)
	return h + "." + base64.RawURLEncoding.EncodeToString(p) + ".c2lnbmF0dXJl"
}
