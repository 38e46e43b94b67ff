package acsidentity

import (
	"bytes"
	"crypto/sha256"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

// entraTokenGuard is the EntraTokenGuardPolicy of the .NET, Java and Python
// SDKs: in an Entra user credential's pipeline, after the bearer-token
// policy, it answers an exchange request itself, with the last answer, when
// that answer was a 200 whose ACS token has not expired and the request
// carries the same Authorization header (the same Entra token). Otherwise
// the request goes on, and its answer replaces the cached one, whatever it
// is: a failed exchange is never reused.
//
// It keeps the SHA-256 of the Authorization header, not the header, and runs
// after azcore's retry policy, so every try is guarded and a replayed answer
// is neither logged nor traced as a request.
type entraTokenGuard struct {
	now func() time.Time

	mu   sync.Mutex
	last *guardedAnswer // nil: nothing reusable
}

// guardedAnswer is a 200 answer with an unexpired ACS token.
type guardedAnswer struct {
	auth      [sha256.Size]byte
	header    http.Header
	body      []byte
	expiresOn time.Time
}

func newEntraTokenGuard() *entraTokenGuard { return &entraTokenGuard{now: time.Now} }

// Do implements policy.Policy.
func (g *entraTokenGuard) Do(req *policy.Request) (*http.Response, error) {
	auth := req.Raw().Header.Get("Authorization")
	sum := sha256.Sum256([]byte(auth))
	g.mu.Lock()
	last := g.last
	g.mu.Unlock()
	if last != nil && auth != "" && last.auth == sum && g.now().Before(last.expiresOn) {
		return last.replay(req.Raw()), nil
	}
	resp, err := req.Next()
	if err != nil {
		g.remember(nil)
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		g.remember(nil)
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	var next *guardedAnswer
	if resp.StatusCode == http.StatusOK && auth != "" {
		if tok, why := exchangedToken(body); why == "" {
			next = &guardedAnswer{auth: sum, header: resp.Header.Clone(), body: body, expiresOn: tok.ExpiresOn}
		}
	}
	g.remember(next)
	return resp, nil
}

func (g *entraTokenGuard) remember(a *guardedAnswer) {
	g.mu.Lock()
	g.last = a
	g.mu.Unlock()
}

// replay returns a copy of the cached answer for r.
func (a *guardedAnswer) replay(r *http.Request) *http.Response {
	return &http.Response{
		Status:        "200 OK",
		StatusCode:    http.StatusOK,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        a.header.Clone(),
		Body:          io.NopCloser(bytes.NewReader(a.body)),
		ContentLength: int64(len(a.body)),
		Request:       r,
	}
}
