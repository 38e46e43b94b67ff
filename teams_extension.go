package acsidentity

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"

	"github.com/acsgo/acsidentity/internal/wire"
)

// The Teams Phone extension operations (api-version 2025-06-30 and
// 2025-03-02-preview): a Teams user, authenticated with Entra ID, exchanges
// their identity for an ACS token, if an administrator assigned them.

// TeamsExtensionPrincipalType is the kind of principal a Teams Phone
// extension assignment is for. The set is extensible.
type TeamsExtensionPrincipalType string

const (
	// TeamsExtensionPrincipalTypeUser is a Teams user.
	TeamsExtensionPrincipalTypeUser TeamsExtensionPrincipalType = "user"
	// TeamsExtensionPrincipalTypeResourceAccount is a Teams resource account.
	TeamsExtensionPrincipalTypeResourceAccount TeamsExtensionPrincipalType = "resourceAccount"
)

// PossibleTeamsExtensionPrincipalTypeValues returns the principal types the service documents.
func PossibleTeamsExtensionPrincipalTypeValues() []TeamsExtensionPrincipalType {
	return []TeamsExtensionPrincipalType{TeamsExtensionPrincipalTypeUser, TeamsExtensionPrincipalTypeResourceAccount}
}

// TeamsExtensionAssignment allows a principal of a tenant to use the Teams
// Phone extension with the resource.
type TeamsExtensionAssignment struct {
	// ObjectID is the principal's Entra object ID.
	ObjectID string
	// TenantID is the principal's Entra tenant ID.
	TenantID string
	// PrincipalType is the kind of principal.
	PrincipalType TeamsExtensionPrincipalType
	// ClientIDs are the Entra application (client) IDs the principal may use; empty means any.
	ClientIDs []string
}

// TeamsExtensionAssignmentUpdate is the new state of one assignment, for
// Client.CreateOrReplaceTeamsExtensionAssignment. The principal's tenant and
// object IDs are given beside it. The whole assignment is replaced: a field
// left empty is not kept from the old assignment.
type TeamsExtensionAssignmentUpdate struct {
	// PrincipalType is the kind of principal the object ID names. Required.
	PrincipalType TeamsExtensionPrincipalType
	// ClientIDs limits the assignment to these Entra application (client)
	// IDs; empty means any.
	ClientIDs []string
}

// ExchangeTeamsExtensionTokenOptions contains the optional parameters of
// Client.ExchangeTeamsExtensionToken. It has none yet.
type ExchangeTeamsExtensionTokenOptions struct{}

// ExchangeTeamsExtensionTokenResponse is the result of Client.ExchangeTeamsExtensionToken.
type ExchangeTeamsExtensionTokenResponse struct {
	// User is the Teams extension user, 8:acs:<resource>_<tenant>_<user>.
	User CommunicationUserIdentifier
	AccessToken
}

// String shows the user and when the token expires, never the token.
func (r ExchangeTeamsExtensionTokenResponse) String() string {
	return "{User:" + r.User.ID + " ExpiresOn:" + r.ExpiresOn.Format(time.RFC3339) + " Token:REDACTED}"
}

// GoString is String, for %#v.
func (r ExchangeTeamsExtensionTokenResponse) GoString() string {
	return "acsidentity.ExchangeTeamsExtensionTokenResponse" + r.String()
}

// ExchangeTeamsExtensionToken exchanges the Entra ID identity the client
// authenticates with (a Teams user's) for an ACS access token. The client
// must be made with NewClient; a key client gets ErrEntraIDRequired.
//
// If the operation fails it returns an *azcore.ResponseError.
func (c *Client) ExchangeTeamsExtensionToken(ctx context.Context, options *ExchangeTeamsExtensionTokenOptions) (resp ExchangeTeamsExtensionTokenResponse, err error) {
	if err := c.require(wire.FeatureTeamsExtension); err != nil {
		return resp, err
	}
	if !c.entra {
		return resp, fmt.Errorf("acsidentity: %w", ErrEntraIDRequired)
	}
	ctx, endSpan := runtime.StartSpan(ctx, "Client.ExchangeTeamsExtensionToken", c.internal.Tracer(), nil)
	defer func() { endSpan(err) }()
	resp.User, resp.AccessToken, err = c.exchange(ctx, "/access/teamsExtension/:exchangeAccessToken")
	return resp, err
}

// exchange posts the empty exchange request of the Teams extension and Entra
// operations and decodes the identity and token.
func (c *Client) exchange(ctx context.Context, path string) (CommunicationUserIdentifier, AccessToken, error) {
	var out wire.AccessTokenResult
	if err := c.do(ctx, http.MethodPost, path, struct{}{}, &out, http.StatusOK); err != nil {
		return CommunicationUserIdentifier{}, AccessToken{}, err
	}
	if out.AccessToken == nil {
		return CommunicationUserIdentifier{}, AccessToken{}, fmt.Errorf("acsidentity: the service's response has no access token")
	}
	d, err := userDetail(out.Identity)
	if err != nil {
		return CommunicationUserIdentifier{}, AccessToken{}, err
	}
	tok, err := accessToken(*out.AccessToken)
	return d.User, tok, err
}

// GetTeamsExtensionAssignmentOptions contains the optional parameters of
// Client.GetTeamsExtensionAssignment. It has none yet.
type GetTeamsExtensionAssignmentOptions struct{}

