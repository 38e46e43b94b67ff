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
	for _, body := range []string{"{\"customId\":\"tenantA-\xff\"}", "{\"customId\":\"tenantA-\xfe\"}", "{\"customId\":\"x\",\"createTokenWithScopes\":[\"chat\xc3\"]}"} {
		r := c.send(req{method: "POST", path: path, body: []byte(body)})
		mustStatus(t, r, http.StatusBadRequest)
		if e := r.errorBody(t); e.Code != "ValidationError" || !strings.Contains(e.Message, "UTF-8") {
			t.Errorf("%q: error %+v, want a ValidationError that says UTF-8", body, e)
		}
	}
	if n := srv.Emulator.store.count(); n != 0 {
		t.Errorf("%d identities were made from bodies that are not UTF-8", n)
	}
	// The same IDs spelled as valid UTF-8 are two identities.
	a := c.send(req{method: "POST", path: path, body: `{"customId":"tenantA-ÿ"}`})
	b := c.send(req{method: "POST", path: path, body: `{"customId":"tenantA-þ"}`})
	mustStatus(t, a, http.StatusCreated)
	mustStatus(t, b, http.StatusCreated)
	if string(a.body) == string(b.body) {
		t.Error("two custom IDs gave one identity")
	}
}
