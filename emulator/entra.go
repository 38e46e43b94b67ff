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
	st := c.e.store
	var found *wire.EntraAssignment
	st.assignMu.RLock()
	if a, ok := st.entra[oid]; ok && a.PrincipalType == "user" && a.TenantID == tid {
		found = &a
	} else if a, ok := st.entra[tid]; ok && a.PrincipalType == "tenant" {
		found = &a
	} else {
		for _, g := range c.bearer.Groups {
			if a, ok := st.entra[strings.ToLower(g)]; ok && a.PrincipalType == "group" && a.TenantID == tid {
				found = &a
				break
			}
		}
	}
	st.assignMu.RUnlock()
	if found == nil {
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
	st := c.e.store
	st.assignMu.RLock()
	a, found := st.entra[p[0]]
	st.assignMu.RUnlock()
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
	st := c.e.store
	st.assignMu.Lock()
	_, existed := st.entra[p[0]]
	st.entra[p[0]] = a
	st.changed(change{Entra: []wire.EntraAssignment{a}})
	st.assignMu.Unlock()
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
	st := c.e.store
	st.assignMu.Lock()
	delete(st.entra, p[0])
	st.changed(change{EntraDeleted: []string{p[0]}})
	st.assignMu.Unlock()
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
	type edit struct {
		key string
		a   *wire.EntraAssignment // nil: remove
	}
	keys := make([]string, 0, len(req))
	for k := range req {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	st := c.e.store
	st.assignMu.Lock()
	edits := make([]edit, 0, len(keys))
	for _, k := range keys {
		if !isGUID(k) {
			st.assignMu.Unlock()
			c.validation("ObjectId", fmt.Sprintf("ObjectId '%s' is not a valid GUID.", k))
			return
		}
		key := strings.ToLower(k)
		raw := bytes.TrimSpace(req[k])
		if bytes.Equal(raw, []byte("null")) {
			edits = append(edits, edit{key: key})
			continue
		}
		a, existed := st.entra[key]
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
			st.assignMu.Unlock()
			c.validation(k, fmt.Sprintf("The value for '%s' must be an assignment object or null.", k))
			return
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
				st.assignMu.Unlock()
				c.validation("ClientIds", "ClientIds must be an array of GUID strings.")
				return
			}
			if ids == nil {
				ids = []string{}
			}
			a.ClientIDs = ids
		}
		if !c.validEntra(&a) {
			st.assignMu.Unlock()
			return
		}
		edits = append(edits, edit{key: key, a: &a})
	}
	var saved change // one line, so that the patch is saved whole or not at all
	for _, ed := range edits {
		if ed.a == nil {
			delete(st.entra, ed.key)
			saved.EntraDeleted = append(saved.EntraDeleted, ed.key)
		} else {
			st.entra[ed.key] = *ed.a
			saved.Entra = append(saved.Entra, *ed.a)
		}
	}
	if len(edits) > 0 {
		st.changed(saved)
	}
	st.assignMu.Unlock()
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
	st := c.e.store
	st.assignMu.RLock()
	keys := make([]string, 0, len(st.entra))
	for k := range st.entra {
		if k > after {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	more := len(keys) > size
	if more {
		keys = keys[:size]
	}
	page := wire.EntraAssignmentList{Value: make([]wire.EntraAssignment, 0, len(keys))}
	for _, k := range keys {
		page.Value = append(page.Value, st.entra[k])
	}
	st.assignMu.RUnlock()
	if more {
		scheme := "http"
		if c.r.TLS != nil {
			scheme = "https"
		}
		q := url.Values{}
		q.Set("api-version", c.version)
		q.Set("skipToken", base64.RawURLEncoding.EncodeToString([]byte(keys[len(keys)-1])))
		if size != c.e.pageSize {
			q.Set("maxpagesize", strconv.Itoa(size))
		}
		page.NextLink = scheme + "://" + c.r.Host + "/access/entra/assignments?" + q.Encode()
	}
	c.writeJSON(http.StatusOK, page)
}
