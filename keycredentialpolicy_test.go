package acsidentity

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"

	"github.com/acsgo/acsidentity/emulator"
	"github.com/acsgo/acsidentity/internal/wire"
)

// keyPolicyPipeline is a pipeline of the exported policy alone, as a user of
// another ACS API would build it.
func keyPolicyPipeline(cred *KeyCredential, o *KeyCredentialPolicyOptions, tr policy.Transporter) runtime.Pipeline {
	return runtime.NewPipeline("keypolicytest", "v0.0.1", runtime.PipelineOptions{PerRetry: []policy.Policy{NewKeyCredentialPolicy(cred, o)}},
		&policy.ClientOptions{Transport: tr, Retry: policy.RetryOptions{RetryDelay: time.Millisecond, MaxRetryDelay: 5 * time.Millisecond}})
}

// TestKeyCredentialPolicyAcceptedByEmulator: a server that verifies as ACS
// does (the emulator checks the signature, the Host, the date and the body's
// hash before acting) accepts requests the exported policy signed, body and
// all, on every retry, and refuses them under another key.
func TestKeyCredentialPolicyAcceptedByEmulator(t *testing.T) {
	t.Parallel()
	srv, err := emulator.Start(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	cred, err := NewKeyCredential(emulator.DevelopmentKey)
	if err != nil {
		t.Fatal(err)
	}
	pl := keyPolicyPipeline(cred, nil, nil)
	create := func(pl runtime.Pipeline) (int, wire.AccessTokenResult) {
		t.Helper()
		req, err := runtime.NewRequest(context.Background(), http.MethodPost, srv.URL+"/identities?api-version=2025-06-30")
		if err != nil {
			t.Fatal(err)
		}
		if err := runtime.MarshalAsJSON(req, map[string]any{"createTokenWithScopes": []string{"chat", "voip"}, "expiresInMinutes": 60}); err != nil {
			t.Fatal(err)
		}
		resp, err := pl.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var out wire.AccessTokenResult
		if resp.StatusCode == http.StatusCreated {
			if err := json.Unmarshal(body, &out); err != nil {
				t.Fatal(err)
			}
		}
		return resp.StatusCode, out
	}
	status, out := create(pl)
	if status != http.StatusCreated || out.AccessToken == nil || srv.Emulator.Introspect(out.AccessToken.Token).Status != "valid" {
		t.Fatalf("create: %d %+v", status, out)
	}
	// Two 503s: the third try, signed anew with the same body, is accepted.
	f, err := emulator.ParseFault("503:2:create")
	if err != nil {
		t.Fatal(err)
	}
	srv.Emulator.InjectFault(f)
	if status, _ := create(pl); status != http.StatusCreated {
		t.Errorf("after two 503s: %d", status)
	}
	other, _ := NewKeyCredential(testKey)
	if status, _ := create(keyPolicyPipeline(other, nil, nil)); status != http.StatusUnauthorized {
		t.Errorf("another key: %d; want 401", status)
	}
}

// TestKeyCredentialPolicyRefuses: what the policy refuses, before sending,
// with errors that say why, are not retried and do not show the key.
func TestKeyCredentialPolicyRefuses(t *testing.T) {
	t.Parallel()
	cred, err := NewKeyCredential(testKey)
	if err != nil {
		t.Fatal(err)
	}
	var sent int
	tr := transportFunc(func(r *http.Request) (*http.Response, error) {
		sent++
		return &http.Response{StatusCode: 202, Header: http.Header{}, Body: http.NoBody, Request: r}, nil
	})
	send := func(pl runtime.Pipeline, url string, rawBody bool) error {
		req, err := runtime.NewRequest(context.Background(), http.MethodPost, url)
		if err != nil {
			t.Fatal(err)
		}
		if rawBody {
			req.Raw().Body = io.NopCloser(strings.NewReader(`{"message":"hi"}`))
		}
		_, err = pl.Do(req)
		return err
	}
	cases := []struct {
		name    string
		cred    *KeyCredential
		opts    *KeyCredentialPolicyOptions
		url     string
		rawBody bool
		want    error // nil: sent
	}{
		{"nil credential", nil, nil, "https://contoso.communication.azure.com/emails:send", false, ErrMissingArgument},
		{"zero credential", &KeyCredential{}, nil, "https://contoso.communication.azure.com/emails:send", false, ErrMissingArgument},
		{"plain HTTP", cred, nil, "http://contoso.communication.azure.com/sms", false, ErrInsecureTransport},
		{"plain HTTP allowed", cred, &KeyCredentialPolicyOptions{InsecureAllowCredentialWithHTTP: true}, "http://contoso.communication.azure.com/sms", false, nil},
		{"plain HTTP to loopback", cred, nil, "http://127.0.0.1:8080/sms", false, nil},
		{"body behind azcore's back", cred, nil, "https://contoso.communication.azure.com/sms", true, nil},
	}
	for _, tc := range cases {
		sent = 0
		err := send(keyPolicyPipeline(tc.cred, tc.opts, tr), tc.url, tc.rawBody)
		switch {
		case tc.rawBody:
			if err == nil || !strings.Contains(err.Error(), "SetBody") || sent != 0 {
				t.Errorf("%s: %v, %d sent", tc.name, err, sent)
			}
		case tc.want == nil:
			if err != nil || sent != 1 {
				t.Errorf("%s: %v, %d sent", tc.name, err, sent)
			}
		case !errors.Is(err, tc.want) || sent != 0:
			t.Errorf("%s: %v, %d sent; want %v and nothing sent", tc.name, err, sent, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), testKey) {
			t.Errorf("%s: the error shows the key", tc.name)
		}
	}
}

// TestKeyCredentialPolicyRotates: Update takes effect on the next request.
func TestKeyCredentialPolicyRotates(t *testing.T) {
	t.Parallel()
	cred, err := NewKeyCredential(testKey)
	if err != nil {
		t.Fatal(err)
	}
	var auths []string
	tr := transportFunc(func(r *http.Request) (*http.Response, error) {
		body, _ := io.ReadAll(r.Body)
		ok, problem := verifyIndependently(r, body, testKey)
		if !ok {
			auths = append(auths, "bad: "+problem)
		} else {
			auths = append(auths, "ok")
		}
		return &http.Response{StatusCode: 202, Header: http.Header{}, Body: http.NoBody, Request: r}, nil
	})
	pl := keyPolicyPipeline(cred, nil, tr)
	for range 2 {
		req, _ := runtime.NewRequest(context.Background(), http.MethodPost, "https://contoso.communication.azure.com/emails:send?api-version=2023-03-31")
		if err := req.SetBody(nopSeekCloser{bytes.NewReader([]byte(`{"senderAddress":"a@b"}`))}, "application/json"); err != nil {
			t.Fatal(err)
		}
		if _, err := pl.Do(req); err != nil {
			t.Fatal(err)
		}
		if err := cred.Update(emulator.DevelopmentKey); err != nil {
			t.Fatal(err)
		}
	}
	if len(auths) != 2 || auths[0] != "ok" || !strings.HasPrefix(auths[1], "bad: authorization") {
		t.Errorf("verifications under the old key: %q", auths)
	}
}

type nopSeekCloser struct{ *bytes.Reader }

func (nopSeekCloser) Close() error { return nil }
