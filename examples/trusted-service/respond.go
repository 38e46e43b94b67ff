package main

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"

	"github.com/acsgo/acsidentity"
)

// errorBody is the JSON of every error response: {"error":{"code","message"}}.
// Messages are fixed texts: never a library error, an ACS message, the
// connection string or a token.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":{"code":"InternalError","message":"The response could not be encoded."}}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

func writeError(w http.ResponseWriter, status int, code, message string) {
	writeJSON(w, status, errorBody{Error: errorDetail{Code: code, Message: message}})
}

// defaultRetryAfter is the Retry-After we send when ACS throttled us and
// did not say for how long.
const defaultRetryAfter = 10

// acsFailed answers a failed ACS call and logs what went wrong, without
// secrets: the status, ACS error code and correlation IDs, never the body
// of the request or the token.
//
//   - ACS 429: 503 with Retry-After. The resource's shared quota is spent;
//     it is not this caller's fault.
//   - ACS 5xx that said when to retry (Retry-After; the client's retries
//     wait out at most 4 s of it): 503 with that Retry-After.
//   - ACS 400 (ValidationError): 400 with a fixed message.
//   - ACS 400/401/403 on the Teams exchange: 400, the Teams token was not
//     accepted (ACS answers 401 InvalidAccessToken to a bad token).
//   - ACS 401 IdentityNotOwned: 502. The identity belongs to another ACS
//     resource than the one configured here: our misconfiguration.
//   - Anything else, including ACS rejecting our own credentials: 502.
func (s *service) acsFailed(w http.ResponseWriter, r *http.Request, op string, err error) {
	log := logger(r.Context()).With("operation", op)
	if r.Context().Err() != nil {
		log.Info("the caller went away during the ACS call")
		writeError(w, http.StatusServiceUnavailable, "Canceled", "The request was canceled.")
		return
	}
	var re *azcore.ResponseError
	if !errors.As(err, &re) {
		log.Error("the ACS call failed", "error", err.Error())
		writeError(w, http.StatusBadGateway, "UpstreamError", "The identity service could not complete the request.")
		return
	}
	attrs := []any{"acs_status", re.StatusCode, "acs_error_code", re.ErrorCode}
	if re.RawResponse != nil {
		attrs = append(attrs, "ms_cv", re.RawResponse.Header.Get("MS-CV"))
		if req := re.RawResponse.Request; req != nil {
			attrs = append(attrs, "client_request_id", req.Header.Get("x-ms-client-request-id"))
		}
	}
	wait, waitGiven := acsidentity.RetryAfter(err)
	switch {
	case re.StatusCode == http.StatusTooManyRequests:
		secs := defaultRetryAfter
		if waitGiven && wait > 0 {
			secs = retryAfterHeader(wait)
		}
		log.Warn("ACS throttled the request", attrs...)
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		writeError(w, http.StatusServiceUnavailable, "ServiceBusy", "The identity service is busy; retry after the time in the Retry-After header.")
	case re.StatusCode >= 500 && waitGiven && wait > 0:
		log.Warn("ACS is unavailable and said when to retry", append(attrs, "retry_after", wait.String())...)
		w.Header().Set("Retry-After", strconv.Itoa(retryAfterHeader(wait)))
		writeError(w, http.StatusServiceUnavailable, "UpstreamUnavailable", "The identity service is unavailable; retry after the time in the Retry-After header.")
	case op == "GetTokenForTeamsUser" && (re.StatusCode == http.StatusBadRequest || re.StatusCode == http.StatusUnauthorized || re.StatusCode == http.StatusForbidden):
		log.Info("ACS refused the Teams token", attrs...)
		writeError(w, http.StatusBadRequest, "InvalidTeamsToken", "The Teams user's token was not accepted: it must be an Entra ID token for Teams.ManageCalls and Teams.ManageChats, issued to appId for userId.")
	case re.StatusCode == http.StatusBadRequest:
		log.Warn("ACS rejected the request as invalid", attrs...)
		writeError(w, http.StatusBadRequest, "InvalidRequest", "The identity service rejected the request's parameters.")
	case re.StatusCode == http.StatusUnauthorized && re.ErrorCode == "IdentityNotOwned":
		log.Error("ACS says the identity belongs to another resource: check that the connection string names the resource that made it", attrs...)
		writeError(w, http.StatusBadGateway, "UpstreamError", "The identity service could not complete the request.")
	case re.StatusCode == http.StatusUnauthorized || re.StatusCode == http.StatusForbidden:
		log.Error("ACS rejected this service's credentials: check the connection string, or the managed identity's role on the resource", attrs...)
		writeError(w, http.StatusBadGateway, "UpstreamError", "The identity service could not complete the request.")
	default:
		log.Error("the ACS call failed", attrs...)
		writeError(w, http.StatusBadGateway, "UpstreamError", "The identity service could not complete the request.")
	}
}

// maxRetryAfter caps the Retry-After we pass on, in seconds.
const maxRetryAfter = 300

// retryAfterHeader is an ACS wait in whole seconds (rounded up) for our
// Retry-After, from 1 to maxRetryAfter.
func retryAfterHeader(d time.Duration) int {
	return min(retryAfterSeconds(d), maxRetryAfter)
}

type ctxKey int

const loggerKey ctxKey = 0

// requestState is what the middleware learns about a request as it goes.
type requestState struct {
	logger *slog.Logger
	caller *caller
}

// logger returns the request's logger, which carries its invocation ID.
func logger(ctx context.Context) *slog.Logger {
	if st, ok := ctx.Value(loggerKey).(*requestState); ok {
		if st.caller != nil {
			return st.logger.With("caller", st.caller.logID, "caller_kind", st.caller.kind)
		}
		return st.logger
	}
	return slog.Default()
}

// setCaller records the authenticated caller for the request's log lines.
func setCaller(ctx context.Context, c *caller) {
	if st, ok := ctx.Value(loggerKey).(*requestState); ok {
		st.caller = c
	}
}
