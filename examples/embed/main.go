// Command embed is an existing net/http web app with its own cookie
// sign-in that hands its users ACS tokens by mounting package tokenservice
// next to its own handlers:
//
//	go run ./examples/embed     # then open http://localhost:8080/
//
// Sign in with a name (this demo takes any; a real app checks a password or
// an identity provider), press "Get an ACS token", and the page fetches
// /acs/token with the session cookie: the same user always gets the same
// ACS identity. With COMMUNICATION_SERVICES_CONNECTION_STRING unset the app
// starts the ACS Identity emulator in process (not Azure).
package main

import (
	"crypto/rand"
	"errors"
	"flag"
	"html/template"
	"log"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/acsgo/acsidentity"
	"github.com/acsgo/acsidentity/emulator"
	"github.com/acsgo/acsidentity/tokenservice"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "listen address `host:port`")
	flag.Parse()
	cs := os.Getenv("COMMUNICATION_SERVICES_CONNECTION_STRING")
	if cs == "" {
		em, err := emulator.Start(nil)
		if err != nil {
			log.Fatal(err)
		}
		defer em.Close()
		cs = em.ConnectionString()
		log.Printf("COMMUNICATION_SERVICES_CONNECTION_STRING is unset: using the in-process ACS emulator at %s (NOT Azure)", em.URL)
	}
	client, err := acsidentity.NewClientFromConnectionString(cs, tokenservice.NewClientOptions())
	if err != nil {
		log.Fatal(err)
	}
	h, err := newApp(client)
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{Addr: *addr, Handler: h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 60 * time.Second, IdleTimeout: 120 * time.Second, MaxHeaderBytes: 64 << 10}
	log.Printf("open http://%s/", *addr)
	log.Fatal(srv.ListenAndServe())
}

// sessionCookie names the app's session cookie.
const sessionCookie = "session"

// app is the web app: its sessions and its pages, and the token endpoint.
type app struct {
	mu       sync.Mutex
	sessions map[string]string // session ID -> user name
}

// newApp returns the app's handler: its own pages, and the token
// endpoint under /acs/, which knows the caller from the app's session.
func newApp(client *acsidentity.Client) (http.Handler, error) {
	a := &app{sessions: map[string]string{}}
	tokens, err := tokenservice.New(client, &tokenservice.Options{
		Authenticate: a.authenticate,
		Tokens:       tokenservice.TokenPolicy{DefaultScopes: []acsidentity.TokenScope{acsidentity.TokenScopeChat, acsidentity.TokenScopeVoIP}},
	})
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("/acs/", tokens) // the pattern tells tokens where it is mounted
	mux.HandleFunc("GET /{$}", a.home)
	mux.HandleFunc("POST /login", a.login)
	mux.HandleFunc("POST /logout", a.logout)
	return mux, nil
}

// authenticate is the token endpoint's Options.Authenticate: the signed-in
// user, from the session cookie.
func (a *app) authenticate(r *http.Request) (tokenservice.Caller, error) {
	user, err := a.user(r)
	if err != nil {
		return tokenservice.Caller{}, err
	}
	return tokenservice.Caller{ID: "embed-app:" + user}, nil // the app's own namespace of caller IDs
}

// user is the signed-in user's name, from the session cookie.
func (a *app) user(r *http.Request) (string, error) {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return "", tokenservice.ErrNoCredentials
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	user, ok := a.sessions[c.Value]
	if !ok {
		return "", errors.New("unknown session")
	}
	return user, nil
}

func (a *app) login(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimSpace(r.PostFormValue("name"))
	if name == "" || len(name) > 64 {
		http.Error(w, "a name of 1 to 64 characters, please", http.StatusBadRequest)
		return
	}
	id := rand.Text()
	a.mu.Lock()
	a.sessions[id] = name
	a.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: id, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (a *app) logout(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(sessionCookie); err == nil {
		a.mu.Lock()
		delete(a.sessions, c.Value)
		a.mu.Unlock()
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Path: "/", MaxAge: -1})
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (a *app) home(w http.ResponseWriter, r *http.Request) {
	user, _ := a.user(r)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	page.Execute(w, user)
}

var page = template.Must(template.New("home").Parse(`<!doctype html>
<meta charset="utf-8"><title>An app with ACS tokens</title>
{{if .}}
<p>Signed in as {{.}}. <form method="post" action="/logout" style="display:inline"><button>Sign out</button></form></p>
<p><button id="get">Get an ACS token</button> <span id="out"></span></p>
<script>
document.getElementById("get").onclick = async () => {
  const res = await fetch("/acs/token", { credentials: "same-origin" });
  const body = await res.json();
  document.getElementById("out").textContent = res.ok
    ? "identity " + body.user.communicationUserId + ", expires " + body.expiresOn
    : body.error.code + ": " + body.error.message;
};
</script>
{{else}}
<form method="post" action="/login"><input name="name" placeholder="your name"> <button>Sign in</button></form>
{{end}}`))
