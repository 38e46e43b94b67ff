package acsidentity

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// TrustedServiceRefresherOptions configures NewTrustedServiceRefresher. The
// zero value sends a plain GET with http.DefaultClient.
type TrustedServiceRefresherOptions struct {
	// Client sends the requests; nil means http.DefaultClient.
	Client *http.Client
	// Method is "GET" (the default) or "POST".
	Method string
	// Authorize, when not nil, is called on every request before it is sent,
	// to add the caller's own credentials, such as an Authorization header
	// with the signed-in user's Entra ID token. Its error is returned as is,
	// wrapped.
	Authorize func(*http.Request) error
	// Scopes, when not empty, are sent as the query parameter scopes,
	// comma-separated ("?scopes=chat,voip"), which is what this module's
	// example trusted service (examples/trusted-service) reads. The service
	// decides what to do with them.
	Scopes []TokenScope
}

// TrustedServiceError is returned by a refresher from
// NewTrustedServiceRefresher when the trusted token service answers with a
// status other than 2xx. It never contains a token.
type TrustedServiceError struct {
	// StatusCode is the HTTP status code.
	StatusCode int
	// Code is error.code of an ACS-style error body
	// {"error":{"code":"…","message":"…"}}, or the top-level code of a
	// {"code":…,"message":"…"} body; "" if there is neither.
	Code string
	// Message is the matching message, shortened to 256 bytes.
	Message string
}

// Error describes the failure by status and code.
func (e *TrustedServiceError) Error() string {
	s := "acsidentity: trusted token service returned " + strconv.Itoa(e.StatusCode)
	if t := http.StatusText(e.StatusCode); t != "" {
		s += " " + t
	}
	if e.Code != "" {
		s += " (code " + e.Code + ")"
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

const maxTrustedServiceBody = 1 << 20

// NewTrustedServiceRefresher returns a function to use as
// CommunicationTokenCredentialOptions.Refresher: it gets tokens from the
// application's trusted token service at tokenURL. The service's 2xx answer
// is the JSON
//
//	{"user":{"communicationUserId":"8:acs:…"},"token":"…","expiresOn":"…"}
//
// of which the refresher uses token; errors are JSON such as
// {"error":{"code":"…","message":"…"}} and come back as *TrustedServiceError.
// A nil options is the same as the zero value.
//
// Errors never contain the token, nor tokenURL's query, which may carry a
// key (an Azure Functions ?code=, say).
func NewTrustedServiceRefresher(tokenURL string, options *TrustedServiceRefresherOptions) func(ctx context.Context) (string, error) {
	var o TrustedServiceRefresherOptions
	if options != nil {
		o = *options
	}
	client := o.Client
	if client == nil {
		client = http.DefaultClient
	}
	method := strings.ToUpper(o.Method)
	if method == "" {
		method = http.MethodGet
	}
	scopes := make([]string, 0, len(o.Scopes))
	for _, s := range slices.Clone(o.Scopes) {
		scopes = append(scopes, string(s))
	}
	authorize := o.Authorize

	return func(ctx context.Context) (string, error) {
		if method != http.MethodGet && method != http.MethodPost {
			return "", fmt.Errorf("acsidentity: trusted token service method must be GET or POST, not %q", method)
		}
		u, err := url.Parse(tokenURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return "", errors.New("acsidentity: trusted token service URL is not an absolute http(s) URL")
		}
		if len(scopes) > 0 {
			if u.RawQuery != "" {
				u.RawQuery += "&"
			}
			u.RawQuery += "scopes=" + url.QueryEscape(strings.Join(scopes, ","))
		}
		req, err := http.NewRequestWithContext(ctx, method, u.String(), nil)
		if err != nil {
			return "", fmt.Errorf("acsidentity: trusted token service request: %w", redactURLError(err))
		}
		req.Header.Set("Accept", "application/json")
		if authorize != nil {
			if err := authorize(req); err != nil {
				return "", fmt.Errorf("acsidentity: authorizing the trusted token service request: %w", err)
			}
		}
		resp, err := client.Do(req)
		if err != nil {
			return "", fmt.Errorf("acsidentity: trusted token service request failed: %w", redactURLError(err))
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(io.LimitReader(resp.Body, maxTrustedServiceBody+1))
		if err != nil {
			return "", fmt.Errorf("acsidentity: reading the trusted token service response: %w", err)
		}
		if resp.StatusCode < 200 || resp.StatusCode > 299 {
			return "", newTrustedServiceError(resp.StatusCode, body)
		}
		if len(body) > maxTrustedServiceBody {
			return "", errors.New("acsidentity: trusted token service response is larger than 1 MiB")
		}
		var r struct {
			Token string `json:"token"`
		}
		if err := json.Unmarshal(body, &r); err != nil {
			return "", fmt.Errorf("acsidentity: trusted token service response is not the expected JSON: %w", err)
		}
		if r.Token == "" {
			return "", errors.New("acsidentity: trusted token service response has no token")
		}
		return r.Token, nil
	}
}

func newTrustedServiceError(status int, body []byte) *TrustedServiceError {
	e := &TrustedServiceError{StatusCode: status}
	var b struct {
		Error *struct {
			Code    json.RawMessage `json:"code"`
			Message string          `json:"message"`
		} `json:"error"`
		Code    json.RawMessage `json:"code"`
		Message string          `json:"message"`
	}
	if json.Unmarshal(body, &b) != nil {
		return e
	}
	if b.Error != nil {
		e.Code, e.Message = jsonScalar(b.Error.Code), b.Error.Message
	} else {
		e.Code, e.Message = jsonScalar(b.Code), b.Message
	}
	e.Code, e.Message = shorten(e.Code, 64), shorten(e.Message, 256)
	return e
}

// jsonScalar renders a JSON string or number as text; other values as "".
func jsonScalar(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		return n.String()
	}
	return ""
}

func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// redactURLError drops the query, fragment and user information from the
// URL that net/http puts in its errors.
func redactURLError(err error) error {
	var ue *url.Error
	if !errors.As(err, &ue) {
		return err
	}
	c := *ue
	if u, perr := url.Parse(ue.URL); perr == nil {
		c.URL = (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}).String()
	} else {
		c.URL = "(trusted token service URL)"
	}
	return &c
}
