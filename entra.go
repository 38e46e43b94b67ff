package acsidentity

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"

	"github.com/acsgo/acsidentity/internal/wire"
)

// The Entra ID operations (api-version 2025-03-02-preview): an Entra user,
// group member or tenant member that an administrator assigned exchanges
// their Entra ID identity for an ACS token.

// EntraPrincipalType is the kind of principal an Entra assignment is for.
// The set is extensible.
type EntraPrincipalType string

const (
	// EntraPrincipalTypeUser is one Entra user.
	EntraPrincipalTypeUser EntraPrincipalType = "user"
	// EntraPrincipalTypeGroup is every member of an Entra group.
	EntraPrincipalTypeGroup EntraPrincipalType = "group"
	// EntraPrincipalTypeTenant is every user of an Entra tenant.
	EntraPrincipalTypeTenant EntraPrincipalType = "tenant"
)

// PossibleEntraPrincipalTypeValues returns the principal types the service documents.
func PossibleEntraPrincipalTypeValues() []EntraPrincipalType {
	return []EntraPrincipalType{EntraPrincipalTypeUser, EntraPrincipalTypeGroup, EntraPrincipalTypeTenant}
}

// EntraAssignment allows a principal to exchange its Entra ID identity for
// ACS tokens of the resource.
type EntraAssignment struct {
	// ObjectID is the principal's Entra object ID (for a tenant, the tenant ID).
	ObjectID string
	// TenantID is the principal's tenant.
	TenantID string
	// PrincipalType is the kind of principal.
	PrincipalType EntraPrincipalType
	// ClientIDs are the Entra application (client) IDs the principal may use.
	ClientIDs []string
}

// EntraAssignmentUpdate is the new state of one assignment, for
// Client.CreateOrReplaceEntraAssignment and Client.UpdateEntraAssignments.
// The principal's object ID is given beside it. The whole assignment is
// replaced: a field left empty is not kept from the old assignment.
type EntraAssignmentUpdate struct {
	// TenantID is the principal's Entra tenant ID. Required.
	TenantID string
	// PrincipalType is the kind of principal the object ID names. Required.
	PrincipalType EntraPrincipalType
	// ClientIDs are the Entra application (client) IDs the principal may
	// exchange tokens through; empty means any.
	ClientIDs []string
}

// ExchangeEntraTokenOptions contains the optional parameters of
// Client.ExchangeEntraToken. It has none yet.
type ExchangeEntraTokenOptions struct{}

// ExchangeEntraTokenResponse is the result of Client.ExchangeEntraToken.
type ExchangeEntraTokenResponse struct {
	// User is the ACS identity of the Entra principal.
	User CommunicationUserIdentifier
	AccessToken
}

// String shows the user and when the token expires, never the token.
func (r ExchangeEntraTokenResponse) String() string {
	return "{User:" + r.User.ID + " ExpiresOn:" + r.ExpiresOn.Format(time.RFC3339) + " Token:REDACTED}"
}

// GoString is String, for %#v.
func (r ExchangeEntraTokenResponse) GoString() string {
	return "acsidentity.ExchangeEntraTokenResponse" + r.String()
}

// ExchangeEntraToken exchanges the Entra ID identity the client
// authenticates with for an ACS access token. The client must be made with
// NewClient; a key client gets ErrEntraIDRequired. It needs api-version
// 2025-03-02-preview.
//
// If the operation fails it returns an *azcore.ResponseError.
func (c *Client) ExchangeEntraToken(ctx context.Context, options *ExchangeEntraTokenOptions) (resp ExchangeEntraTokenResponse, err error) {
	if err := c.require(wire.FeatureEntra); err != nil {
		return resp, err
	}
	if !c.entra {
		return resp, fmt.Errorf("acsidentity: %w", ErrEntraIDRequired)
	}
	ctx, endSpan := runtime.StartSpan(ctx, "Client.ExchangeEntraToken", c.internal.Tracer(), nil)
	defer func() { endSpan(err) }()
	resp.User, resp.AccessToken, err = c.exchange(ctx, "/access/entra/:exchangeAccessToken")
	return resp, err
}

// ListEntraAssignmentsOptions contains the optional parameters of
// Client.NewListEntraAssignmentsPager. It has none yet.
type ListEntraAssignmentsOptions struct{}

// ListEntraAssignmentsResponse is one page of Client.NewListEntraAssignmentsPager.
type ListEntraAssignmentsResponse struct {
	// Assignments are this page's assignments.
	Assignments []EntraAssignment
	// NextLink is the URL of the next page; empty on the last.
	NextLink string
}

