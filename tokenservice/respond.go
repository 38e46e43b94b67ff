package tokenservice

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"

	"github.com/acsgo/acsidentity"
)

// WriteError writes the service's error answer: status and the JSON body
// {"error":{"code":"...","message":"..."}}, with Content-Type
// application/json. An app's own endpoints next to the Service can use it
// to answer in the same shape. The message is shown to the caller: never
// put a library error, a token or a key in it.
func WriteError(w http.ResponseWriter, status int, code, message string) {
	b := make([]byte, 0, 48+len(code)+len(message))
	b = append(b, `{"error":{"code":`...)
	b = appendJSONString(b, code)
	b = append(b, `,"message":`...)
	b = appendJSONString(b, message)
	b = append(b, "}}\n"...)
	writeBody(w, status, b)
}

var jsonContentType = []string{"application/json; charset=utf-8"}

func writeBody(w http.ResponseWriter, status int, b []byte) {
	w.Header()["Content-Type"] = jsonContentType
	w.WriteHeader(status)
	w.Write(b)
}

func (s *Service) writeError(w http.ResponseWriter, l *requestLog, status int, code, message string) {
	l.status, l.code = status, code
	WriteError(w, status, code, message)
}

// writeToken writes a token answer: the JS SDK's CommunicationUserToken,
// which the Calling and Chat samples' token refreshers read (token), plus
// expiresOn for clients that cannot read the token. A Teams exchange has no
// user.
func (s *Service) writeToken(w http.ResponseWriter, l *requestLog, user, token string, expiresOn time.Time) {
	b := make([]byte, 0, 128+len(user)+len(token))
	b = append(b, '{')
	if user != "" {
		b = append(b, `"user":{"communicationUserId":`...)
		b = appendJSONString(b, user)
		b = append(b, "},"...)
	}
	b = append(b, `"token":`...)
	b = appendJSONString(b, token)
	b = append(b, `,"expiresOn":"`...)
	b = expiresOn.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, "\"}\n"...)
	l.status = http.StatusOK
	writeBody(w, http.StatusOK, b)
}

// appendJSONString appends s as a JSON string, exactly as encoding/json
// writes it: at once when s is printable ASCII that needs no escape (IDs
// and tokens are), else through encoding/json.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s)
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// defaultRetryAfter is the Retry-After sent when ACS throttled and did not
// say for how long; maxRetryAfter caps the one passed on.
const (
	defaultRetryAfter = 10 * time.Second
	maxRetryAfter     = 300 * time.Second
)

// acsFailed answers a failed ACS call and records for the log what went
// wrong, without secrets: the status, ACS error code and correlation IDs,
// never the body of the request or the token.
//
//   - ACS 429: 503 with Retry-After. The resource's shared quota is spent;
//     it is not this caller's fault.
//   - ACS 5xx that said when to retry (Retry-After; the client's retries
//     wait out only short ones): 503 with that Retry-After.
//   - ACS 400 (ValidationError): 400 with a fixed message.
//   - ACS 400/401/403 on the Teams exchange: 400, the Teams token was not
//     accepted (ACS answers 401 InvalidAccessToken to a bad token).
//   - ACS 401 IdentityNotOwned: 502. The identity belongs to another ACS
//     resource than the client's: the service's misconfiguration.
//   - Anything else, including ACS rejecting the service's credentials: 502.
func (s *Service) acsFailed(w http.ResponseWriter, r *http.Request, l *requestLog, op string, err error) {
	l.operation = op
	if r.Context().Err() != nil {
		l.reason = "the caller went away during the ACS call"
		s.writeError(w, l, http.StatusServiceUnavailable, "Canceled", "The request was canceled.")
		return
	}
	var re *azcore.ResponseError
	if !errors.As(err, &re) {
		l.level, l.reason = slog.LevelError, err.Error()
		s.writeError(w, l, http.StatusBadGateway, "UpstreamError", "The identity service could not complete the request.")
		return
	}
	l.acs = re
	h := w.Header()
	wait, waitGiven := acsidentity.RetryAfter(err)
	switch {
	case re.StatusCode == http.StatusTooManyRequests:
		if !waitGiven || wait <= 0 {
			wait = defaultRetryAfter
		}
		l.level, l.reason = slog.LevelWarn, "ACS throttled the request"
		h.Set("Retry-After", retryAfterValue(min(wait, maxRetryAfter)))
		s.writeError(w, l, http.StatusServiceUnavailable, "ServiceBusy", "The identity service is busy; retry after the time in the Retry-After header.")
	case re.StatusCode >= 500 && waitGiven && wait > 0:
		l.level, l.reason = slog.LevelWarn, "ACS is unavailable and said when to retry: "+wait.String()
		h.Set("Retry-After", retryAfterValue(min(wait, maxRetryAfter)))
		s.writeError(w, l, http.StatusServiceUnavailable, "UpstreamUnavailable", "The identity service is unavailable; retry after the time in the Retry-After header.")
	case op == "GetTokenForTeamsUser" && (re.StatusCode == http.StatusBadRequest || re.StatusCode == http.StatusUnauthorized || re.StatusCode == http.StatusForbidden):
		l.reason = "ACS refused the Teams token"
		s.writeError(w, l, http.StatusBadRequest, "InvalidTeamsToken", "The Teams user's token was not accepted: it must be an Entra ID token for Teams.ManageCalls and Teams.ManageChats, issued to appId for userId.")
	case re.StatusCode == http.StatusBadRequest:
		l.level, l.reason = slog.LevelWarn, "ACS rejected the request as invalid"
		s.writeError(w, l, http.StatusBadRequest, "InvalidRequest", "The identity service rejected the request's parameters.")
	case re.StatusCode == http.StatusUnauthorized && re.ErrorCode == "IdentityNotOwned":
		l.level, l.reason = slog.LevelError, "ACS says the identity belongs to another resource: check that the client is for the resource that made it"
		s.writeError(w, l, http.StatusBadGateway, "UpstreamError", "The identity service could not complete the request.")
	case re.StatusCode == http.StatusUnauthorized || re.StatusCode == http.StatusForbidden:
		l.level, l.reason = slog.LevelError, "ACS rejected this service's credentials: check the connection string, or the managed identity's role on the resource"
		s.writeError(w, l, http.StatusBadGateway, "UpstreamError", "The identity service could not complete the request.")
	default:
		l.level, l.reason = slog.LevelError, "the ACS call failed"
		s.writeError(w, l, http.StatusBadGateway, "UpstreamError", "The identity service could not complete the request.")
	}
}
