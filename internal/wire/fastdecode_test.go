package wire

import (
	"encoding/json"
	"testing"
)

// FuzzDecodeAccessToken proves the fast path changes nothing: for any input,
// DecodeAccessToken gives exactly what json.Unmarshal gives, error or not.
func FuzzDecodeAccessToken(f *testing.F) {
	for _, s := range []string{
		`{"token":"eyJ.a.b","expiresOn":"2025-07-10T21:39:39.3244584+00:00"}`,
		` { "expiresOn" : "2025-07-10T21:39:39Z" , "token" : "t" } `,
		`{"token":"a\"b","expiresOn":"2025-07-10T21:39:39Z"}`,
		`{"token":"t","token":"u","expiresOn":"2025-07-10T21:39:39Z"}`,
		`{"token":"t","expiresOn":"2025-07-10T21:39:39Z","x":1}`,
		`{"token":"t"}`, `{"token":"t","expiresOn":"nope"}`, `{"Token":"t","ExpiresOn":"2025-07-10T21:39:39Z"}`,
		`{"token":"é","expiresOn":"2025-07-10T21:39:39Z"}`, `[]`, ``, `{"token":"t","expiresOn":"2025-07-10T21:39:39Z"}x`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got, gotErr := DecodeAccessToken(b)
		var want AccessToken
		wantErr := json.Unmarshal(b, &want)
		if (gotErr == nil) != (wantErr == nil) {
			t.Fatalf("%q: error %v, encoding/json says %v", b, gotErr, wantErr)
		}
		if gotErr == nil && (got.Token != want.Token || !got.ExpiresOn.Equal(want.ExpiresOn.Time) || got.ExpiresOn.Location().String() != want.ExpiresOn.Location().String()) {
			t.Fatalf("%q: got %+v, encoding/json gives %+v", b, got, want)
		}
	})
}