// NewListEntraAssignmentsPager returns a pager over every Entra assignment of
// the resource, one page per request. It needs api-version 2025-03-02-preview;
// with another, the first NextPage returns an *APIVersionError.
//
// If a request fails, NextPage returns an *azcore.ResponseError.
func (c *Client) NewListEntraAssignmentsPager(options *ListEntraAssignmentsOptions) *runtime.Pager[ListEntraAssignmentsResponse] {
	return runtime.NewPager(runtime.PagingHandler[ListEntraAssignmentsResponse]{
		More: func(page ListEntraAssignmentsResponse) bool { return page.NextLink != "" },
		Fetcher: func(ctx context.Context, page *ListEntraAssignmentsResponse) (resp ListEntraAssignmentsResponse, err error) {
			if err := c.require(wire.FeatureEntra); err != nil {
				return resp, err
			}
			next := c.endpoint + "/access/entra/assignments"
			if page != nil {
				if next, err = c.sameOrigin(page.NextLink); err != nil {
					return resp, err
				}
			}
			ctx, endSpan := runtime.StartSpan(ctx, "Client.NewListEntraAssignmentsPager", c.internal.Tracer(), nil)
			defer func() { endSpan(err) }()
			var out wire.EntraAssignmentList
			if _, err := c.send(ctx, http.MethodGet, next, "", nil, &out, http.StatusOK); err != nil {
				return resp, err
			}
			return entraPage(out), nil
		},
		// No Tracer: with one, the pager would start its own span
		// ("Pager[...].NextPage") and azcore would drop the fetcher's
		// nested one. Each page is traced as Client.NewListEntraAssignmentsPager,
		// named like every other operation's span.
	})
}

// sameOrigin accepts a service-given next link only on the client's own
// scheme and host: the request is signed, and a credential must not follow a
// link to another host.
func (c *Client) sameOrigin(link string) (string, error) {
	u, err := url.Parse(link)
	if err != nil {
		return "", fmt.Errorf("acsidentity: the service's nextLink is not a URL: %w", err)
	}
	base, _ := url.Parse(c.endpoint)
	if !u.IsAbs() {
		return base.ResolveReference(u).String(), nil
	}
	if !strings.EqualFold(u.Scheme, base.Scheme) || !strings.EqualFold(u.Host, base.Host) {
		return "", errors.New("acsidentity: the service's nextLink points to another host; not following it with the client's credential")
	}
	return link, nil
}

// GetEntraAssignmentOptions contains the optional parameters of
// Client.GetEntraAssignment. It has none yet.
type GetEntraAssignmentOptions struct{}

// GetEntraAssignmentResponse is the result of Client.GetEntraAssignment.
type GetEntraAssignmentResponse struct {
	EntraAssignment
}

// GetEntraAssignment returns the assignment of a principal.
//
// If the operation fails it returns an *azcore.ResponseError.
func (c *Client) GetEntraAssignment(ctx context.Context, objectID string, options *GetEntraAssignmentOptions) (resp GetEntraAssignmentResponse, err error) {
	path, err := c.entraAssignmentPath(objectID)
	if err != nil {
		return resp, err
	}
	ctx, endSpan := runtime.StartSpan(ctx, "Client.GetEntraAssignment", c.internal.Tracer(), nil)
	defer func() { endSpan(err) }()
	var out wire.EntraAssignment
	if err := c.do(ctx, http.MethodGet, path, nil, &out, http.StatusOK); err != nil {
		return resp, err
	}
	resp.EntraAssignment = entraAssignment(out)
	return resp, nil
}

// CreateOrReplaceEntraAssignmentOptions contains the optional parameters of
// Client.CreateOrReplaceEntraAssignment. It has none yet.
type CreateOrReplaceEntraAssignmentOptions struct{}

// CreateOrReplaceEntraAssignmentResponse is the result of Client.CreateOrReplaceEntraAssignment.
type CreateOrReplaceEntraAssignmentResponse struct {
	EntraAssignment
	// Created is true when the assignment is new (201), false when it replaced one (200).
	Created bool
}

// CreateOrReplaceEntraAssignment assigns a principal, replacing its
// assignment if it has one. The service requires every field of assignment.
//
// If the operation fails it returns an *azcore.ResponseError.
func (c *Client) CreateOrReplaceEntraAssignment(ctx context.Context, objectID string, assignment EntraAssignmentUpdate, options *CreateOrReplaceEntraAssignmentOptions) (resp CreateOrReplaceEntraAssignmentResponse, err error) {
	path, err := c.entraAssignmentPath(objectID)
	if err != nil {
		return resp, err
	}
	if err := nonEmpty("TenantID", assignment.TenantID, "PrincipalType", string(assignment.PrincipalType)); err != nil {
		return resp, err
	}
	ctx, endSpan := runtime.StartSpan(ctx, "Client.CreateOrReplaceEntraAssignment", c.internal.Tracer(), nil)
	defer func() { endSpan(err) }()
	var out wire.EntraAssignment
	status, err := c.send(ctx, http.MethodPut, c.endpoint+path, "", entraRequest(assignment), &out, http.StatusOK, http.StatusCreated)
	if err != nil {
		return resp, err
	}
	resp.EntraAssignment = entraAssignment(out)
	resp.Created = status == http.StatusCreated
	return resp, nil
}

