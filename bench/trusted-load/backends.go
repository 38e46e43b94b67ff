package main

// What the service under load talks to when trusted-load starts it: an
// emulator in its own process, and an OIDC issuer for the callers' bearer
// tokens.

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"
)

// emulatorProc is cmd/acsidentity-emulator, started here.
type emulatorProc struct {
	cmd              *exec.Cmd
	connectionString string
	tmp              string
	done             chan struct{}
	once             sync.Once
}

// startEmulator builds and starts the emulator command on a free loopback
// port and reads the connection string it prints.
func startEmulator(root string) (*emulatorProc, error) {
	bin, tmp, err := build(root, "./cmd/acsidentity-emulator", "acsidentity-emulator")
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "-addr", "127.0.0.1:0")
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = dieWithParent()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		os.RemoveAll(tmp)
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		os.RemoveAll(tmp)
		return nil, err
	}
	e := &emulatorProc{cmd: cmd, tmp: tmp, done: make(chan struct{})}
	go func() { cmd.Wait(); close(e.done) }()
	line := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "endpoint=") {
				line <- sc.Text()
				break
			}
		}
		for sc.Scan() {
		}
	}()
	select {
	case e.connectionString = <-line:
		return e, nil
	case <-e.done:
		os.RemoveAll(tmp)
		return nil, fmt.Errorf("the emulator exited before printing its connection string")
	case <-time.After(60 * time.Second):
		e.stop()
		return nil, fmt.Errorf("the emulator printed no connection string in 60s")
	}
}

func (e *emulatorProc) pid() int { return e.cmd.Process.Pid }

func (e *emulatorProc) stop() {
	e.once.Do(func() {
		e.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-e.done:
		case <-time.After(30 * time.Second):
			e.cmd.Process.Kill()
			<-e.done
		}
		os.RemoveAll(e.tmp)
	})
}

// issuer is the callers' OIDC identity provider: an RS256 key (what Entra
// ID signs with) and its JWKS served on loopback.
type issuer struct {
	srv  *http.Server
	url  string // the issuer, also the base of the JWKS URL
	key  *rsa.PrivateKey
	jwks []byte
}

const (
	issuerKID      = "trusted-load"
	issuerAudience = "api://trusted-load"
)

func startIssuer() (*issuer, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	jwk, err := jwkset.NewJWKFromKey(&key.PublicKey, jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{
		ALG: jwkset.AlgRS256, KID: issuerKID, USE: jwkset.UseSig,
	}})
	if err != nil {
		return nil, err
	}
	set := jwkset.NewMemoryStorage()
	if err := set.KeyWrite(context.Background(), jwk); err != nil {
		return nil, err
	}
	jwks, err := set.JSONPublic(context.Background())
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	is := &issuer{url: "http://" + ln.Addr().String(), key: key, jwks: jwks}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /keys", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(is.jwks)
	})
	is.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go is.srv.Serve(ln)
	return is, nil
}

func (is *issuer) jwksURL() string { return is.url + "/keys" }

// token is caller i's bearer token, valid for two hours.
func (is *issuer) token(i int) (string, error) {
	now := time.Now()
	t := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.RegisteredClaims{
		Issuer:    is.url,
		Subject:   "trusted-load-" + strconv.Itoa(i),
		Audience:  jwt.ClaimStrings{issuerAudience},
		IssuedAt:  jwt.NewNumericDate(now),
		NotBefore: jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(2 * time.Hour)),
	})
	t.Header["kid"] = issuerKID
	return t.SignedString(is.key)
}

// env is the service's OIDC configuration for this issuer.
func (is *issuer) env() []string {
	return []string{
		"TRUSTED_SERVICE_OIDC_ISSUER=" + is.url,
		"TRUSTED_SERVICE_OIDC_AUDIENCE=" + issuerAudience,
		"TRUSTED_SERVICE_OIDC_JWKS_URL=" + is.jwksURL(),
	}
}

func (is *issuer) stop() { is.srv.Close() }
