package emulator

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/acsgo/acsidentity/internal/wire"
)

// entraExchange is POST /access/entra/:exchangeAccessToken. The caller
// needs an assignment for its object ID (principalType user), for its
// tenant (tenant) or for a group in its token's groups claim (group).
func (c *call) entraExchange() {
	if !c.anyObject() {
		return
	}
	tid, oid, ok := c.bearerUser()
	if !ok {
		return
	}
	found, ok := c.e.store.entraCovering(tid, oid, c.bearer.Groups)
	if !ok {
		c.forbidden(fmt.Sprintf("No Entra ID assignment covers object '%s' in tenant '%s'.", oid, tid))
		return
	}
	if !clientAllowed(found.ClientIDs, c.bearer.clientID()) {
		c.forbidden("The calling application is not in the assignment's clientIds.")
		return
	}
	c.exchangeFor(tid, oid, []string{"chat", "voip"})
}

// validEntra validates an Entra assignment's fields.
func (c *call) validEntra(a *wire.EntraAssignment) bool {
	if !isGUID(a.TenantID) {
		if a.TenantID == "" {
			c.validation("TenantId", "The TenantId field is required.")
		} else {
			c.validation("TenantId", fmt.Sprintf("TenantId '%s' is not a valid GUID.", a.TenantID))
		}
		return false
	}
	a.TenantID = strings.ToLower(a.TenantID)
	switch a.PrincipalType {
	case "user", "group", "tenant":
	case "":
		c.validation("PrincipalType", "The PrincipalType field is required.")
		return false
	default:
		c.validation("PrincipalType", fmt.Sprintf("PrincipalType '%s' is invalid. Valid values are: user, group, tenant.", a.PrincipalType))
		return false
	}
	if a.ClientIDs == nil {
		c.validation("ClientIds", "The ClientIds field is required.")
		return false
	}
	return c.validClientIDs(a.ClientIDs)
}

// entraGet is GET /access/entra/assignments/{objectId}.
func (c *call) entraGet() {
	p, ok := c.guidParams("ObjectId")
	if !ok || !c.commit() {
		return
	}
	a, found := c.e.store.entraAssignment(p[0])
	if !found {
		c.assignmentNotFound()
		return
	}
	c.writeJSON(http.StatusOK, a)
}

// entraPut is PUT /access/entra/assignments/{objectId}.
func (c *call) entraPut() {
	p, ok := c.guidParams("ObjectId")
	if !ok {
		return
	}
	var req wire.EntraAssignmentRequest
	if !c.decode(&req) {
		return
	}
	a := wire.EntraAssignment{ObjectID: p[0], TenantID: req.TenantID, PrincipalType: req.PrincipalType, ClientIDs: req.ClientIDs}
	if !c.validEntra(&a) {
		return
	}
	existed := c.e.store.putEntra(a)
	if !c.commit() {
		return
	}
	status := http.StatusCreated
	if existed {
		status = http.StatusOK
	}
	c.writeJSON(status, a)
}

// entraDelete is DELETE /access/entra/assignments/{objectId}. Deleting an
// assignment that does not exist also answers 204.
func (c *call) entraDelete() {
	p, ok := c.guidParams("ObjectId")
	if !ok {
		return
	}
	c.e.store.deleteEntra(p[0])
	if c.commit() {
		c.noContent()
	}
}

// entraPatch is PATCH /access/entra/assignments (JSON merge patch): a map
// from objectId to an assignment (merged into an existing one) or null
// (remove). It is applied all or nothing and answers with the list.
func (c *call) entraPatch() {
	var req map[string]json.RawMessage
	if !c.decode(&req) {
		return
	}
	if req == nil {
		c.validation("", "The request body must be a JSON object mapping object IDs to assignments or null.")
		return
	}
	keys := make([]string, 0, len(req))
	for k := range req {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	// The plan runs under the assignments' lock, so that the patch
	// merges into the assignments as they are when it is applied.
	plan := func(get func(string) (wire.EntraAssignment, bool)) ([]entraEdit, bool) {
		edits := make([]entraEdit, 0, len(keys))
		for _, k := range keys {
			if !isGUID(k) {
				c.validation("ObjectId", fmt.Sprintf("ObjectId '%s' is not a valid GUID.", k))
				return nil, false
			}
			key := strings.ToLower(k)
			raw := bytes.TrimSpace(req[k])
			if bytes.Equal(raw, []byte("null")) {
				edits = append(edits, entraEdit{key: key})
				continue
			}
			a, existed := get(key)
			a.ObjectID = key
			if existed {
				a.ClientIDs = slices.Clone(a.ClientIDs)
			} else {
				a.ClientIDs = []string{}
			}
			var patch struct {
				TenantID      *string          `json:"tenantId"`
				PrincipalType *string          `json:"principalType"`
				ClientIDs     *json.RawMessage `json:"clientIds"`
			}
			if err := json.Unmarshal(raw, &patch); err != nil {
				c.validation(k, fmt.Sprintf("The value for '%s' must be an assignment object or null.", k))
				return nil, false
			}
			if patch.TenantID != nil {
				a.TenantID = *patch.TenantID
			}
			if patch.PrincipalType != nil {
				a.PrincipalType = *patch.PrincipalType
			}
			if patch.ClientIDs != nil {
				var ids []string
				if err := json.Unmarshal(*patch.ClientIDs, &ids); err != nil {
					c.validation("ClientIds", "ClientIds must be an array of GUID strings.")
					return nil, false
				}
				if ids == nil {
					ids = []string{}
				}
				a.ClientIDs = ids
			}
			if !c.validEntra(&a) {
				return nil, false
			}
			edits = append(edits, entraEdit{key: key, a: &a})
		}
		return edits, true
	}
	if !c.e.store.patchEntra(plan) {
		return
	}
	if c.commit() {
		c.writePage("")
	}
}

// entraList is GET /access/entra/assignments, paged by PageSize (or a
// smaller maxpagesize query parameter) with an absolute nextLink.
func (c *call) entraList() {
	skip, _ := queryValue(c.r.URL.RawQuery, "skipToken")
	after := ""
	if skip != "" {
		b, err := base64.RawURLEncoding.DecodeString(skip)
		if err != nil {
			c.validation("skipToken", "The skipToken query parameter is not valid.")
			return
		}
		after = string(b)
	}
	if c.commit() {
		c.writePage(after)
	}
}

// writePage writes the page of Entra assignments whose object IDs sort after
// the given one.
func (c *call) writePage(after string) {
	size := c.e.pageSize
	if v, ok := queryValue(c.r.URL.RawQuery, "maxpagesize"); ok {
		if n, err := strconv.Atoi(v); err == nil && n > 0 && n < size {
			size = n
		}
	}
	value, more := c.e.store.entraPage(after, size)
	page := wire.EntraAssignmentList{Value: value}
	if more {
		scheme := "http"
		if c.r.TLS != nil {
			scheme = "https"
		}
		q := url.Values{}
		q.Set("api-version", c.version)
		q.Set("skipToken", base64.RawURLEncoding.EncodeToString([]byte(value[len(value)-1].ObjectID)))
		if size != c.e.pageSize {
			q.Set("maxpagesize", strconv.Itoa(size))
		}
		page.NextLink = scheme + "://" + c.r.Host + "/access/entra/assignments?" + q.Encode()
	}
	c.writeJSON(http.StatusOK, page)
}
