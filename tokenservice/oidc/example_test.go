package oidc_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"

	"github.com/acsgo/acsidentity"
	"github.com/acsgo/acsidentity/emulator"
	"github.com/acsgo/acsidentity/tokenservice"
	"github.com/acsgo/acsidentity/tokenservice/oidc"
)

// A token service whose callers sign in with Entra ID (or any OpenID
// Connect issuer) and send the access token they got for the service's API
// as a bearer token. A stand-in issuer plays Entra ID here; for Entra ID
// itself, Issuer is https://login.microsoftonline.com/<tenant-id>/v2.0,
// JWKSURL stays empty (discovery finds it) and the audience is the API's
// client ID.
func ExampleNew() {
	issuer, signFor := standInIssuer()
	defer issuer.Close()
	em, err := emulator.Start(nil)
	if err != nil {
		log.Fatal(err)
	}
	defer em.Close()
	client, err := acsidentity.NewClientFromConnectionString(em.ConnectionString(), tokenservice.NewClientOptions())
	if err != nil {
		log.Fatal(err)
	}

	verifier, err := oidc.New(oidc.Config{
		Issuer:    issuer.URL,
		Audiences: []string{"api://my-token-service"},
		JWKSURL:   issuer.URL + "/keys",
		Logger:    slog.New(slog.DiscardHandler),
	})
	if err != nil {
		log.Fatal(err)
	}
	svc, err := tokenservice.New(client, &tokenservice.Options{
		Authenticate: verifier.Authenticate,
		Logger:       slog.New(slog.DiscardHandler),
	})
	if err != nil {
		log.Fatal(err)
	}

	for _, bearer := range []string{signFor("alice", "api://my-token-service"), signFor("alice", "api://another-api"), ""} {
		r := httptest.NewRequest("GET", "/token", nil)
		if bearer != "" {
			r.Header.Set("Authorization", "Bearer "+bearer)
		}
		w := httptest.NewRecorder()
		svc.ServeHTTP(w, r)
		fmt.Printf("%d %q\n", w.Code, w.Header().Get("WWW-Authenticate"))
	}
	// Output:
	// 200 ""
	// 401 "Bearer error=\"invalid_token\""
	// 401 "Bearer"
}

// Verify in an app's own authentication middleware, for any router: it
// knows nothing of HTTP.
func ExampleVerifier_Verify() {
	issuer, signFor := standInIssuer()
	defer issuer.Close()
	verifier, err := oidc.New(oidc.Config{
		Issuer:    issuer.URL,
		Audiences: []string{"api://my-api"},
		JWKSURL:   issuer.URL + "/keys",
		Logger:    slog.New(slog.DiscardHandler),
	})
	if err != nil {
		log.Fatal(err)
	}
	requireUser := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			raw, err := oidc.BearerToken(r)
			if err != nil {
				http.Error(w, "sign in first", http.StatusUnauthorized)
				return
			}
			claims, err := verifier.Verify(r.Context(), raw)
			switch {
			case errors.Is(err, oidc.ErrKeysUnavailable):
				http.Error(w, "try again later", http.StatusServiceUnavailable)
				return
			case err != nil:
				http.Error(w, err.(*oidc.Error).Message, http.StatusUnauthorized)
				return
			}
			fmt.Fprintf(w, "hello %s", claims.Subject)
		})
	}
	h := requireUser(nil)
	for _, bearer := range []string{signFor("alice", "api://my-api"), signFor("alice", "api://another-api")} {
		r := httptest.NewRequest("GET", "/me", nil)
		r.Header.Set("Authorization", "Bearer "+bearer)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		fmt.Printf("%d %s", w.Code, w.Body)
	}
	// Output:
	// 200 hello alice401 The bearer token's audience is not accepted.
}

// standInIssuer serves an RS256 key's JWKS and returns a function that
// signs an access token for a subject and an audience, as an identity
// provider would.
func standInIssuer() (*httptest.Server, func(sub, aud string) string) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		log.Fatal(err)
	}
	jwk, err := jwkset.NewJWKFromKey(&key.PublicKey, jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{KID: "k1", ALG: jwkset.AlgRS256, USE: jwkset.UseSig}})
	if err != nil {
		log.Fatal(err)
	}
	set := jwkset.NewMemoryStorage()
	set.KeyWrite(context.Background(), jwk)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := set.JSONPublic(r.Context())
		w.Header().Set("Content-Type", "application/json")
		w.Write(b)
	}))
	return srv, func(sub, aud string) string {
		t := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.RegisteredClaims{
			Issuer: srv.URL, Subject: sub, Audience: jwt.ClaimStrings{aud},
			IssuedAt: jwt.NewNumericDate(time.Now()), ExpiresAt: jwt.NewNumericDate(time.Now().Add(time.Hour)),
		})
		t.Header["kid"] = "k1"
		s, err := t.SignedString(key)
		if err != nil {
			log.Fatal(err)
		}
		return s
	}
}
