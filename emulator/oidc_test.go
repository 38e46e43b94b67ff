package emulator

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/acsgo/acsidentity/internal/wire"
)

// oidcToken asks the issuer of srv for a token.
func oidcToken(t *testing.T, c *client, body string) string {
	t.Helper()
	r := c.send(req{method: "POST", path: OIDCIssuerPath + "/token", body: body})
	mustStatus(t, r, 200)
	var tok OIDCToken
	r.decode(t, &tok)
	if tok.TokenType != "Bearer" || tok.AccessToken == "" || tok.ExpiresIn <= 0 {
		t.Fatalf("token answer %s", r.body)
	}
	if r.header.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control %q", r.header.Get("Cache-Control"))
	}
	return tok.AccessToken
}

// verifyRS256 checks token against the JWKS the issuer publishes and
// returns its claims.
func verifyRS256(t *testing.T, c *client, token string) map[string]any {
	t.Helper()
	var jwks struct {
		Keys []struct{ Kty, Alg, Use, Kid, N, E string }
	}
	r := c.send(req{method: "GET", path: OIDCIssuerPath + "/jwks"})
	mustStatus(t, r, 200)
	r.decode(t, &jwks)
	if len(jwks.Keys) != 1 || jwks.Keys[0].Kty != "RSA" || jwks.Keys[0].Alg != "RS256" || jwks.Keys[0].Use != "sig" {
		t.Fatalf("jwks %s", r.body)
	}
	k := jwks.Keys[0]
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", token)
	}
	dec := func(s string) []byte {
		b, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	var head struct{ Alg, Kid, Typ string }
	json.Unmarshal(dec(parts[0]), &head)
	if head.Alg != "RS256" || head.Kid != k.Kid || head.Typ != "JWT" {
		t.Fatalf("header %s, key %s", dec(parts[0]), k.Kid)
	}
	pub := &rsa.PublicKey{N: new(big.Int).SetBytes(dec(k.N)), E: int(new(big.Int).SetBytes(dec(k.E)).Int64())}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], dec(parts[2])); err != nil {
		t.Fatalf("the signature does not verify with the JWKS key: %v", err)
	}
	var claims map[string]any
	if err := json.Unmarshal(dec(parts[1]), &claims); err != nil {
		t.Fatal(err)
	}
	return claims
}

// TestOIDCIssuer: the discovery document names the issuer as the client
// reached it, and a token for a subject and audience verifies with the
// published key and carries the claims asked for, or derived ones.
func TestOIDCIssuer(t *testing.T) {
	t.Parallel()
	for _, useTLS := range []bool{false, true} {
		srv, c := start(t, &Options{TLS: useTLS})
		iss := srv.URL + OIDCIssuerPath
		r := c.send(req{method: "GET", path: OIDCIssuerPath + "/.well-known/openid-configuration"})
		mustStatus(t, r, 200)
		var doc struct {
			Issuer        string   `json:"issuer"`
			JWKSURI       string   `json:"jwks_uri"`
			TokenEndpoint string   `json:"token_endpoint"`
			Algs          []string `json:"id_token_signing_alg_values_supported"`
		}
		r.decode(t, &doc)
		if doc.Issuer != iss || doc.JWKSURI != iss+"/jwks" || doc.TokenEndpoint != iss+"/token" || len(doc.Algs) != 1 || doc.Algs[0] != "RS256" {
			t.Errorf("discovery %s, want issuer %s", r.body, iss)
		}
		tok := oidcToken(t, c, `{"sub":"alice","aud":"api://acs-test","scp":"tokens.read"}`)
		cl := verifyRS256(t, c, tok)
		if cl["iss"] != iss || cl["sub"] != "alice" || cl["aud"] != "api://acs-test" || cl["scp"] != "tokens.read" ||
			cl["tid"] != DevelopmentTenantID || cl["azp"] != DevelopmentClientID || !isGUID(cl["oid"].(string)) {
			t.Errorf("claims %v", cl)
		}
		exp, iat := cl["exp"].(float64), cl["iat"].(float64)
		if exp-iat != 3600 || time.Since(time.Unix(int64(iat), 0)).Abs() > time.Minute {
			t.Errorf("iat %v exp %v, want now and an hour later", iat, exp)
		}
		// The same subject has the same object ID; another has another.
		again := verifyRS256(t, c, oidcToken(t, c, `{"sub":"alice","aud":"x"}`))
		bob := verifyRS256(t, c, oidcToken(t, c, `{"sub":"bob","aud":"x","expiresInMinutes":5}`))
		if again["oid"] != cl["oid"] || bob["oid"] == cl["oid"] || bob["exp"].(float64)-bob["iat"].(float64) != 300 {
			t.Errorf("oids %v %v %v, bob %v", cl["oid"], again["oid"], bob["oid"], bob)
		}
		given := verifyRS256(t, c, oidcToken(t, c, `{"sub":"carol","aud":"x","oid":"`+strings.ToUpper(guid(5))+`","tid":"`+guid(6)+`","azp":"`+guid(7)+`"}`))
		if given["oid"] != guid(5) || given["tid"] != guid(6) || given["azp"] != guid(7) || given["appid"] != guid(7) {
			t.Errorf("claims %v", given)
		}
		if _, ok := given["scp"]; ok {
			t.Errorf("scp without one asked for: %v", given)
		}
	}
}

