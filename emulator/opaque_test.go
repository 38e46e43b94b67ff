package emulator

import (
	"encoding/base64"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/acsgo/acsidentity/internal/wire"
)

// checkOpaque fails unless token is a JWE in compact form whose parts
// reveal nothing of the claims.
func checkOpaque(t *testing.T, token string) {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 5 || parts[1] != "" {
		t.Fatalf("token has %d parts (encrypted key %q), want a five-part JWE with an empty encrypted key", len(parts), parts[1])
	}
	var h map[string]string
	if b, err := base64.RawURLEncoding.DecodeString(parts[0]); err != nil || json.Unmarshal(b, &h) != nil ||
		h["alg"] != "dir" || h["enc"] != "A256GCM" || h["cty"] != "JWT" {
		t.Fatalf("protected header %q, want dir / A256GCM / JWT", parts[0])
	}
	for i, p := range parts[2:] {
		b, err := base64.RawURLEncoding.DecodeString(p)
		if err != nil {
			t.Fatalf("part %d is not base64url: %v", i+2, err)
		}
		if strings.Contains(string(b), "exp") || strings.Contains(string(b), "acs:") {
			t.Fatalf("part %d shows the claims: %q", i+2, b)
		}
	}
}

func TestOpaqueTokens(t *testing.T) {
	t.Parallel()
	clk := newClock()
	srv, c := start(t, &Options{OpaqueTokens: true, Now: clk.Now})
	e := srv.Emulator

	r := c.send(req{method: "POST", path: "/identities?api-version=" + wire.DefaultVersion, body: `{"createTokenWithScopes":["chat","voip"]}`})
	mustStatus(t, r, 201)
	var created wire.AccessTokenResult
	r.decode(t, &created)
	first := created.AccessToken.Token
	checkOpaque(t, first)
	// expiresOn is reported as for a JWT: 24 hours.
	if got, want := created.AccessToken.ExpiresOn.Time, clk.Now().Add(24*time.Hour).Truncate(tick); !got.Equal(want) {
		t.Fatalf("expiresOn %v, want %v", got, want)
	}
	st := e.Introspect(first)
	if st.Status != StatusValid || st.User != created.Identity.ID || strings.Join(st.Scopes, ",") != "chat,voip" ||
		!st.ExpiresOn.Equal(created.AccessToken.ExpiresOn.Time.Truncate(time.Second)) {
		t.Fatalf("Introspect = %+v", st)
	}

	r, issued := c.issue(created.Identity.ID, wire.DefaultVersion, "chat")
	mustStatus(t, r, 200)
	checkOpaque(t, issued.Token)
	if issued.Token == first {
		t.Fatal("two tokens are the same")
	}

	// The extension endpoint reads them too.
	r = c.send(req{method: "POST", path: IntrospectPath, body: map[string]string{"token": issued.Token}})
	mustStatus(t, r, 200)
	var viaHTTP TokenStatus
	r.decode(t, &viaHTTP)
	if viaHTTP.Status != StatusValid {
		t.Fatalf("introspect endpoint: %+v", viaHTTP)
	}

	// A changed byte anywhere makes it a token the emulator did not issue.
	for i := range len(issued.Token) {
		if issued.Token[i] == '.' {
			continue
		}
		b := []byte(issued.Token)
		b[i] ^= 1
		if st := e.Introspect(string(b)); st.Status != StatusInvalid {
			t.Fatalf("token changed at byte %d: %+v", i, st)
		}
	}
	other, _ := start(t, &Options{OpaqueTokens: true})
	if st := other.Emulator.Introspect(first); st.Status != StatusInvalid {
		t.Fatalf("another emulator's Introspect = %+v", st)
	}

	// Revocation, expiry and deletion apply as to JWTs.
	mustStatus(t, c.send(req{method: "POST", path: idPath(created.Identity.ID, "/:revokeAccessTokens", wire.DefaultVersion)}), 204)
	if st := e.Introspect(first); st.Status != StatusRevoked {
		t.Fatalf("after revoke: %+v", st)
	}
	_, after := c.issue(created.Identity.ID, wire.DefaultVersion, "chat")
	clk.Add(25 * time.Hour)
	if st := e.Introspect(after.Token); st.Status != StatusExpired {
		t.Fatalf("after 25 hours: %+v", st)
	}
}

// Without the option tokens are JWTs, and an emulator still reads the
// opaque tokens its signing key made: a data file carries them across a
// restart, whatever the option is then.
func TestOpaqueTokensAcrossRestart(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "state.json")
	srv, c := start(t, &Options{DataFile: file, OpaqueTokens: true})
	r := c.send(req{method: "POST", path: "/identities?api-version=" + wire.DefaultVersion, body: `{"createTokenWithScopes":["chat"]}`})
	mustStatus(t, r, 201)
	var created wire.AccessTokenResult
	r.decode(t, &created)
	checkOpaque(t, created.AccessToken.Token)
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}

	srv2, c2 := start(t, &Options{DataFile: file})
	if st := srv2.Emulator.Introspect(created.AccessToken.Token); st.Status != StatusValid || st.User != created.Identity.ID {
		t.Fatalf("after restart: %+v", st)
	}
	_, jwt := c2.issue(created.Identity.ID, wire.DefaultVersion, "chat")
	if n := strings.Count(jwt.Token, "."); n != 2 {
		t.Fatalf("without OpaqueTokens the token has %d dots, want a JWT", n)
	}
}
