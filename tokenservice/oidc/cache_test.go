package oidc

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/acsgo/acsidentity/internal/testutil"
)

// newTestVerifier is a Verifier of p's tokens on clock, with a cache of
// size tokens.
func newTestVerifier(p *testutil.IDP, clock *fakeClock, size int) *Verifier {
	v, _ := newTestValidator(p, clock, time.Minute)
	return &Verifier{v: v, cache: newTokenCache(size, clock.Now)}
}

// TestVerifyCachesVerifiedTokens: a token that verified is not checked
// again until its entry ends (its exp, or cacheMaxAge); a token that
// failed is checked every time.
func TestVerifyCachesVerifiedTokens(t *testing.T) {
	t.Parallel()
	clock := testutil.NewClock(time.Unix(1_800_000_000, 0))
	k := newTestKey(t, "k", "RS256")
	ver := newTestVerifier(testutil.NewIDP(t, k), clock, 10)
	ctx := context.Background()
	tok := k.Sign(t, goodClaims(clock.Now(), "alice"), nil)
	first, err := ver.Verify(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	// From now on a full check refuses every token: only the cache can
	// accept one.
	ver.v.audiences = []string{"nobody"}
	again, err := ver.Verify(ctx, tok)
	if err != nil || again.Subject != "alice" || again != first {
		t.Fatalf("the same token again: %+v, %v; want the cached claims", again, err)
	}
	if _, err := ver.Verify(ctx, k.Sign(t, goodClaims(clock.Now(), "bob"), nil)); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("another token: %v, want a full check that refuses it", err)
	}
	if _, err := ver.Verify(ctx, tok+"x"); err == nil {
		t.Fatal("a tampered token was accepted")
	}
	if n := ver.cache.len(); n != 1 {
		t.Errorf("%d cache entries, want 1: failures are not kept", n)
	}
	clock.Advance(cacheMaxAge)
	if _, err := ver.Verify(ctx, tok); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("after cacheMaxAge: %v, want a full check", err)
	}
}

// TestVerifyCacheEndsAtExp: an entry ends when its token does, even
// before cacheMaxAge.
func TestVerifyCacheEndsAtExp(t *testing.T) {
	t.Parallel()
	clock := testutil.NewClock(time.Unix(1_800_000_000, 0))
	k := newTestKey(t, "k", "ES256")
	ver := newTestVerifier(testutil.NewIDP(t, k), clock, 10)
	tok := k.Sign(t, with(goodClaims(clock.Now(), "alice"), "exp", clock.Now().Add(time.Minute).Unix()), nil)
	if _, err := ver.Verify(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	ver.v.audiences = []string{"nobody"}
	clock.Advance(time.Minute)
	if _, err := ver.Verify(context.Background(), tok); err == nil {
		t.Error("the token was served from the cache at its exp")
	}
}

// TestTokenCacheBounded: the cache holds at most its size, ended entries
// go first, and a size below 1 keeps nothing.
func TestTokenCacheBounded(t *testing.T) {
	t.Parallel()
	clock := testutil.NewClock(time.Unix(1_800_000_000, 0))
	c := newTokenCache(3, clock.Now)
	claims := func(d time.Duration) *Claims { return &Claims{Subject: "s", ExpiresAt: clock.Now().Add(d)} }
	c.put("short", claims(time.Second))
	for i := range 10 {
		c.put("t"+strconv.Itoa(i), claims(time.Hour))
		if n := c.len(); n > 3 {
			t.Fatalf("%d entries, more than 3", n)
		}
	}
	if _, ok := c.get("t9"); !ok {
		t.Error("the newest entry is gone")
	}
	c.put("expired", claims(-time.Second))
	if _, ok := c.get("expired"); ok {
		t.Error("an expired token was kept")
	}
	off := newTokenCache(-1, clock.Now)
	off.put("t", claims(time.Hour))
	if _, ok := off.get("t"); ok || off.len() != 0 {
		t.Error("a disabled cache kept a token")
	}
}

// TestIssuerScheme: an issuer whose discovery document is fetched must be
// https, or http on localhost or a loopback IP literal.
func TestIssuerScheme(t *testing.T) {
	t.Parallel()
	for issuer, ok := range map[string]bool{
		"https://login.microsoftonline.com/t/v2.0": true,
		"http://127.0.0.1:10781/oidc":              true,
		"http://localhost:10781/oidc":              true,
		"http://[::1]:10781/oidc":                  true,
		"http://idp.example/t":                     false,
		"http://app.localhost:10781/oidc":          false,
		"http://127.0.0.1.nip.io/oidc":             false,
		"http://192.168.1.20/oidc":                 false,
		"ftp://127.0.0.1/oidc":                     false,
	} {
		_, err := New(Config{Issuer: issuer, Audiences: []string{"api://x"}, Logger: discard})
		if ce, isCE := errors.AsType[*ConfigError](err); ok != (err == nil) || !ok && (!isCE || ce.Field != "Issuer") {
			t.Errorf("New(Issuer %q) = %v, want ok %v", issuer, err, ok)
		}
	}
}

// BenchmarkVerify is the cost of Verify for a client that sends the same
// RS256 token on every request, with the verified-token cache and without.
//
//	go test -run x -bench Verify -count 6 ./tokenservice/oidc
func BenchmarkVerify(b *testing.B) {
	clock := testutil.NewClock(time.Unix(1_800_000_000, 0))
	k := newTestKey(b, "k", "RS256")
	p := testutil.NewIDP(b, k)
	tok := k.Sign(b, goodClaims(clock.Now(), "alice"), nil)
	for _, bc := range []struct {
		name string
		size int
	}{{"cached", 10}, {"every time", -1}} {
		b.Run(bc.name, func(b *testing.B) {
			ver := newTestVerifier(p, clock, bc.size)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := ver.Verify(context.Background(), tok); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