func BenchmarkDecodeAccessToken(b *testing.B) {
	body := []byte(`{"token":"eyJhbGciOiJFZERTQSIsInR5cCI6IkpXVCIsImtpZCI6InFSUFVSZ2dVTDVLQVg3U1FLbnFHbjZDbUl0eXhKVTRzZGxqdEhwcnFOSkkifQ.eyJza3lwZWlkIjoiYWNzOjZlYzhiODU1LWFkYTQtNDRkNy1iM2U5LTZlNzY1MDhjNmVjOV8wMDAwMDA2Yi1kOWIxLTcwMzAtMzYzZi1iYmZkZDkxMjQwMzMiLCJzY3AiOjE3OTIsImNzaSI6IjE3OTQ3Njk3NTciLCJleHAiOjE3OTQ4NTYxNTcsImFjc1Njb3BlIjoidm9pcCIsInJlc291cmNlSWQiOiI2ZWM4Yjg1NS1hZGE0LTQ0ZDctYjNlOS02ZTc2NTA4YzZlYzkiLCJpYXQiOjE3OTQ3Njk3NTd9.c2lnbmF0dXJlc2lnbmF0dXJlc2lnbmF0dXJlc2lnbmF0dXJlc2lnbmF0dXJlc2lnbmF0dXJl","expiresOn":"2026-11-28T16:09:17.0000000+00:00"}`)
	b.Run("fast", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := DecodeAccessToken(body); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding/json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var t AccessToken
			if err := json.Unmarshal(body, &t); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// FuzzDecodeAccessTokenResult proves the fast path changes nothing: for any
// input, DecodeAccessTokenResult gives exactly what json.Unmarshal gives,
// error or not.
func FuzzDecodeAccessTokenResult(f *testing.F) {
	for _, s := range []string{
		createAnswer,
		`{"identity":{"id":"8:acs:r_1"},"accessToken":{"token":"t","expiresOn":"2025-07-10T21:39:39Z"}}`,
		` { "accessToken" : { "expiresOn" : "2025-07-10T21:39:39.1+02:00" , "token" : "t" } , "identity" : { "customId" : "c" , "id" : "i" } } `,
		`{"identity":{"id":"i"}}`, `{"identity":{"id":"i"},"accessToken":null}`, `{"identity":{"id":"i","lastTokenIssuedAt":null}}`,
		`{"identity":{"id":"i","id":"j"}}`, `{"identity":{"id":"i"},"identity":{"id":"j"}}`, `{"Identity":{"ID":"i"}}`,
		`{"identity":{"id":"i\u00e9"}}`, `{"identity":{"id":"i","x":1}}`, `{"identity":{"id":"i","lastTokenIssuedAt":"yesterday"}}`,
		`{"identity":{},"accessToken":{}}`, `{}`, `[]`, ``, `{"identity":{"id":"i"}} x`, `{"identity":{"id":1}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got, gotErr := DecodeAccessTokenResult(b)
		var want AccessTokenResult
		wantErr := json.Unmarshal(b, &want)
		if (gotErr == nil) != (wantErr == nil) {
			t.Fatalf("%q: error %v, encoding/json says %v", b, gotErr, wantErr)
		}
		if gotErr != nil {
			return
		}
		sameTime := func(a, b *Time) bool {
			if a == nil || b == nil {
				return a == b
			}
			return a.Equal(b.Time) && a.Location().String() == b.Location().String()
		}
		g, w := got.Identity, want.Identity
		if g.ID != w.ID || g.CustomID != w.CustomID || !sameTime(g.LastTokenIssuedAt, w.LastTokenIssuedAt) {
			t.Fatalf("%q: identity %+v, encoding/json gives %+v", b, g, w)
		}
		if (got.AccessToken == nil) != (want.AccessToken == nil) {
			t.Fatalf("%q: accessToken %v, encoding/json gives %v", b, got.AccessToken, want.AccessToken)
		}
		if got.AccessToken != nil && (got.AccessToken.Token != want.AccessToken.Token || !sameTime(&got.AccessToken.ExpiresOn, &want.AccessToken.ExpiresOn)) {
			t.Fatalf("%q: accessToken %+v, encoding/json gives %+v", b, *got.AccessToken, *want.AccessToken)
		}
	})
}

// createAnswer is the emulator's answer to a create with a custom ID and a
// token (api-version 2025-03-02-preview).
const createAnswer = `{"identity":{"id":"8:acs:6ec8b855-ada4-44d7-b3e9-6e76508c6ec9_0000006b-d9b1-7030-363f-bbfdd9124033","customId":"trusted-service.v1.qRPURggUL5KAX7SQKnqGn6CmItyxJU4sdljtHprqNJI","lastTokenIssuedAt":"2026-11-27T16:09:17+00:00"},"accessToken":{"token":"eyJhbGciOiJFZERTQSIsInR5cCI6IkpXVCIsImtpZCI6InFSUFVSZ2dVTDVLQVg3U1FLbnFHbjZDbUl0eXhKVTRzZGxqdEhwcnFOSkkifQ.eyJza3lwZWlkIjoiYWNzOjZlYzhiODU1LWFkYTQtNDRkNy1iM2U5LTZlNzY1MDhjNmVjOV8wMDAwMDA2Yi1kOWIxLTcwMzAtMzYzZi1iYmZkZDkxMjQwMzMiLCJzY3AiOjE3OTIsImNzaSI6IjE3OTQ3Njk3NTciLCJleHAiOjE3OTQ4NTYxNTcsImFjc1Njb3BlIjoidm9pcCIsInJlc291cmNlSWQiOiI2ZWM4Yjg1NS1hZGE0LTQ0ZDctYjNlOS02ZTc2NTA4YzZlYzkiLCJpYXQiOjE3OTQ3Njk3NTd9.c2lnbmF0dXJlc2lnbmF0dXJlc2lnbmF0dXJlc2lnbmF0dXJlc2lnbmF0dXJlc2lnbmF0dXJl","expiresOn":"2026-11-28T16:09:17.1234567+00:00"}}`

func BenchmarkDecodeAccessTokenResult(b *testing.B) {
	body := []byte(createAnswer)
	b.Run("fast", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := DecodeAccessTokenResult(body); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding/json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var r AccessTokenResult
			if err := json.Unmarshal(body, &r); err != nil {
				b.Fatal(err)
			}
		}
	})
}
