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
	srv := &Server{URL: "http://127.0.0.1:1", Emulator: e}
	c := newClient(b, srv, "")
	id := "8:acs:" + DevelopmentResourceID + "_" + newUnique()
	e.store.add(&identity{id: id})
	raw, _ := base64.StdEncoding.DecodeString(DevelopmentKey)
	key := hmacauth.NewKey(raw)
	body := `{"scopes":["chat","voip"]}`
	hash := hmacauth.ContentHash([]byte(body))
	target := c.base + idPath(id, "/:issueAccessToken", "2023-10-01")
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
			if w.Code != 200 {
				b.Fatalf("status %d %s", w.Code, w.Body)
			}
		}
	})
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
			srv := &Server{URL: "http://127.0.0.1:1", Emulator: e}
			c := newClient(b, srv, "")
			body := `{"customId":"alice","createTokenWithScopes":["chat"]}`
			raw, _ := base64.StdEncoding.DecodeString(DevelopmentKey)
			key := hmacauth.NewKey(raw)
			hash := hmacauth.ContentHash([]byte(body))
			target := c.base + "/identities?api-version=2025-03-02-preview"
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
					if w.Code != 201 {
						b.Fatalf("status %d %s", w.Code, w.Body)
					}
				}
			})
		})
	}
}