// DeleteEntraAssignmentOptions contains the optional parameters of
// Client.DeleteEntraAssignment. It has none yet.
type DeleteEntraAssignmentOptions struct{}

// DeleteEntraAssignmentResponse is the result of Client.DeleteEntraAssignment.
type DeleteEntraAssignmentResponse struct{}

// DeleteEntraAssignment removes a principal's assignment.
//
// If the operation fails it returns an *azcore.ResponseError.
func (c *Client) DeleteEntraAssignment(ctx context.Context, objectID string, options *DeleteEntraAssignmentOptions) (resp DeleteEntraAssignmentResponse, err error) {
	path, err := c.entraAssignmentPath(objectID)
	if err != nil {
		return resp, err
	}
	ctx, endSpan := runtime.StartSpan(ctx, "Client.DeleteEntraAssignment", c.internal.Tracer(), nil)
	defer func() { endSpan(err) }()
	err = c.do(ctx, http.MethodDelete, path, nil, nil, http.StatusNoContent)
	return resp, err
}

// UpdateEntraAssignmentsOptions contains the optional parameters of
// Client.UpdateEntraAssignments. It has none yet.
type UpdateEntraAssignmentsOptions struct{}

// UpdateEntraAssignmentsResponse is the result of Client.UpdateEntraAssignments.
type UpdateEntraAssignmentsResponse struct {
	// Assignments are the assignments the service returned, if it returned
	// any (it may answer 204 with none). The service may return only the
	// first page of the resource's assignments; NewListEntraAssignmentsPager
	// lists them all.
	Assignments []EntraAssignment
}

// UpdateEntraAssignments changes many assignments in one JSON merge-patch
// request: each object ID maps to its new assignment, or to nil to remove it.
// Each assignment is replaced whole, as by CreateOrReplaceEntraAssignment.
//
// If the operation fails it returns an *azcore.ResponseError.
func (c *Client) UpdateEntraAssignments(ctx context.Context, updates map[string]*EntraAssignmentUpdate, options *UpdateEntraAssignmentsOptions) (resp UpdateEntraAssignmentsResponse, err error) {
	if err := c.require(wire.FeatureEntra); err != nil {
		return resp, err
	}
	if len(updates) == 0 {
		return resp, fmt.Errorf("acsidentity: %w: no assignments to update", ErrMissingArgument)
	}
	body := make(map[string]*wire.EntraAssignmentRequest, len(updates))
	for id, u := range updates {
		if strings.TrimSpace(id) == "" {
			return resp, fmt.Errorf("acsidentity: %w: an object ID is empty", ErrMissingArgument)
		}
		if u == nil {
			body[id] = nil
			continue
		}
		if err := nonEmpty("TenantID of "+id, u.TenantID, "PrincipalType of "+id, string(u.PrincipalType)); err != nil {
			return resp, err
		}
		r := entraRequest(*u)
		body[id] = &r
	}
	ctx, endSpan := runtime.StartSpan(ctx, "Client.UpdateEntraAssignments", c.internal.Tracer(), nil)
	defer func() { endSpan(err) }()
	var out wire.EntraAssignmentList
	if _, err := c.send(ctx, http.MethodPatch, c.endpoint+"/access/entra/assignments", "application/merge-patch+json", body, &out, http.StatusOK, http.StatusNoContent); err != nil {
		return resp, err
	}
	resp.Assignments = entraPage(out).Assignments
	return resp, nil
}

func (c *Client) entraAssignmentPath(objectID string) (string, error) {
	if err := c.require(wire.FeatureEntra); err != nil {
		return "", err
	}
	if err := nonEmpty("objectID", objectID); err != nil {
		return "", err
	}
	return "/access/entra/assignments/" + escapeSegment(objectID), nil
}

func entraRequest(u EntraAssignmentUpdate) wire.EntraAssignmentRequest {
	ids := u.ClientIDs
	if ids == nil {
		ids = []string{} // the service requires the field
	}
	return wire.EntraAssignmentRequest{TenantID: u.TenantID, PrincipalType: string(u.PrincipalType), ClientIDs: ids}
}

func entraAssignment(w wire.EntraAssignment) EntraAssignment {
	return EntraAssignment{ObjectID: w.ObjectID, TenantID: w.TenantID, PrincipalType: EntraPrincipalType(w.PrincipalType), ClientIDs: w.ClientIDs}
}

func entraPage(w wire.EntraAssignmentList) ListEntraAssignmentsResponse {
	page := ListEntraAssignmentsResponse{NextLink: w.NextLink}
	for _, a := range w.Value {
		page.Assignments = append(page.Assignments, entraAssignment(a))
	}
	return page
}
