package acsidentity_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/acsgo/acsidentity"
)

// BenchmarkGetTokenEmulator issues tokens through the library from 16
// goroutines against the in-process emulator over loopback HTTP: the
// emulator must never be the bottleneck of a client benchmark. tokens/s is
// 1e9 / (ns/op).
//
//	go test -run x -bench GetTokenEmulator -benchtime 5s .
func BenchmarkGetTokenEmulator(b *testing.B) {
	srv := startEmulator(b, nil)
	o := &acsidentity.ClientOptions{}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64
	o.Transport = &http.Client{Transport: tr}
	c, err := acsidentity.NewClientFromConnectionString(srv.ConnectionString(), o)
	if err != nil {
		b.Fatal(err)
	}
	u, err := c.CreateUser(context.Background(), nil)
	if err != nil {
		b.Fatal(err)
	}
	scopes := []acsidentity.TokenScope{acsidentity.TokenScopeChat}
	b.ReportAllocs()
	b.SetParallelism(8) // 16 goroutines on 2 cores
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for pb.Next() {
			if _, err := c.GetToken(ctx, u.User, scopes, nil); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
}
