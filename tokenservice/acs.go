package tokenservice

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"

	"github.com/acsgo/acsidentity"
)

// defaultRetryAfter is the Retry-After sent when ACS throttled and did not
// say for how long; maxRetryAfter caps the one passed on.
const (
	defaultRetryAfter = 10 * time.Second
	maxRetryAfter     = 300 * time.Second
)

// ACS calls, for the log and acsError.
const (
	opCreateUser           = "CreateUser"
	opCreateUserAndToken   = "CreateUserAndToken"
	opGetToken             = "GetToken"
	opRevokeTokens         = "RevokeTokens"
	opDeleteUser           = "DeleteUser"
	opGetTokenForTeamsUser = "GetTokenForTeamsUser"
)

// acsError is the answer to a failed ACS call, with what went wrong for
// the log, without secrets: the status, ACS error code and correlation IDs
// (from the wrapped *azcore.ResponseError), never the body of the request
// or the token. ctx is the request's.
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
func acsError(ctx context.Context, op string, err error) *Error {
	e := acsAnswer(ctx, op, err)
	e.op, e.Err = op, err
	return e
}

func acsAnswer(ctx context.Context, op string, err error) *Error {
	upstream := func() *Error {
		return fail(http.StatusBadGateway, CodeUpstreamError, "The identity service could not complete the request.").at(slog.LevelError)
	}
	if ctx.Err() != nil {
		return fail(http.StatusServiceUnavailable, CodeCanceled, "The request was canceled.").
			because("the caller went away during the ACS call").at(slog.LevelInfo)
	}
	re, ok := errors.AsType[*azcore.ResponseError](err)
	if !ok {
		return upstream().because(err.Error())
	}
	wait, waitGiven := acsidentity.RetryAfter(err)
	switch {
	case re.StatusCode == http.StatusTooManyRequests:
		if !waitGiven || wait <= 0 {
			wait = defaultRetryAfter
		}
		e := fail(http.StatusServiceUnavailable, CodeServiceBusy, "The identity service is busy; retry after the time in the Retry-After header.").
			because("ACS throttled the request").at(slog.LevelWarn)
		e.RetryAfter = min(wait, maxRetryAfter)
		return e
	case re.StatusCode >= 500 && waitGiven && wait > 0:
		e := fail(http.StatusServiceUnavailable, CodeUpstreamUnavailable, "The identity service is unavailable; retry after the time in the Retry-After header.").
			because("ACS is unavailable and said when to retry: " + wait.String()).at(slog.LevelWarn)
		e.RetryAfter = min(wait, maxRetryAfter)
		return e
	case op == opGetTokenForTeamsUser && (re.StatusCode == http.StatusBadRequest || re.StatusCode == http.StatusUnauthorized || re.StatusCode == http.StatusForbidden):
		return fail(http.StatusBadRequest, CodeInvalidTeamsToken, "The Teams user's token was not accepted: it must be an Entra ID token for Teams.ManageCalls and Teams.ManageChats, issued to appId for userId.").
			because("ACS refused the Teams token")
	case re.StatusCode == http.StatusBadRequest:
		return fail(http.StatusBadRequest, CodeInvalidRequest, "The identity service rejected the request's parameters.").
			because("ACS rejected the request as invalid").at(slog.LevelWarn)
	case re.StatusCode == http.StatusUnauthorized && re.ErrorCode == "IdentityNotOwned":
		return upstream().because("ACS says the identity belongs to another resource: check that the client is for the resource that made it")
	case re.StatusCode == http.StatusUnauthorized || re.StatusCode == http.StatusForbidden:
		return upstream().because("ACS rejected this service's credentials: check the connection string, or the managed identity's role on the resource")
	}
	return upstream().because("the ACS call failed")
}

// isNotFound reports whether ACS answered 404.
func isNotFound(err error) bool {
	re, ok := errors.AsType[*azcore.ResponseError](err)
	return ok && re.StatusCode == http.StatusNotFound
}

// tokenWant is what a token request asks of ACS.
type tokenWant struct {
	scopes   []acsidentity.TokenScope
	lifetime time.Duration
}

// issued is a token ACS issued and the identity it is for.
type issued struct {
	user string
	acsidentity.AccessToken
}
