package acsidentity

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestTrustedServiceRefresher(t *testing.T) {
	t.Parallel()
	token := makeToken(time.Now().Add(time.Hour))

	t.Run("GET with scopes and authorization", func(t *testing.T) {
		t.Parallel()
		u := trustedService(t, func(w http.ResponseWriter, r *http.Request) {
			if r.Method != http.MethodGet || r.URL.Path != "/api/token" ||
				r.URL.RawQuery != "code=fn%3Dkey&scopes=chat%2Cvoip" || r.URL.Query().Get("scopes") != "chat,voip" ||
				r.Header.Get("Authorization") != "Bearer user-token" || r.Header.Get("Accept") != "application/json" {
				t.Errorf("unexpected request %s %s %v", r.Method, r.URL, r.Header)
			}
			writeTrustedJSON(w, http.StatusOK, tokenResponse(token))
		})
		refresh := NewTrustedServiceRefresher(u+"?code=fn%3Dkey", &TrustedServiceRefresherOptions{
			Authorize: func(r *http.Request) error { r.Header.Set("Authorization", "Bearer user-token"); return nil },
			Scopes:    []TokenScope{TokenScopeChat, TokenScopeVoIP},
		})
		got, err := refresh(context.Background())
		if err != nil || got != token {
			t.Fatalf("refresh = %q, %v", got, err)
		}
	})

	t.Run("POST answered with 201", func(t *testing.T) {
		t.Parallel()
		client := &http.Client{}
		u := trustedService(t, func(w http.ResponseWriter, r *http.Request) {
			if r.Method != http.MethodPost || r.URL.RawQuery != "" {
				t.Errorf("unexpected request %s %s", r.Method, r.URL)
			}
			writeTrustedJSON(w, http.StatusCreated, tokenResponse(token))
		})
		got, err := NewTrustedServiceRefresher(u, &TrustedServiceRefresherOptions{Method: "post", Client: client})(context.Background())
		if err != nil || got != token {
			t.Fatalf("refresh = %q, %v", got, err)
		}
	})

	// Issue 18: the refresher does not parse the token, so one it cannot
	// decode passes through to the credential unchanged.
	t.Run("encrypted token", func(t *testing.T) {
		t.Parallel()
		opaque := makeEncryptedToken(7)
		u := trustedService(t, func(w http.ResponseWriter, r *http.Request) {
			writeTrustedJSON(w, http.StatusOK, tokenResponse(opaque))
		})
		got, err := NewTrustedServiceRefresher(u, nil)(context.Background())
		if err != nil || got != opaque {
			t.Fatalf("refresh = %q, %v", got, err)
		}
	})

	errorCases := []struct {
		name   string
		status int
		body   string
		want   TrustedServiceError
	}{
		{"ACS error body", 401, `{"error":{"code":"InvalidAuthenticationToken","message":"The caller is not signed in."}}`,
			TrustedServiceError{401, "InvalidAuthenticationToken", "The caller is not signed in."}},
		{"hero sample error body", 404, `{"code":404,"message":"Can not find any ACS identities"}`,
			TrustedServiceError{404, "404", "Can not find any ACS identities"}},
		{"plain text", 500, "oops " + token, TrustedServiceError{StatusCode: 500}},
		{"long message", 400, `{"error":{"code":"Bad","message":"` + strings.Repeat("m", 300) + `"}}`,
			TrustedServiceError{400, "Bad", strings.Repeat("m", 256) + "…"}},
		{"odd code", 418, `{"error":{"code":{"x":1}}}`, TrustedServiceError{StatusCode: 418}},
	}
	for _, tc := range errorCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			u := trustedService(t, func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tc.status)
				w.Write([]byte(tc.body))
			})
			_, err := NewTrustedServiceRefresher(u, nil)(context.Background())
			var te *TrustedServiceError
			if !errors.As(err, &te) || *te != tc.want {
				t.Fatalf("error = %#v, want %#v", err, tc.want)
			}
			msg := err.Error()
			if !strings.Contains(msg, strconv.Itoa(tc.status)) || !strings.Contains(msg, tc.want.Code) || strings.Contains(msg, token) {
				t.Fatalf("error text %q", msg)
			}
		})
	}

	failures := []struct {
		name    string
		handler func(w http.ResponseWriter, r *http.Request)
		opts    *TrustedServiceRefresherOptions
		text    string
	}{
		{"no token", func(w http.ResponseWriter, r *http.Request) {
			writeTrustedJSON(w, 200, map[string]string{"expiresOn": "x"})
		}, nil, "has no token"},
		{"not JSON", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("<html>")) }, nil, "not the expected JSON"},
		{"too large", func(w http.ResponseWriter, r *http.Request) { w.Write(make([]byte, maxTrustedServiceBody+1)) }, nil, "larger than 1 MiB"},
		{"bad method", nil, &TrustedServiceRefresherOptions{Method: "DELETE"}, "GET or POST"},
		{"authorize fails", nil, &TrustedServiceRefresherOptions{Authorize: func(*http.Request) error { return errors.New("not signed in") }}, "not signed in"},
	}
	for _, tc := range failures {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := tc.handler
			if h == nil {
				h = func(w http.ResponseWriter, r *http.Request) { t.Error("request sent") }
			}
			_, err := NewTrustedServiceRefresher(trustedService(t, h), tc.opts)(context.Background())
			if err == nil || !strings.Contains(err.Error(), tc.text) {
				t.Fatalf("error = %v, want one containing %q", err, tc.text)
			}
		})
	}

	t.Run("bad URL", func(t *testing.T) {
		t.Parallel()
		for _, u := range []string{"", "/api/token", "ftp://x/token", "http://%zz?code=secret"} {
			_, err := NewTrustedServiceRefresher(u, nil)(context.Background())
			if err == nil || strings.Contains(err.Error(), "secret") {
				t.Errorf("%q: error %v", u, err)
			}
		}
	})

	t.Run("transport error hides the query", func(t *testing.T) {
		t.Parallel()
		srv := httptest.NewServer(http.NotFoundHandler())
		u := srv.URL + "/api/token?code=function-key-secret"
		srv.Close()
		_, err := NewTrustedServiceRefresher(u, nil)(context.Background())
		if err == nil || strings.Contains(err.Error(), "function-key-secret") || !strings.Contains(err.Error(), "/api/token") {
			t.Fatalf("error = %v", err)
		}
	})

	t.Run("context cancelled", func(t *testing.T) {
		t.Parallel()
		u := trustedService(t, func(w http.ResponseWriter, r *http.Request) { writeTrustedJSON(w, 200, tokenResponse(token)) })
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := NewTrustedServiceRefresher(u, nil)(ctx); !errors.Is(err, context.Canceled) {
			t.Fatalf("error = %v, want context.Canceled", err)
		}
	})
}

func TestRedactURLError(t *testing.T) {
	t.Parallel()
	plain := errors.New("plain")
	if redactURLError(plain) != plain {
		t.Fatal("non-URL error changed")
	}
	err := redactURLError(&url.Error{Op: "Get", URL: "http://%zz/?code=secret", Err: plain})
	if strings.Contains(err.Error(), "secret") || !errors.Is(err, plain) {
		t.Fatal(err)
	}
}

// The one-line setup of the issue: a self-renewing credential backed by the
// trusted token service.
func TestCredentialWithTrustedServiceRefresher(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	u := trustedService(t, func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		writeTrustedJSON(w, http.StatusOK, tokenResponse(makeToken(time.Now().Add(time.Hour))))
	})
	c, err := NewCommunicationTokenCredential(CommunicationTokenCredentialOptions{Refresher: NewTrustedServiceRefresher(u, nil), RefreshProactively: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	tok := mustGetToken(t, c)
	if time.Until(tok.ExpiresOn) < 59*time.Minute || calls.Load() != 1 {
		t.Fatalf("token expires %v after %d calls", tok.ExpiresOn, calls.Load())
	}
}