// GetTeamsExtensionAssignmentResponse is the result of Client.GetTeamsExtensionAssignment.
type GetTeamsExtensionAssignmentResponse struct {
	TeamsExtensionAssignment
}

// GetTeamsExtensionAssignment returns the assignment of a principal.
//
// If the operation fails it returns an *azcore.ResponseError.
func (c *Client) GetTeamsExtensionAssignment(ctx context.Context, tenantID, objectID string, options *GetTeamsExtensionAssignmentOptions) (resp GetTeamsExtensionAssignmentResponse, err error) {
	path, err := c.teamsAssignmentPath(tenantID, objectID)
	if err != nil {
		return resp, err
	}
	ctx, endSpan := runtime.StartSpan(ctx, "Client.GetTeamsExtensionAssignment", c.internal.Tracer(), nil)
	defer func() { endSpan(err) }()
	var out wire.TeamsExtensionAssignment
	if err := c.do(ctx, http.MethodGet, path, nil, &out, http.StatusOK); err != nil {
		return resp, err
	}
	resp.TeamsExtensionAssignment = teamsAssignment(out)
	return resp, nil
}

// CreateOrReplaceTeamsExtensionAssignmentOptions contains the optional
// parameters of Client.CreateOrReplaceTeamsExtensionAssignment. It has none
// yet.
type CreateOrReplaceTeamsExtensionAssignmentOptions struct{}

// CreateOrReplaceTeamsExtensionAssignmentResponse is the result of
// Client.CreateOrReplaceTeamsExtensionAssignment.
type CreateOrReplaceTeamsExtensionAssignmentResponse struct {
	TeamsExtensionAssignment
	// Created is true when the assignment is new (201), false when it replaced one (200).
	Created bool
}

// CreateOrReplaceTeamsExtensionAssignment assigns a principal of a tenant,
// replacing its assignment if it has one. assignment.PrincipalType is
// required.
//
// If the operation fails it returns an *azcore.ResponseError.
func (c *Client) CreateOrReplaceTeamsExtensionAssignment(ctx context.Context, tenantID, objectID string, assignment TeamsExtensionAssignmentUpdate, options *CreateOrReplaceTeamsExtensionAssignmentOptions) (resp CreateOrReplaceTeamsExtensionAssignmentResponse, err error) {
	path, err := c.teamsAssignmentPath(tenantID, objectID)
	if err != nil {
		return resp, err
	}
	if err := nonEmpty("PrincipalType", string(assignment.PrincipalType)); err != nil {
		return resp, err
	}
	ctx, endSpan := runtime.StartSpan(ctx, "Client.CreateOrReplaceTeamsExtensionAssignment", c.internal.Tracer(), nil)
	defer func() { endSpan(err) }()
	var out wire.TeamsExtensionAssignment
	body := wire.TeamsExtensionAssignmentRequest{PrincipalType: string(assignment.PrincipalType), ClientIDs: assignment.ClientIDs}
	status, err := c.send(ctx, http.MethodPut, c.endpoint+path, "", body, &out, http.StatusOK, http.StatusCreated)
	if err != nil {
		return resp, err
	}
	resp.TeamsExtensionAssignment = teamsAssignment(out)
	resp.Created = status == http.StatusCreated
	return resp, nil
}

// DeleteTeamsExtensionAssignmentOptions contains the optional parameters of
// Client.DeleteTeamsExtensionAssignment. It has none yet.
type DeleteTeamsExtensionAssignmentOptions struct{}

// DeleteTeamsExtensionAssignmentResponse is the result of Client.DeleteTeamsExtensionAssignment.
type DeleteTeamsExtensionAssignmentResponse struct{}

// DeleteTeamsExtensionAssignment removes a principal's assignment.
//
// If the operation fails it returns an *azcore.ResponseError.
func (c *Client) DeleteTeamsExtensionAssignment(ctx context.Context, tenantID, objectID string, options *DeleteTeamsExtensionAssignmentOptions) (resp DeleteTeamsExtensionAssignmentResponse, err error) {
	path, err := c.teamsAssignmentPath(tenantID, objectID)
	if err != nil {
		return resp, err
	}
	ctx, endSpan := runtime.StartSpan(ctx, "Client.DeleteTeamsExtensionAssignment", c.internal.Tracer(), nil)
	defer func() { endSpan(err) }()
	err = c.do(ctx, http.MethodDelete, path, nil, nil, http.StatusNoContent)
	return resp, err
}

func (c *Client) teamsAssignmentPath(tenantID, objectID string) (string, error) {
	if err := c.require(wire.FeatureTeamsExtension); err != nil {
		return "", err
	}
	if err := nonEmpty("tenantID", tenantID, "objectID", objectID); err != nil {
		return "", err
	}
	return "/access/teamsExtension/tenants/" + escapeSegment(tenantID) + "/assignments/" + escapeSegment(objectID), nil
}

func teamsAssignment(w wire.TeamsExtensionAssignment) TeamsExtensionAssignment {
	return TeamsExtensionAssignment{ObjectID: w.ObjectID, TenantID: w.TenantID, PrincipalType: TeamsExtensionPrincipalType(w.PrincipalType), ClientIDs: w.ClientIDs}
}
