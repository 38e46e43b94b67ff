package main

import (
	"testing"

	"github.com/acsgo/acsidentity/internal/testutil"
	"github.com/acsgo/acsidentity/tokenservice"
)

// The test identity provider's keys and claims (internal/testutil).
const (
	testIssuer   = testutil.Issuer
	testAudience = testutil.Audience
)

var (
	goodClaims    = testutil.GoodClaims
	with          = testutil.With
	newIDP        = testutil.NewIDP
	decodeSegment = testutil.DecodeSegment
)

type testKey = testutil.SigningKey

func newTestKey(t testing.TB, kid, alg string) *testKey { return testutil.NewSigningKey(t, kid, alg) }

// devCallerHeader names a lasting development identity with the embedded
// emulator.
const devCallerHeader = tokenservice.DevCallerHeader

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
