package acsidentity

import (
	"context"
	"testing"
	"time"
)

// TestCreateAnswersDecodedAsBefore pins how CreateUserAndToken and
// CreateUser read answers since their decoder is internal/wire's
// reflection-free one: as runtime.UnmarshalAsJSON read them (the same
// results and the same errors; the wire package's fuzz test proves the
// decoder equal to encoding/json).
func TestCreateAnswersDecodedAsBefore(t *testing.T) {
	t.Parallel()
	exp := time.Date(2026, 11, 28, 16, 9, 17, 123456700, time.UTC)
	cases := []struct {
		name, body string
		user       string // "" when an error is expected
		err        string
	}{
		{"the service's answer", `{"identity":{"id":"8:acs:r_1","customId":"c","lastTokenIssuedAt":"2026-11-27T16:09:17+00:00"},"accessToken":{"token":"t.t.t","expiresOn":"2026-11-28T16:09:17.1234567+00:00"}}`, "8:acs:r_1", ""},
		{"members in another order, spaces", ` { "accessToken" : { "expiresOn" : "2026-11-28T16:09:17.1234567Z" , "token" : "t.t.t" } , "identity" : { "id" : "8:acs:r_1" } } `, "8:acs:r_1", ""},
		{"an unknown member", `{"identity":{"id":"8:acs:r_1","x":[1]},"accessToken":{"token":"t.t.t","expiresOn":"2026-11-28T16:09:17.1234567Z"},"y":null}`, "8:acs:r_1", ""},
		{"no body", ``, "", "acsidentity: the service's response has no access token"},
		// runtime.UnmarshalAsJSON meant to skip a byte order mark, and did
		// not (it unmarshals the payload it read before removing it).
		{"a byte order mark", "\xef\xbb\xbf" + `{"identity":{"id":"8:acs:r_1"}}`, "", "acsidentity: decoding the service's response (HTTP 201): unmarshalling type *wire.AccessTokenResult: invalid character 'ï' looking for beginning of value"},
		{"no token", `{"identity":{"id":"8:acs:r_1"}}`, "", "acsidentity: the service's response has no access token"},
		{"truncated", `{"identity":{"id":"8:acs:r_1"}`, "", "acsidentity: decoding the service's response (HTTP 201): unmarshalling type *wire.AccessTokenResult: unexpected end of JSON input"},
		{"a bad date", `{"identity":{"id":"8:acs:r_1"},"accessToken":{"token":"t","expiresOn":"2026-13-45T00:00:00Z"}}`, "", "acsidentity: decoding the service's response (HTTP 201): unmarshalling type *wire.AccessTokenResult: invalid date-time \"2026-13-45T00:00:00Z\": parsing time \"2026-13-45T00:00:00Z\": month out of range"},
		{"no identity ID", `{"identity":{},"accessToken":{"token":"t","expiresOn":"2026-11-28T16:09:17.1234567Z"}}`, "", "acsidentity: the service's response has no identity ID"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, err := clientAnswering(t, 201, []byte(c.body)).CreateUserAndToken(context.Background(), []TokenScope{TokenScopeChat}, nil)
			if c.user == "" {
				if err == nil || err.Error() != c.err {
					t.Fatalf("CreateUserAndToken = %v, want the error %q", err, c.err)
				}
				return
			}
			if err != nil || r.User.ID != c.user || r.Token != "t.t.t" || !r.ExpiresOn.Equal(exp) {
				t.Fatalf("CreateUserAndToken = %v, %v", r, err)
			}
			u, err := clientAnswering(t, 201, []byte(c.body)).CreateUser(context.Background(), nil)
			if err != nil || u.User.ID != c.user {
				t.Fatalf("CreateUser = %+v, %v", u, err)
			}
		})
	}
}