// TestOIDCTokenRequestErrors: a token request that is wrong is answered 400
// with a message that names what is wrong.
func TestOIDCTokenRequestErrors(t *testing.T) {
	t.Parallel()
	_, c := start(t, nil)
	for body, want := range map[string]string{
		``:                                   `{"sub":"alice"`,
		`[]`:                                 `{"sub":"alice"`,
		`{"aud":"x"}`:                        `"sub" is required`,
		`{"sub":"a"}`:                        `"aud" is required`,
		`{"sub":"a","aud":"x","extra":1}`:    `{"sub":"alice"`,
		`{"sub":"a","aud":"x","oid":"nope"}`: `"oid" is "nope", which is not a GUID`,
		`{"sub":"a","aud":"x","expiresInMinutes":1441}`: `want 1 to 1440`,
	} {
		r := c.send(req{method: "POST", path: OIDCIssuerPath + "/token", body: body})
		if r.status != 400 || !strings.Contains(r.errorBody(t).Message, want) {
			t.Errorf("%s: %d %s, want 400 saying %s", body, r.status, r.body, want)
		}
	}
	mustStatus(t, c.send(req{method: "GET", path: OIDCIssuerPath + "/token"}), 405)
	mustStatus(t, c.send(req{method: "GET", path: OIDCIssuerPath + "/nothing"}), 404)
}

