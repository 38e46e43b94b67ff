package tokenservice_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/acsgo/acsidentity"
	"github.com/acsgo/acsidentity/emulator"
	"github.com/acsgo/acsidentity/tokenservice"
)

// TestACSErrorsAsRecorded answers the service's ACS calls with error
// bodies the real ACS service sent (recorded during the official SDKs' live
// tests) and checks what the service tells its caller: an identity that
// "doesn't belong to the resource" is this service's misconfiguration (a
// 502, never the caller's 401), and a Teams token ACS refuses, whether with
// 401 InvalidAccessToken or a 400 ValidationError, is the caller's bad
// request (400).
func TestACSErrorsAsRecorded(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, method, path, body string
		acsStatus                int
		acsBody                  string
		status                   int
		code                     string
	}{
		{"identity of another resource", "GET", "/api/token", "", 401,
			`{"error":{"code":"IdentityNotOwned","message":"Provided identity doesn't belong to the resource."}}`, 502, "UpstreamError"},
		{"Teams token not valid", "POST", "/api/token/teams", `{"token":"x.y.z","appId":"a","userId":"u"}`, 401,
			`{"error":{"code":"InvalidAccessToken","message":"Provided access token is not valid."}}`, 400, "InvalidTeamsToken"},
		{"Teams token for another app", "POST", "/api/token/teams", `{"token":"x.y.z","appId":"a","userId":"u"}`, 400,
			`{"error":{"code":"ValidationError","message":"AAD application is not the expected one.","target":"appId"}}`, 400, "InvalidTeamsToken"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			acs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json") // the service's error content type
				w.WriteHeader(c.acsStatus)
				w.Write([]byte(c.acsBody))
			}))
			defer acs.Close()
			client, err := acsidentity.NewClientFromConnectionString("endpoint="+acs.URL+"/;accesskey="+emulator.DevelopmentKey, testClientOptions(nil))
			if err != nil {
				t.Fatal(err)
			}
			env := &faultEnv{t: t, h: newService(t, client, &tokenservice.Options{AllowAnonymous: true, DevelopmentCallers: true})}
			env.wantErr(c.name, env.call(c.method, c.path, alice, c.body), c.status, c.code, "")
		})
	}
}

// TestTeamsTokenRefusedByEmulator sends a malformed Teams token through to
// the emulator, which answers 401 InvalidAccessToken as the service does;
// the caller gets 400.
func TestTeamsTokenRefusedByEmulator(t *testing.T) {
	t.Parallel()
	env := newFaultEnv(t)
	body := `{"token":"invalid","appId":"1fd5118e-2576-4263-8130-9503064c837a","userId":"0b6f3a8e-5a43-4c1e-9d7e-2f64c1a0b9d3"}`
	env.wantErr("malformed Teams token", env.call("POST", "/api/token/teams", "", body), 400, "InvalidTeamsToken", "")
}
