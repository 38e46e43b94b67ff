package emulator

import (
	"net/http"
	"strings"
	"testing"
)

// TestBodyNotUTF8 proves that a body with bytes that are not UTF-8 is
// refused with 400 ValidationError rather than folded: encoding/json would
// turn both "tenantA-\xff" and "tenantA-\xfe" into "tenantA-\uFFFD", one
// identity for two custom IDs.
func TestBodyNotUTF8(t *testing.T) {
	t.Parallel()
	srv, c := start(t, nil)
	const path = "/identities?api-version=2025-03-02-preview"
	mustRefuseCreates(t, srv, c, "UTF-8", "{\"customId\":\"tenantA-\xff\"}", "{\"customId\":\"tenantA-\xfe\"}", "{\"customId\":\"x\",\"createTokenWithScopes\":[\"chat\xc3\"]}")
	// The same IDs spelled as valid UTF-8 are two identities.
	a := c.send(req{method: "POST", path: path, body: `{"customId":"tenantA-ÿ"}`})
	b := c.send(req{method: "POST", path: path, body: `{"customId":"tenantA-þ"}`})
	mustStatus(t, a, http.StatusCreated)
	mustStatus(t, b, http.StatusCreated)
	if string(a.body) == string(b.body) {
		t.Error("two custom IDs gave one identity")
	}
}

// TestLoneSurrogate: every escaped surrogate without its other half is
// found, wherever it is; pairs, other escapes and escaped backslashes
// before "ud800" are not.
func TestLoneSurrogate(t *testing.T) {
	t.Parallel()
	for body, want := range map[string]int{
		`{"customId":"a\ud800"}`:             14,
		`{"customId":"a\uDBFF"}`:             14,
		`{"customId":"a\udc00"}`:             14,
		`{"customId":"a\ud800\u0041"}`:       14,
		`{"customId":"a\ud800\ud800\udc00"}`: 14,
		`{"customId":"a\udc00\ud800"}`:       14,
		`{"customId":"\ud83d\ude00\ud83d"}`:  25,
		`{"a\udfff":"b"}`:                    3,
		`{"customId":"a\ud800`:               14, // cut short: still found
		`{"customId":"a\ud83d\ude00"}`:       -1,
		`{"customId":"a\uD83D\uDE00"}`:       -1,
		`{"customId":"a\ufffd"}`:             -1,
		`{"customId":"a\\ud800"}`:            -1,
		`{"customId":"a\\\ud83d\ude00"}`:     -1,
		`{"customId":"a\"\ud800"}`:           16,
		`{"customId":"\u00e9\n\t\/"}`:        -1,
		`{"customId":"a\u12"}`:               -1, // invalid JSON: the decoder's to refuse
		`{"customId":"a\`:                    -1,
	} {
		if got := loneSurrogate([]byte(body)); got != want {
			t.Errorf("%s: %d, want %d", body, got, want)
		}
	}
}

// TestLoneSurrogateRefused: a custom ID with a lone surrogate escape is
// refused with 400 and makes no identity; U+FFFD itself, escaped or raw,
// is one valid custom ID.
func TestLoneSurrogateRefused(t *testing.T) {
	t.Parallel()
	srv, c := start(t, nil)
	const path = "/identities?api-version=2025-03-02-preview"
	mustRefuseCreates(t, srv, c, "surrogate", `{"customId":"a\ud800"}`, `{"customId":"a\udc00"}`, `{"createTokenWithScopes":["chat\udbff"]}`)
	a := c.send(req{method: "POST", path: path, body: `{"customId":"a\ufffd"}`})
	b := c.send(req{method: "POST", path: path, body: "{\"customId\":\"a\uFFFD\"}"})
	mustStatus(t, a, http.StatusCreated)
	mustStatus(t, b, http.StatusCreated)
	if string(a.body) != string(b.body) {
		t.Error("U+FFFD escaped and raw gave two identities")
	}
}

// mustRefuseCreates sends each body as a create with a custom ID and wants
// 400 ValidationError with a message that says what, and no identity
// made.
func mustRefuseCreates(t *testing.T, srv *Server, c *client, says string, bodies ...string) {
	t.Helper()
	before := srv.Emulator.store.count()
	for _, body := range bodies {
		r := c.send(req{method: "POST", path: "/identities?api-version=2025-03-02-preview", body: []byte(body)})
		mustStatus(t, r, http.StatusBadRequest)
		if e := r.errorBody(t); e.Code != "ValidationError" || !strings.Contains(e.Message, says) {
			t.Errorf("%q: error %+v, want a ValidationError that says %s", body, e, says)
		}
	}
	if n := srv.Emulator.store.count() - before; n != 0 {
		t.Errorf("%d identities were made from bodies refused for %s", n, says)
	}
}
