package tokenservice_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/acsgo/acsidentity/emulator"
	"github.com/acsgo/acsidentity/tokenservice"
)

// openAPIChecker holds answers against the Service's OpenAPI document:
// that the status is documented for the operation, the Content-Type is
// the documented one, the required headers are there, and the body is
// valid against the documented schema (JSON Schema 2020-12, checked by
// github.com/santhosh-tekuri/jsonschema).
type openAPIChecker struct {
	doc      map[string]any
	compiler *jsonschema.Compiler
	seen     map[string]bool // "path method status"
}

func newOpenAPIChecker(t *testing.T) *openAPIChecker {
	t.Helper()
	raw := tokenservice.OpenAPI()
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	if doc["openapi"] != "3.1.0" {
		t.Fatalf("openapi %v, want 3.1.0", doc["openapi"])
	}
	resource, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	if err := c.AddResource("openapi.json", resource); err != nil {
		t.Fatal(err)
	}
	return &openAPIChecker{doc: doc, compiler: c, seen: map[string]bool{}}
}

// pointer escapes a JSON pointer token.
func pointer(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

// check holds res, the answer to method path (relative to the mount), to
// the document.
func (c *openAPIChecker) check(t *testing.T, method, path string, res *http.Response) {
	t.Helper()
	body := readBody(t, res, nil)
	what := fmt.Sprintf("%s %s -> %d %s", method, path, res.StatusCode, body)
	item, _ := c.doc["paths"].(map[string]any)[path].(map[string]any)
	op, _ := item[strings.ToLower(method)].(map[string]any)
	status := fmt.Sprint(res.StatusCode)
	var resp map[string]any
	var loc string
	switch {
	case item == nil && res.StatusCode == http.StatusNotFound:
		resp, loc = map[string]any{"$ref": "#/components/responses/NotFound"}, ""
		c.seen["NotFound"] = true
	case op == nil && res.StatusCode == http.StatusMethodNotAllowed:
		resp, loc = map[string]any{"$ref": "#/components/responses/MethodNotAllowed"}, ""
		c.seen["MethodNotAllowed"] = true
	case op == nil:
		t.Errorf("%s: no such operation in the document", what)
		return
	default:
		resp, _ = op["responses"].(map[string]any)[status].(map[string]any)
		loc = "#/paths/" + pointer(path) + "/" + strings.ToLower(method) + "/responses/" + status
	}
	if resp == nil {
		t.Errorf("%s: status not documented", what)
		return
	}
	if ref, ok := resp["$ref"].(string); ok {
		name := strings.TrimPrefix(ref, "#/components/responses/")
		resp, _ = c.doc["components"].(map[string]any)["responses"].(map[string]any)[name].(map[string]any)
		loc = ref
	}
	c.seen[path+" "+method+" "+status] = true
	for name, h := range mapOf(resp["headers"]) {
		if mapOf(h)["required"] == true && res.Header.Get(name) == "" {
			t.Errorf("%s: no %s header", what, name)
		}
	}
	content := mapOf(resp["content"])
	if len(content) == 0 {
		if len(body) != 0 {
			t.Errorf("%s: a body where the document has none", what)
		}
		return
	}
	mt, _, _ := mime.ParseMediaType(res.Header.Get("Content-Type"))
	if _, ok := content[mt]; !ok {
		t.Errorf("%s: Content-Type %q, documented %v", what, res.Header.Get("Content-Type"), content)
		return
	}
	sch, err := c.compiler.Compile("openapi.json" + loc + "/content/" + pointer(mt) + "/schema")
	if err != nil {
		t.Fatalf("compiling the schema of %s: %v", loc, err)
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		t.Errorf("%s: not JSON: %v", what, err)
		return
	}
	if err := sch.Validate(v); err != nil {
		t.Errorf("%s: not valid against the document: %v", what, err)
	}
}

func mapOf(v any) map[string]any { m, _ := v.(map[string]any); return m }

// documented lists every "path method status" of the document.
func (c *openAPIChecker) documented() []string {
	var out []string
	for path, item := range mapOf(c.doc["paths"]) {
		for method, op := range mapOf(item) {
			for status := range mapOf(mapOf(op)["responses"]) {
				out = append(out, path+" "+strings.ToUpper(method)+" "+status)
			}
		}
	}
	sort.Strings(out)
	return append(out, "NotFound", "MethodNotAllowed")
}

// TestOpenAPI sends each endpoint requests that get every answer its
// document lists, and holds the real answers against the document.
func TestOpenAPI(t *testing.T) {
	t.Parallel()
	c := newOpenAPIChecker(t)
	teamsUser, teamsBody := teamsFixture()
	type op struct{ method, path, body string }
	ops := []op{
		{"GET", "/token", ""}, {"POST", "/token", `{"scopes":["chat"]}`}, {"POST", "/token/teams", teamsBody(teamsUser)},
		{"GET", "/user", ""}, {"DELETE", "/user", ""},
	}
	type fixture struct {
		em *emulator.Emulator
		h  http.Handler
	}
	newFixture := func(o *tokenservice.Options) fixture {
		em := newEmulator(t)
		if o.RateLimiter == nil {
			o.RateLimiter = tokenservice.NewMemoryRateLimiter(0, 1)
		}
		return fixture{em, newBareService(t, inProcessACS(t, em), o)}
	}
	dev := map[string]string{tokenservice.DevCallerHeader: "pia"}
	send := func(f fixture, o op, header map[string]string) {
		t.Helper()
		r := httptest.NewRequest(o.method, "http://127.0.0.1:7071"+o.path, strings.NewReader(o.body))
		r.RemoteAddr = "127.0.0.1:50000"
		if o.body != "" {
			r.Header.Set("Content-Type", "application/json")
		}
		for k, v := range header {
			if k == "Host" {
				r.Host = v
			}
			r.Header.Set(k, v)
		}
		w := httptest.NewRecorder()
		f.h.ServeHTTP(w, r)
		path, _, _ := strings.Cut(o.path, "?")
		c.check(t, o.method, path, w.Result())
	}

	// Development callers on an emulator: the answers of the endpoints.
	devF := newFixture(&tokenservice.Options{AllowAnonymous: true, DevelopmentCallers: true})
	for _, o := range ops {
		send(devF, o, dev) // 200, 204
	}
	for _, o := range []op{
		{"GET", "/token?scopes=admin", ""},
		{"POST", "/token", `{"scopes":["chat"],"user":"x"}`},
		{"POST", "/token", strings.Repeat(" ", tokenservice.DefaultMaxBodyBytes+1)},
		{"POST", "/token/teams", `{"token":""}`},
		{"POST", "/token/teams", strings.Repeat(" ", tokenservice.DefaultMaxBodyBytes+1)},
		{"PUT", "/token", ""}, {"GET", "/token/teams", ""}, {"PUT", "/user", ""}, {"GET", "/tokens", ""},
		{"OPTIONS", "/token", ""}, {"OPTIONS", "/token/teams", ""}, {"OPTIONS", "/user", ""},
	} {
		send(devF, o, dev)
	}
	// Not JSON.
	for _, path := range []string{"/token", "/token/teams"} {
		r := httptest.NewRequest("POST", "http://127.0.0.1:7071"+path, strings.NewReader("scopes=chat"))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		w := httptest.NewRecorder()
		devF.h.ServeHTTP(w, r)
		c.check(t, "POST", path, w.Result())
	}
	// Anonymous: no identity to look up (404) or delete (403).
	send(devF, op{"GET", "/user", ""}, nil)
	send(devF, op{"DELETE", "/user", ""}, nil)
	// Another host than loopback's, for every operation.
	for _, o := range append(ops, op{"OPTIONS", "/token", ""}, op{"OPTIONS", "/token/teams", ""}, op{"OPTIONS", "/user", ""}) {
		send(devF, o, map[string]string{tokenservice.DevCallerHeader: "pia", "Host": "rebind.example"})
	}
	// ACS fails (502) and throttles (503).
	for _, o := range ops {
		devF.em.InjectFault(emulator.Fault{Count: 3, Status: 500})
		send(devF, o, dev)
		devF.em.InjectFault(emulator.Fault{Status: 429})
		send(devF, o, dev)
	}

	// Authentication refused (401), a panic (500), a rate limit (429), a
	// limiter that is down (503), another user's Teams token (403).
	refuse := newFixture(&tokenservice.Options{Authenticate: func(*http.Request) (tokenservice.Caller, error) {
		return tokenservice.Caller{}, errors.New("no session")
	}})
	panics := newFixture(&tokenservice.Options{Authenticate: func(*http.Request) (tokenservice.Caller, error) { panic("bug") }})
	limited := newFixture(&tokenservice.Options{AllowAnonymous: true, DevelopmentCallers: true, RateLimiter: tokenservice.NewMemoryRateLimiter(1, 1)})
	down := newFixture(&tokenservice.Options{AllowAnonymous: true, RateLimiter: brokenLimiter{}})
	for _, o := range ops {
		send(refuse, o, nil)
		send(panics, o, nil)
		send(limited, o, dev)
		send(limited, o, dev)
		send(down, o, nil)
	}
	other := newFixture(&tokenservice.Options{Authenticate: func(*http.Request) (tokenservice.Caller, error) {
		return tokenservice.Caller{ID: "quinn", EntraObjectID: "aaaaaaaa-5a43-4c1e-9d7e-2f64c1a0b9d3"}, nil
	}})
	send(other, op{"POST", "/token/teams", teamsBody(teamsUser)}, nil)

	for _, d := range c.documented() {
		if !c.seen[d] {
			t.Errorf("no request got the documented answer %s", d)
		}
	}
}