// TestOIDCTeamsFlowOffline: tokens of the emulator's issuer are accepted by
// the Teams and Entra exchanges without AllowBearer, since the emulator
// checks their signature; a token that names its key with a wrong
// signature is refused.
func TestOIDCTeamsFlowOffline(t *testing.T) {
	t.Parallel()
	srv, c := start(t, nil)
	const v = "2025-06-30"
	alice := oidcToken(t, c, `{"sub":"alice","aud":"`+CommunicationAudience+`"}`)
	cl := verifyRS256(t, c, alice)
	tid, oid := cl["tid"].(string), cl["oid"].(string)

	// Teams Phone extension: assign, then exchange alice's token.
	mustStatus(t, c.send(req{method: "PUT", path: "/access/teamsExtension/tenants/" + tid + "/assignments/" + oid + "?api-version=" + v,
		body: `{"principalType":"user","clientIds":["` + DevelopmentClientID + `"]}`}), 201)
	x := c.send(req{method: "POST", path: "/access/teamsExtension/:exchangeAccessToken?api-version=" + v, body: `{}`, bearer: alice})
	mustStatus(t, x, 200)
	var res wire.AccessTokenResult
	x.decode(t, &res)
	if want := "8:acs:" + DevelopmentResourceID + "_" + tid + "_" + oid; res.Identity.ID != want || srv.Emulator.Introspect(res.AccessToken.Token).Status != StatusValid {
		t.Errorf("exchange %s, want identity %s", x.body, want)
	}

	// Entra ID users.
	const pv = "2025-03-02-preview"
	mustStatus(t, c.send(req{method: "PUT", path: "/access/entra/assignments/" + oid + "?api-version=" + pv,
		body: `{"tenantId":"` + tid + `","principalType":"user","clientIds":[]}`}), 201)
	mustStatus(t, c.send(req{method: "POST", path: "/access/entra/:exchangeAccessToken?api-version=" + pv, body: `{}`, bearer: alice}), 200)

	// The Teams user exchange takes a token for its own audience.
	teams := oidcToken(t, c, `{"sub":"alice","aud":"`+TeamsUserAudience+`"}`)
	mustStatus(t, c.send(req{method: "POST", path: "/teamsUser/:exchangeAccessToken?api-version=" + v,
		body: wire.TeamsUserExchangeRequest{Token: teams, AppID: DevelopmentClientID, UserID: oid}}), 200)

	// A forged signature, and a token of another issuer without
	// AllowBearer, are refused.
	forged := alice[:strings.LastIndexByte(alice, '.')+1] + base64.RawURLEncoding.EncodeToString(make([]byte, 256))
	r := c.send(req{method: "POST", path: "/access/teamsExtension/:exchangeAccessToken?api-version=" + v, body: `{}`, bearer: forged})
	if r.status != 401 || !strings.Contains(r.errorBody(t).Message, "signature does not match") {
		t.Errorf("forged token: %d %s", r.status, r.body)
	}
	other := fakeJWT(map[string]any{"aud": CommunicationAudience, "exp": time.Now().Add(time.Hour).Unix(), "tid": tid, "oid": oid})
	mustStatus(t, c.send(req{method: "POST", path: "/access/teamsExtension/:exchangeAccessToken?api-version=" + v, body: `{}`, bearer: other}), 401)
}

// TestOIDCKeyPersisted: the issuer's key is kept in the data file, so a
// restarted emulator publishes the same key and accepts its old tokens.
func TestOIDCKeyPersisted(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "state.json")
	srv, c := start(t, &Options{DataFile: path})
	tok := oidcToken(t, c, `{"sub":"alice","aud":"`+CommunicationAudience+`"}`)
	before := c.send(req{method: "GET", path: OIDCIssuerPath + "/jwks"})
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	for range 2 { // from the journal, then from the full copy
		srv, c = start(t, &Options{DataFile: path})
		after := c.send(req{method: "GET", path: OIDCIssuerPath + "/jwks"})
		if string(after.body) != string(before.body) {
			t.Errorf("the JWKS changed across a restart:\n%s\n%s", before.body, after.body)
		}
		verifyRS256(t, c, tok)
		mustStatus(t, c.send(req{method: "POST", path: "/access/entra/:exchangeAccessToken?api-version=2025-03-02-preview", body: `{}`, bearer: tok}), 403) // accepted, no assignment
		if err := srv.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestOIDCKeyMadeOnce: token requests racing for the issuer's first key
// all get tokens signed by the one key the JWKS publishes.
func TestOIDCKeyMadeOnce(t *testing.T) {
	t.Parallel()
	_, c := start(t, &Options{DataFile: filepath.Join(t.TempDir(), "state.json")})
	toks := make([]string, 8)
	done := make(chan int)
	for i := range toks {
		go func() {
			r := c.send(req{method: "POST", path: OIDCIssuerPath + "/token", body: `{"sub":"alice","aud":"x"}`})
			var tok OIDCToken
			json.Unmarshal(r.body, &tok)
			toks[i] = tok.AccessToken
			done <- i
		}()
	}
	for range toks {
		<-done
	}
	for _, tok := range toks {
		verifyRS256(t, c, tok)
	}
}
