package acsidentity

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"

	"github.com/acsgo/acsidentity/emulator"
	"github.com/acsgo/acsidentity/internal/hmacauth"
	"github.com/acsgo/acsidentity/internal/wire"
)

// The client-overhead benchmarks: GetToken through the library against a
// hand-written net/http request with the same HMAC, from 16 goroutines,
// both against the same in-process server. Compare their ns/op (the target:
// the library reaches at least 90% of the hand-written request's
// throughput). Two servers:
//
//   - server=emulator: the project's in-process server, which does the
//     service's work (verifies the HMAC, signs a JWT);
//   - server=canned: an answer written at once, so that nearly all the time
//     is the client's: the strictest measure of the library's overhead.
//
//	go test -run x -bench 'GetTokenOverhead' -benchmem -count 5 .

// overheadTarget is a server for the overhead benchmarks: its base URL, its
// key, and an existing user.
type overheadTarget struct {
	url, key, user string
}

func overheadTargets(b *testing.B) []struct {
	name   string
	target func(b *testing.B) overheadTarget
} {
	return []struct {
		name   string
		target func(b *testing.B) overheadTarget
	}{
		{"server=emulator", func(b *testing.B) overheadTarget {
			srv, err := emulator.Start(nil)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { srv.Close() })
			c, err := NewClientFromConnectionString(srv.ConnectionString(), nil)
			if err != nil {
				b.Fatal(err)
			}
			u, err := c.CreateUser(context.Background(), nil)
			if err != nil {
				b.Fatal(err)
			}
			return overheadTarget{srv.URL, emulator.DevelopmentKey, u.User.ID}
		}},
		{"server=canned", func(b *testing.B) overheadTarget {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.Copy(io.Discard, r.Body)
				w.Header().Set("Content-Type", "application/json; charset=utf-8")
				io.WriteString(w, tokenBody)
			}))
			b.Cleanup(srv.Close)
			return overheadTarget{srv.URL, testKey, userID}
		}},
	}
}

// userAgent is the length and shape of the library's User-Agent.
const userAgent = "azsdk-go-acsidentity/v0.1.0 (go1.26.8; linux)"

// newRequestID makes a random UUID-shaped request ID.
func newRequestID() string {
	var b [16]byte
	rand.Read(b[:])
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// benchHTTPClient is the HTTP client both sides use, so that connection
// reuse is the same: enough idle connections for 16 goroutines.
func benchHTTPClient() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64
	return &http.Client{Transport: tr}
}

func BenchmarkGetTokenOverheadLibrary(b *testing.B) {
	for _, s := range overheadTargets(b) {
		b.Run(s.name, func(b *testing.B) {
			tg := s.target(b)
			cred, err := NewKeyCredential(tg.key)
			if err != nil {
				b.Fatal(err)
			}
			c, err := NewClientWithKeyCredential(tg.url, cred, &ClientOptions{ClientOptions: azcore.ClientOptions{Transport: benchHTTPClient()}})
			if err != nil {
				b.Fatal(err)
			}
			u := CommunicationUserIdentifier{ID: tg.user}
			scopes := []TokenScope{TokenScopeChat}
			b.ReportAllocs()
			b.SetParallelism(8) // 16 goroutines on 2 cores
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				ctx := context.Background()
				for pb.Next() {
					if _, err := c.GetToken(ctx, u, scopes, nil); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

func BenchmarkGetTokenOverheadHandWritten(b *testing.B) {
	for _, s := range overheadTargets(b) {
		b.Run(s.name, func(b *testing.B) {
			tg := s.target(b)
			raw, _ := base64.StdEncoding.DecodeString(tg.key)
			key := hmacauth.NewKey(raw)
			hc := benchHTTPClient()
			target := tg.url + "/identities/" + escapeSegment(tg.user) + "/:issueAccessToken?api-version=2025-06-30"
			host := strings.TrimPrefix(tg.url, "http://")
			b.ReportAllocs()
			b.SetParallelism(8)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					body, _ := json.Marshal(wire.IssueTokenRequest{Scopes: []string{"chat"}})
					req, _ := http.NewRequest(http.MethodPost, target, bytes.NewReader(body))
					date := time.Now().UTC().Format(http.TimeFormat)
					hash := hmacauth.ContentHash(body)
					// The same request on the wire as the library's, so that the
					// server does the same work for both: a request ID and a
					// User-Agent, as the service's guidelines ask of clients.
					req.Header.Set("Accept", "application/json")
					req.Header.Set("User-Agent", userAgent)
					req.Header.Set("x-ms-client-request-id", newRequestID())
					req.Header.Set("Content-Type", "application/json")
					req.Header.Set("x-ms-date", date)
					req.Header.Set("x-ms-content-sha256", hash)
					req.Header.Set("Authorization", key.Authorization(http.MethodPost, req.URL.EscapedPath(), req.URL.RawQuery, date, host, hash))
					resp, err := hc.Do(req)
					if err != nil {
						b.Error(err)
						return
					}
					var tok wire.AccessToken
					err = json.NewDecoder(resp.Body).Decode(&tok)
					resp.Body.Close()
					if err != nil || resp.StatusCode != 200 || tok.Token == "" {
						b.Errorf("%d %v", resp.StatusCode, err)
						return
					}
				}
			})
		})
	}
}
