package emulator

import (
	"bytes"
	"encoding/base64"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/acsgo/acsidentity/internal/hmacauth"
	"github.com/acsgo/acsidentity/internal/testutil"
)

func TestHMACFailures(t *testing.T) {
	t.Parallel()
	clk := newClock()
	_, c := start(t, &Options{Now: clk.Now})
	path := "/identities?api-version=2023-10-01"
	good := c.send(req{method: "POST", path: path, body: `{}`})
	mustStatus(t, good, 201)
	cases := []struct {
		name   string
		mutate func(*http.Request)
		want   string
	}{
		{"no Authorization", func(r *http.Request) { r.Header.Del("Authorization") }, "Authorization header is missing"},
		{"no x-ms-date", func(r *http.Request) { r.Header.Del("x-ms-date") }, "x-ms-date header is missing"},
		{"bad x-ms-date", func(r *http.Request) { r.Header.Set("x-ms-date", "yesterday") }, "not an RFC 1123 date"},
		{"old x-ms-date", func(r *http.Request) {
			r.Header.Set("x-ms-date", clk.Now().Add(-16*time.Minute).UTC().Format(http.TimeFormat))
		}, "more than 15 minutes"},
		{"future x-ms-date", func(r *http.Request) {
			r.Header.Set("x-ms-date", clk.Now().Add(16*time.Minute).UTC().Format(http.TimeFormat))
		}, "more than 15 minutes"},
		{"no content hash", func(r *http.Request) { r.Header.Del("x-ms-content-sha256") }, "x-ms-content-sha256 header is missing"},
		{"body other than the signed hash", func(r *http.Request) {
			other := `{"x":1}`
			r.Body, r.ContentLength = io.NopCloser(strings.NewReader(other)), int64(len(other))
		}, "does not match the SHA-256 of the request body"},
		{"malformed Authorization", func(r *http.Request) { r.Header.Set("Authorization", "HMAC-SHA256 Signature=abc") }, "not of the form"},
		{"wrong signature", func(r *http.Request) {
			r.Header.Set("Authorization", hmacauth.AuthorizationPrefix+base64.StdEncoding.EncodeToString(make([]byte, 32)))
		}, "signature does not match"},
		{"tampered query", func(r *http.Request) { r.URL.RawQuery += "&x=1" }, "signature does not match"},
		{"bearer not enabled", func(r *http.Request) { r.Header.Set("Authorization", "Bearer abc") }, "not enabled"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := c.send(req{method: "POST", path: path, body: `{}`, mutate: tc.mutate})
			mustStatus(t, r, 401)
			e := r.errorBody(t)
			if e.Code != "Denied" || !strings.Contains(e.Message, tc.want) {
				t.Errorf("got %+v, want a message containing %q", e, tc.want)
			}
			if strings.Contains(string(r.body), DevelopmentKey) {
				t.Error("the key leaked")
			}
		})
	}
	// The expected signature never appears in the message.
	raw, _ := base64.StdEncoding.DecodeString(DevelopmentKey)
	k := hmacauth.NewKey(raw)
	var want string
	r := c.send(req{method: "POST", path: path, body: `{}`, mutate: func(h *http.Request) {
		want = k.Signature("POST", h.URL.RequestURI(), h.Header.Get("x-ms-date"), h.URL.Host, h.Header.Get("x-ms-content-sha256"))
		h.Header.Set("Authorization", hmacauth.AuthorizationPrefix+"AAAA"+want[4:])
	}})
	mustStatus(t, r, 401)
	if strings.Contains(string(r.body), want) {
		t.Error("the 401 shows the expected signature")
	}
	// A wrong key is refused.
	wrong := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 64))
	bad := newClient(t, &Server{URL: c.base}, wrong)
	bad.now = clk.Now
	mustStatus(t, bad.send(req{method: "POST", path: path}), 401)
	// A 14-minute skew is accepted.
	c2 := *c
	c2.now = func() time.Time { return clk.Now().Add(-14 * time.Minute) }
	mustStatus(t, c2.send(req{method: "POST", path: path}), 201)
}

func TestCustomAccessKey(t *testing.T) {
	t.Parallel()
	key := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{42}, 32))
	srv, c := start(t, &Options{AccessKey: key, ResourceID: "2dee53b4-368b-45b4-ab52-8493fb117652"})
	if !strings.HasSuffix(srv.ConnectionString(), ";accesskey="+key) || !strings.HasPrefix(srv.ConnectionString(), "endpoint="+srv.URL+"/;") {
		t.Errorf("connection string does not carry the key and endpoint")
	}
	if id := c.createUser("2023-10-01"); !strings.HasPrefix(id, "8:acs:2dee53b4-368b-45b4-ab52-8493fb117652_") {
		t.Errorf("id %s", id)
	}
	dev := newClient(t, srv, DevelopmentKey)
	mustStatus(t, dev.send(req{method: "POST", path: "/identities?api-version=2023-10-01"}), 401)
	if _, err := New(&Options{AccessKey: "not base64!"}); err == nil {
		t.Error("bad key accepted")
	}
	if _, err := New(&Options{ResourceID: "nope"}); err == nil {
		t.Error("bad resource ID accepted")
	}
}

func TestBearer(t *testing.T) {
	t.Parallel()
	clk := newClock()
	_, c := start(t, &Options{AllowBearer: true, Now: clk.Now})
	exp := clk.Now().Add(time.Hour).Unix()
	path := "/identities?api-version=2023-10-01"
	for _, aud := range []any{"https://communication.azure.com", "https://communication.azure.com/", []string{"x", "https://communication.azure.com"}} {
		tok := fakeJWT(map[string]any{"aud": aud, "exp": exp, "oid": guid(1), "tid": guid(2)})
		mustStatus(t, c.send(req{method: "POST", path: path, bearer: tok}), 201)
	}
	for name, cl := range map[string]map[string]any{
		"wrong aud": {"aud": "https://management.azure.com", "exp": exp},
		"expired":   {"aud": "https://communication.azure.com", "exp": clk.Now().Unix()},
		"no exp":    {"aud": "https://communication.azure.com"},
	} {
		r := c.send(req{method: "POST", path: path, bearer: fakeJWT(cl)})
		if r.status != 401 {
			t.Errorf("%s: %d", name, r.status)
		}
	}
	mustStatus(t, c.send(req{method: "POST", path: path, bearer: "not-a-jwt"}), 401)
	// HMAC still works.
	mustStatus(t, c.send(req{method: "POST", path: path}), 201)
}

func TestLogsHaveNoSecrets(t *testing.T) {
	t.Parallel()
	var buf testutil.SyncBuffer
	_, c := start(t, &Options{Logger: slog.New(slog.NewTextHandler(&buf, nil))})
	id := c.createUser("2023-10-01")
	_, tok := c.issue(id, "2023-10-01", "chat")
	c.send(req{method: "POST", path: "/identities?api-version=2023-10-01", mutate: func(r *http.Request) { r.Header.Set("x-ms-date", "bad") }})
	out := buf.String()
	if !strings.Contains(out, "status=201") || !strings.Contains(out, "status=401") || !strings.Contains(out, "method=POST") {
		t.Errorf("log lacks requests: %s", out)
	}
	for _, secret := range []string{DevelopmentKey, tok.Token, "HMAC-SHA256", "eyJ"} {
		if strings.Contains(out, secret) {
			t.Errorf("log contains a secret")
		}
	}
}
