package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/acsgo/acsidentity"
	"github.com/acsgo/acsidentity/emulator"
	"github.com/acsgo/acsidentity/tokenservice"
)

// TestSignInThenTokens runs the app over real HTTP against an emulator, as
// a browser with a cookie jar uses it: no token before signing in; after,
// a token for the user's own identity, the same each time; another user,
// another identity; signed out, no token again.
func TestSignInThenTokens(t *testing.T) {
	t.Parallel()
	em, err := emulator.Start(nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { em.Close() })
	client, err := acsidentity.NewClientFromConnectionString(em.ConnectionString(), tokenservice.NewClientOptions())
	if err != nil {
		t.Fatal(err)
	}
	h, err := newApp(client)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)

	browser := func() *http.Client {
		jar, _ := cookiejar.New(nil)
		return &http.Client{Jar: jar}
	}
	signIn := func(c *http.Client, name string) {
		t.Helper()
		res, err := c.PostForm(srv.URL+"/login", url.Values{"name": {name}})
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 || !strings.Contains(string(b), "Signed in as "+name) {
			t.Fatalf("signing in as %s: %d %s", name, res.StatusCode, b)
		}
	}
	token := func(c *http.Client) (status int, user string) {
		t.Helper()
		res, err := c.Get(srv.URL + "/acs/token")
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var body struct {
			User  struct{ CommunicationUserID string } `json:"user"`
			Token string                               `json:"token"`
		}
		if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
			t.Fatal(err)
		}
		if res.StatusCode == 200 {
			if st := em.Emulator.Introspect(body.Token); st.Status != emulator.StatusValid || strings.Join(st.Scopes, ",") != "chat,voip" {
				t.Fatalf("the token is %+v", st)
			}
		}
		return res.StatusCode, body.User.CommunicationUserID
	}

	alice := browser()
	if status, _ := token(alice); status != http.StatusUnauthorized {
		t.Fatalf("a token before signing in: %d, want 401", status)
	}
	signIn(alice, "alice")
	_, first := token(alice)
	if _, again := token(alice); first == "" || again != first {
		t.Fatalf("alice's identities: %q then %q, want one", first, again)
	}
	bob := browser()
	signIn(bob, "bob")
	if _, other := token(bob); other == first {
		t.Fatal("bob got alice's identity")
	}
	res, err := alice.Post(srv.URL+"/logout", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if status, _ := token(alice); status != http.StatusUnauthorized {
		t.Fatalf("a token after signing out: %d, want 401", status)
	}
	// A forged session cookie is not a session.
	forged := browser()
	u, _ := url.Parse(srv.URL)
	forged.Jar.SetCookies(u, []*http.Cookie{{Name: sessionCookie, Value: "forged"}})
	if status, _ := token(forged); status != http.StatusUnauthorized {
		t.Fatalf("a forged session: %d, want 401", status)
	}
}
