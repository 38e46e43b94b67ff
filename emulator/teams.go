package emulator

import (
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/acsgo/acsidentity/internal/wire"
)

// invalidTeamsToken answers the Teams user exchange's 401, with the
// service's message and no target (recorded for an empty, a malformed and
// an expired token).
func (c *call) invalidTeamsToken() {
	c.fail(http.StatusUnauthorized, "InvalidAccessToken", "Provided access token is not valid.", "")
}

// teamsUserExchange is POST /teamsUser/:exchangeAccessToken. The Entra ID
// token in the body is decoded, not signature-checked. The checks run in the
// order the service's recorded answers show: the token first (401, even
// when userId is empty too), then the required fields (targets AppId,
// UserId), their GUID form (targets appId, userId), and last whether they
// match the token's appid and oid claims.
func (c *call) teamsUserExchange() {
	var req wire.TeamsUserExchangeRequest
	if !c.decode(&req) {
		return
	}
	cl, err := decodeJWT(req.Token)
	now := c.e.now()
	if err != nil || !cl.Aud.has(TeamsUserAudience) || cl.Exp == nil || !now.Before(cl.expiry()) || cl.OID == "" || cl.TID == "" {
		c.invalidTeamsToken()
		return
	}
	for _, f := range [...]struct{ name, v string }{{"AppId", req.AppID}, {"UserId", req.UserID}} {
		if strings.TrimSpace(f.v) == "" {
			c.validation(f.name, fmt.Sprintf("%s: The %s field is required.", f.name, f.name))
			return
		}
	}
	if !isGUID(req.AppID) {
		c.validation("appId", "Provided AppId has invalid format.")
		return
	}
	if !isGUID(req.UserID) {
		c.validation("userId", "Provided UserId has invalid format.")
		return
	}
	if !strings.EqualFold(cl.clientID(), req.AppID) {
		c.validation("appId", "AAD application is not the expected one.")
		return
	}
	if !strings.EqualFold(cl.OID, req.UserID) {
		c.validation("userId", "Provided AAD token issued for unexpected user.")
		return
	}
	e := c.e
	exp := cl.expiry()
	t := e.token("8:orgid:"+strings.ToLower(cl.OID), []string{"chat", "voip"}, issued{seq: e.tokenSeq.Add(1), iat: now, expires: exp})
	c.writeToken(t)
}

func (c *call) forbidden(message string) {
	c.fail(http.StatusForbidden, "Forbidden", message, "")
}

// bearerUser returns the caller's tenant and object IDs, answering 403 if
// the caller did not use an Entra ID token that has them.
func (c *call) bearerUser() (tid, oid string, ok bool) {
	if c.bearer == nil {
		c.forbidden("This operation requires the caller to authenticate with a Microsoft Entra ID token (Authorization: Bearer), not the access key.")
		return "", "", false
	}
	if c.bearer.TID == "" || c.bearer.OID == "" {
		c.forbidden("The caller's Microsoft Entra ID token has no tid or oid claim.")
		return "", "", false
	}
	return strings.ToLower(c.bearer.TID), strings.ToLower(c.bearer.OID), true
}

// clientAllowed applies an assignment's clientIds list (empty = any client).
func clientAllowed(ids []string, client string) bool {
	if len(ids) == 0 {
		return true
	}
	return slices.ContainsFunc(ids, func(s string) bool { return strings.EqualFold(s, client) })
}

// exchangeFor issues the token of a Teams extension or Entra user and
// answers with a CommunicationIdentityAccessTokenResult.
func (c *call) exchangeFor(tid, oid string, scopes []string) {
	e := c.e
	id := e.idPrefix + tid + "_" + oid
	now := e.now()
	exp := c.bearer.expiry()
	if max := now.Add(defaultLifetime); exp.After(max) {
		exp = max
	}
	var tok issued
	e.store.getOrCreate(id, now, e.tokenSeq.Load, func(p *identity) {
		tok = e.stamp(p, now, exp.Sub(now))
	})
	res := wire.AccessTokenResult{Identity: wire.Identity{ID: id}, AccessToken: e.token(id, scopes, tok)}
	if c.commit() {
		c.writeJSON(http.StatusOK, res)
	}
}

