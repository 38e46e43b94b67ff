package tokenservice_test

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/acsgo/acsidentity/tokenservice"
)

// TestUnknownFieldIsNamed checks that a body with a field the endpoint does
// not take says which field and which ones it takes.
func TestUnknownFieldIsNamed(t *testing.T) {
	t.Parallel()
	em := newEmulator(t)
	h := newService(t, inProcessACS(t, em), &tokenservice.Options{AllowAnonymous: true})
	for _, tc := range []struct{ path, body, want string }{
		{"/api/token", `{"scope":["chat"]}`, `unknown field "scope"; the accepted fields are "scopes", "expiresInMinutes".`},
		{"/api/token/teams", `{"token":"t","appId":"a","user":"u"}`, `unknown field "user"; the accepted fields are "token", "appId", "userId".`},
		{"/api/token", `{"` + strings.Repeat("x", 100) + `":1}`, `unknown field "` + strings.Repeat("x", 40) + `…"`},
		{"/api/token", `[1]`, `not a JSON object of the accepted fields ("scopes", "expiresInMinutes")`},
	} {
		r := httptest.NewRequest("POST", "http://127.0.0.1"+tc.path, strings.NewReader(tc.body))
		r.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		var e errorBody
		if err := json.Unmarshal(w.Body.Bytes(), &e); w.Code != 400 || err != nil || !strings.Contains(e.Error.Message, tc.want) {
			t.Errorf("POST %s %s: %d %s, want 400 containing %s", tc.path, tc.body, w.Code, w.Body, tc.want)
		}
	}
}
