package tokenservice

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/acsgo/acsidentity"
)

// endpoints are the Service's endpoints. Each returns its answer or an
// error (an *Error); ServeHTTP writes either, and the log line.
type endpoints struct {
	acs        *acsidentity.Client
	identities *identities
	rules      *tokenRules
	acsTimeout time.Duration
}

// token is GET|POST {mount}/token: a fresh token for the caller's identity
// (a new identity for an anonymous caller).
func (e *endpoints) token(r *http.Request, c caller) (answer, error) {
	scopes, lifetime, err := e.rules.tokenParams(r)
	if err != nil {
		return answer{}, err
	}
	ctx, cancel := context.WithTimeout(r.Context(), e.acsTimeout)
	defer cancel()
	resp, err := e.identities.issue(ctx, c, tokenWant{scopes: scopes, lifetime: lifetime})
	if err != nil {
		return answer{}, err
	}
	a := tokenAnswer(resp.user, resp.Token, resp.ExpiresOn)
	a.scopes = scopes
	return a, nil
}

// teamsRequest is the body of POST {mount}/token/teams.
type teamsRequest struct {
	// Token is the Teams user's Entra ID access token for ACS (scopes
	// Teams.ManageCalls and Teams.ManageChats).
	Token string `json:"token"`
	// AppID is the Entra application (client) ID the token was issued to.
	AppID string `json:"appId"`
	// UserID is the Teams user's Entra object ID. It may be left out when
	// the caller's Caller.EntraObjectID is known.
	UserID string `json:"userId"`
}

// teamsToken is POST {mount}/token/teams: it exchanges a Teams user's
// Entra ID token for an ACS token. ACS returns no user ID for this
// exchange, so neither does the service. A signed-in Entra ID caller may
// only exchange their own token.
func (e *endpoints) teamsToken(r *http.Request, c caller) (answer, error) {
	var req teamsRequest
	if _, err := e.rules.readJSON(r, &req, true); err != nil {
		return answer{}, err
	}
	switch oid := c.entraObjectID; {
	case oid == "":
	case req.UserID == "":
		req.UserID = oid
	case req.UserID != oid:
		return answer{}, fail(http.StatusForbidden, CodeForbidden, "userId must be the signed-in caller's object ID.").
			because("userId is not the caller's object ID")
	}
	if strings.TrimSpace(req.Token) == "" || strings.TrimSpace(req.AppID) == "" || strings.TrimSpace(req.UserID) == "" {
		return answer{}, fail(http.StatusBadRequest, CodeInvalidRequest, `The body must be {"token":"...","appId":"...","userId":"..."}.`)
	}
	ctx, cancel := context.WithTimeout(r.Context(), e.acsTimeout)
	defer cancel()
	resp, err := e.acs.GetTokenForTeamsUser(ctx, req.Token, req.AppID, req.UserID, nil)
	if err != nil {
		return answer{}, acsError(ctx, opGetTokenForTeamsUser, err)
	}
	return tokenAnswer("", resp.Token, resp.ExpiresOn), nil
}

// user is GET {mount}/user: the caller's ACS identity, without a token,
// so that an app can name its users to each other (chat membership). An
// anonymous caller has none: 404.
func (e *endpoints) user(r *http.Request, c caller) (answer, error) {
	if c.customID == "" {
		return answer{}, fail(http.StatusNotFound, CodeIdentityNotFound, "Anonymous callers have no lasting identity: each token is for a new one. Sign in to keep one.")
	}
	ctx, cancel := context.WithTimeout(r.Context(), e.acsTimeout)
	defer cancel()
	id, err := e.identities.find(ctx, c)
	if err != nil {
		return answer{}, err
	}
	return userAnswer(id), nil
}

// deleteUser is DELETE {mount}/user: it revokes the caller's tokens and
// deletes the caller's identity, then forgets it (the cache, and the
// identity store's record). The identity is found the way it was made
// (identities.find), so the call is idempotent: with a store, a caller
// with no record gets 204 at once.
//
// It answers 204 only once the identity is deleted; any step that fails
// is an error, and the caller's retry starts again from the lookup.
func (e *endpoints) deleteUser(r *http.Request, c caller) (answer, error) {
	if c.customID == "" {
		return answer{}, fail(http.StatusForbidden, CodeNoLastingIdentity, "Anonymous callers get a new identity on every call; there is no identity to delete. Sign in to keep (and delete) one.")
	}
	ctx, cancel := context.WithTimeout(r.Context(), e.acsTimeout)
	defer cancel()
	id, err := e.identities.find(ctx, c)
	if ae, ok := errors.AsType[*Error](err); ok && ae.Code == CodeIdentityNotFound {
		return answer{status: http.StatusNoContent, note: "the caller has no recorded identity"}, nil
	}
	if err != nil {
		return answer{}, err
	}
	note, err := e.identities.remove(ctx, c.customID, id)
	if err != nil {
		if ae, ok := errors.AsType[*Error](err); ok {
			ae.Reason = "identity " + id + ": " + ae.Reason
		}
		return answer{}, err
	}
	return answer{status: http.StatusNoContent, user: id, note: note}, nil
}