// anyObject checks that the body, if any, is a JSON object.
func (c *call) anyObject() bool {
	var m map[string]any
	return c.decode(&m)
}

// teamsExtensionExchange is POST /access/teamsExtension/:exchangeAccessToken.
func (c *call) teamsExtensionExchange() {
	if !c.anyObject() {
		return
	}
	tid, oid, ok := c.bearerUser()
	if !ok {
		return
	}
	a, found := c.e.store.teamsAssignment(tid, oid)
	if !found {
		c.forbidden(fmt.Sprintf("No Teams Phone extension assignment exists for object '%s' in tenant '%s'.", oid, tid))
		return
	}
	if !clientAllowed(a.ClientIDs, c.bearer.clientID()) {
		c.forbidden("The calling application is not in the assignment's clientIds.")
		return
	}
	c.exchangeFor(tid, oid, []string{"voip"})
}

// guidParams validates path parameters that must be GUIDs.
func (c *call) guidParams(names ...string) ([]string, bool) {
	out := make([]string, len(names))
	for i, n := range names {
		if !isGUID(c.params[i]) {
			c.validation(n, fmt.Sprintf("%s '%s' is not a valid GUID.", n, c.params[i]))
			return nil, false
		}
		out[i] = strings.ToLower(c.params[i])
	}
	return out, true
}

// validClientIDs checks that every client ID is a GUID.
func (c *call) validClientIDs(ids []string) bool {
	for _, id := range ids {
		if !isGUID(id) {
			c.validation("ClientIds", fmt.Sprintf("ClientIds value '%s' is not a valid GUID.", id))
			return false
		}
	}
	return true
}

func (c *call) assignmentNotFound() {
	c.fail(http.StatusNotFound, "AssignmentNotFound", "The assignment was not found.", "")
}

// teamsAssignmentGet is GET /access/teamsExtension/tenants/{t}/assignments/{o}.
func (c *call) teamsAssignmentGet() {
	p, ok := c.guidParams("TenantId", "ObjectId")
	if !ok || !c.commit() {
		return
	}
	a, found := c.e.store.teamsAssignment(p[0], p[1])
	if !found {
		c.assignmentNotFound()
		return
	}
	c.writeJSON(http.StatusOK, a)
}

// teamsAssignmentPut is PUT /access/teamsExtension/tenants/{t}/assignments/{o}.
func (c *call) teamsAssignmentPut() {
	p, ok := c.guidParams("TenantId", "ObjectId")
	if !ok {
		return
	}
	var req wire.TeamsExtensionAssignmentRequest
	if !c.decode(&req) {
		return
	}
	switch req.PrincipalType {
	case "user", "resourceAccount":
	case "":
		c.validation("PrincipalType", "The PrincipalType field is required.")
		return
	default:
		c.validation("PrincipalType", fmt.Sprintf("PrincipalType '%s' is invalid. Valid values are: user, resourceAccount.", req.PrincipalType))
		return
	}
	if !c.validClientIDs(req.ClientIDs) {
		return
	}
	a := wire.TeamsExtensionAssignment{ObjectID: p[1], TenantID: p[0], PrincipalType: req.PrincipalType, ClientIDs: req.ClientIDs}
	existed := c.e.store.putTeams(a)
	if !c.commit() {
		return
	}
	status := http.StatusCreated
	if existed {
		status = http.StatusOK
	}
	c.writeJSON(status, a)
}

// teamsAssignmentDelete is DELETE /access/teamsExtension/tenants/{t}/assignments/{o}.
// Deleting an assignment that does not exist also answers 204.
func (c *call) teamsAssignmentDelete() {
	p, ok := c.guidParams("TenantId", "ObjectId")
	if !ok {
		return
	}
	c.e.store.deleteTeams(p[0], p[1])
	if c.commit() {
		c.noContent()
	}
}
