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
