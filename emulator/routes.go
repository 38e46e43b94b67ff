package emulator

import (
	"net/http"
	"net/url"
	"sort"
	"strings"

	"github.com/acsgo/acsidentity/internal/wire"
)

// Operation names, as used by Fault.Operation and the -fault flag.
const (
	OpCreate                         = "create"
	OpGet                            = "get"
	OpDelete                         = "delete"
	OpIssueToken                     = "issueToken"
	OpRevoke                         = "revoke"
	OpTeamsUserExchange              = "teamsUserExchange"
	OpTeamsExtensionExchange         = "teamsExtensionExchange"
	OpTeamsExtensionAssignmentGet    = "teamsExtensionAssignmentGet"
	OpTeamsExtensionAssignmentPut    = "teamsExtensionAssignmentPut"
	OpTeamsExtensionAssignmentDelete = "teamsExtensionAssignmentDelete"
	OpEntraExchange                  = "entraExchange"
	OpEntraAssignmentList            = "entraAssignmentList"
	OpEntraAssignmentPatch           = "entraAssignmentPatch"
	OpEntraAssignmentGet             = "entraAssignmentGet"
	OpEntraAssignmentPut             = "entraAssignmentPut"
	OpEntraAssignmentDelete          = "entraAssignmentDelete"
)

// Operations returns every operation name Fault.Operation accepts.
func Operations() []string {
	out := make([]string, 0, 16)
	for _, rt := range routes {
		for _, op := range rt.methods {
			out = append(out, op.name)
		}
	}
	sort.Strings(out)
	return out
}

// operation is one ACS operation: a method on a route.
type operation struct {
	name    string
	feature wire.Feature
	// body is "" (no body expected), "json" or "merge-patch".
	body     string
	required bool // the body is required
	bearer   bool // the caller must authenticate with an Entra ID token
	handle   func(*call)
}

// throttleClass names the service-limit bucket the call counts against
// ("" = not throttled).
func (op *operation) throttleClass(c *call) string {
	switch op.name {
	case OpCreate:
		if c.createWithToken() {
			return "createUserAndToken"
		}
		return OpCreate
	case OpDelete, OpIssueToken, OpRevoke:
		return op.name
	case OpTeamsUserExchange, OpTeamsExtensionExchange, OpEntraExchange:
		return "exchangeTokens"
	}
	return ""
}

type route struct {
	segs    []string // literal segments; "" is a parameter
	methods map[string]*operation
	allow   string
}

var routes []*route

func init() {
	add := func(pattern string, ops map[string]*operation) {
		segs := strings.Split(strings.TrimPrefix(pattern, "/"), "/")
		for i, s := range segs {
			if strings.HasPrefix(s, "{") {
				segs[i] = ""
			}
		}
		var allow []string
		for m := range ops {
			allow = append(allow, m)
		}
		sort.Strings(allow)
		routes = append(routes, &route{segs: segs, methods: ops, allow: strings.Join(allow, ", ")})
	}
	add("/identities", map[string]*operation{
		http.MethodPost: {name: OpCreate, feature: wire.FeatureCreate, body: "json", handle: (*call).create},
	})
	add("/identities/{id}", map[string]*operation{
		http.MethodGet:    {name: OpGet, feature: wire.FeatureGetIdentity, handle: (*call).get},
		http.MethodDelete: {name: OpDelete, feature: wire.FeatureDelete, handle: (*call).delete},
	})
	add("/identities/{id}/:issueAccessToken", map[string]*operation{
		http.MethodPost: {name: OpIssueToken, feature: wire.FeatureIssueToken, body: "json", required: true, handle: (*call).issueToken},
	})
	add("/identities/{id}/:revokeAccessTokens", map[string]*operation{
		http.MethodPost: {name: OpRevoke, feature: wire.FeatureRevoke, body: "json", handle: (*call).revoke},
	})
	add("/teamsUser/:exchangeAccessToken", map[string]*operation{
		http.MethodPost: {name: OpTeamsUserExchange, feature: wire.FeatureTeamsUserExchange, body: "json", required: true, handle: (*call).teamsUserExchange},
	})
	add("/access/teamsExtension/:exchangeAccessToken", map[string]*operation{
		http.MethodPost: {name: OpTeamsExtensionExchange, feature: wire.FeatureTeamsExtension, body: "json", bearer: true, handle: (*call).teamsExtensionExchange},
	})
	add("/access/teamsExtension/tenants/{tenantId}/assignments/{objectId}", map[string]*operation{
		http.MethodGet:    {name: OpTeamsExtensionAssignmentGet, feature: wire.FeatureTeamsExtension, handle: (*call).teamsAssignmentGet},
		http.MethodPut:    {name: OpTeamsExtensionAssignmentPut, feature: wire.FeatureTeamsExtension, body: "json", required: true, handle: (*call).teamsAssignmentPut},
		http.MethodDelete: {name: OpTeamsExtensionAssignmentDelete, feature: wire.FeatureTeamsExtension, handle: (*call).teamsAssignmentDelete},
	})
	add("/access/entra/:exchangeAccessToken", map[string]*operation{
		http.MethodPost: {name: OpEntraExchange, feature: wire.FeatureEntra, body: "json", bearer: true, handle: (*call).entraExchange},
	})
	add("/access/entra/assignments", map[string]*operation{
		http.MethodGet:   {name: OpEntraAssignmentList, feature: wire.FeatureEntra, handle: (*call).entraList},
		http.MethodPatch: {name: OpEntraAssignmentPatch, feature: wire.FeatureEntra, body: "merge-patch", required: true, handle: (*call).entraPatch},
	})
	add("/access/entra/assignments/{objectId}", map[string]*operation{
		http.MethodGet:    {name: OpEntraAssignmentGet, feature: wire.FeatureEntra, handle: (*call).entraGet},
		http.MethodPut:    {name: OpEntraAssignmentPut, feature: wire.FeatureEntra, body: "json", required: true, handle: (*call).entraPut},
		http.MethodDelete: {name: OpEntraAssignmentDelete, feature: wire.FeatureEntra, handle: (*call).entraDelete},
	})
}

// match finds the route for an escaped path. It returns the route, the
// unescaped path parameters, and 0, 404 or 405.
func (e *Emulator) match(method, escapedPath string) (*route, []string, int) {
	if !strings.HasPrefix(escapedPath, "/") {
		return nil, nil, http.StatusNotFound
	}
	p := escapedPath[1:]
	n := strings.Count(p, "/") + 1
	var segBuf [8]string
	if n > len(segBuf) {
		return nil, nil, http.StatusNotFound
	}
	segs := segBuf[:0]
	for s := range strings.SplitSeq(p, "/") {
		if strings.IndexByte(s, '%') >= 0 {
			u, err := url.PathUnescape(s)
			if err != nil {
				return nil, nil, http.StatusNotFound
			}
			s = u
		}
		segs = append(segs, s)
	}
	for _, rt := range routes {
		if len(rt.segs) != len(segs) {
			continue
		}
		ok := true
		var params []string
		for i, lit := range rt.segs {
			if lit == "" {
				if segs[i] == "" {
					ok = false
					break
				}
				params = append(params, segs[i])
				continue
			}
			if !strings.EqualFold(lit, segs[i]) {
				ok = false
				break
			}
		}
		if !ok {
			continue
		}
		if _, ok := rt.methods[method]; !ok {
			return rt, nil, http.StatusMethodNotAllowed
		}
		return rt, params, 0
	}
	return nil, nil, http.StatusNotFound
}
