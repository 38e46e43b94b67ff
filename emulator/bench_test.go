package emulator

import (
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/acsgo/acsidentity/internal/hmacauth"
)

// BenchmarkServeIssueToken measures the emulator's own cost of a token
// issue (verification, JSON, signing) without the network.
func BenchmarkServeIssueToken(b *testing.B) {
	e, err := New(nil)
	if err != nil {
		b.Fatal(err)
	}
	id := "8:acs:" + DevelopmentResourceID + "_" + newUnique()
	e.store.add(&identity{id: id})
	serveParallel(b, e, idPath(id, "/:issueAccessToken", "2023-10-01"), `{"scopes":["chat","voip"]}`, 200)
}

// BenchmarkServeCreateCustomIDAgain measures a create with a token and a
// custom ID that names an identity already (what a service that keys its
// callers by custom ID sends for every token), in the default atomic mode
// and with CustomIDRaces, where such a create does not wait either.
func BenchmarkServeCreateCustomIDAgain(b *testing.B) {
	for _, races := range []bool{false, true} {
		name := "atomic"
		if races {
			name = "races"
		}
		b.Run(name, func(b *testing.B) {
			e, err := New(&Options{CustomIDRaces: races, Seed: []SeedIdentity{{CustomID: "alice"}}})
			if err != nil {
				b.Fatal(err)
			}
			serveParallel(b, e, "/identities?api-version=2025-03-02-preview", `{"customId":"alice","createTokenWithScopes":["chat"]}`, 201)
		})
	}
}

// serveParallel has e serve POST path (with its query) with body, signed,
// from every benchmark goroutine, and fails unless it answers want.
func serveParallel(b *testing.B, e *Emulator, path, body string, want int) {
	raw, _ := base64.StdEncoding.DecodeString(DevelopmentKey)
	key := hmacauth.NewKey(raw)
	hash := hmacauth.ContentHash([]byte(body))
	target := "http://127.0.0.1:1" + path
	date := time.Now().UTC().Format(http.TimeFormat)
	hr := httptest.NewRequest("POST", target, nil)
	auth := hmacauth.AuthorizationPrefix + key.Signature("POST", hr.URL.RequestURI(), date, hr.Host, hash)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r := httptest.NewRequest("POST", target, strings.NewReader(body))
			r.Header.Set("Content-Type", "application/json")
			r.Header.Set(hmacauth.DateHeader, date)
			r.Header.Set(hmacauth.ContentHashHeader, hash)
			r.Header.Set("Authorization", auth)
			w := httptest.NewRecorder()
			e.ServeHTTP(w, r)
			if w.Code != want {
				b.Fatalf("status %d %s", w.Code, w.Body)
			}
		}
	})
}
