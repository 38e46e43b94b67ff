package acsidentity

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/google/go-cmp/cmp"
)

const (
	tenantID = "0d5b6f8c-77a1-4a0b-9d12-2b7e0f6a1c33"
	objectID = "b8a1c2d3-4e5f-6789-abcd-ef0123456789"
	extUser  = "8:acs:2dee53b4-368b-45b4-ab52-8493fb117652_" + tenantID + "_" + objectID
)

// newEntraTestClient makes a client that authenticates with a fake Entra ID credential.
func newEntraTestClient(t *testing.T, endpoint, version string) *Client {
	t.Helper()
	c, err := NewClient(endpoint, &fakeTokenCredential{}, &ClientOptions{ClientOptions: azcore.ClientOptions{APIVersion: version}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestTeamsExtensionOnTheWire(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const assignment = `{"objectId":"` + objectID + `","tenantId":"` + tenantID + `","principalType":"user","clientIds":["c1"]}`
	want := TeamsExtensionAssignment{ObjectID: objectID, TenantID: tenantID, PrincipalType: TeamsExtensionPrincipalTypeUser, ClientIDs: []string{"c1"}}
	path := "/access/teamsExtension/tenants/" + tenantID + "/assignments/" + objectID
	cases := []struct {
		name                         string
		call                         func(c *Client) (any, error)
		status                       int
		answer                       string
		wantMethod, wantPath, wantIn string
		wantResp                     any
	}{
		{"exchange", func(c *Client) (any, error) { return c.ExchangeTeamsExtensionToken(ctx, nil) },
			200, `{"identity":{"id":"` + extUser + `"},"accessToken":` + tokenBody + `}`,
			"POST", "/access/teamsExtension/:exchangeAccessToken", `{}`,
			ExchangeTeamsExtensionTokenResponse{User: CommunicationUserIdentifier{ID: extUser}, AccessToken: AccessToken{Token: jwt, ExpiresOn: wantExpires}}},
		{"get", func(c *Client) (any, error) { return c.GetTeamsExtensionAssignment(ctx, tenantID, objectID, nil) },
			200, assignment, "GET", path, "", GetTeamsExtensionAssignmentResponse{want}},
		{"create", func(c *Client) (any, error) {
			return c.CreateOrReplaceTeamsExtensionAssignment(ctx, tenantID, objectID, TeamsExtensionAssignmentUpdate{PrincipalType: TeamsExtensionPrincipalTypeUser, ClientIDs: []string{"c1"}}, nil)
		}, 201, assignment, "PUT", path, `{"principalType":"user","clientIds":["c1"]}`,
			CreateOrReplaceTeamsExtensionAssignmentResponse{want, true}},
		{"replace", func(c *Client) (any, error) {
			return c.CreateOrReplaceTeamsExtensionAssignment(ctx, tenantID, objectID, TeamsExtensionAssignmentUpdate{PrincipalType: TeamsExtensionPrincipalTypeUser}, nil)
		}, 200, assignment, "PUT", path, `{"principalType":"user"}`,
			CreateOrReplaceTeamsExtensionAssignmentResponse{want, false}},
		{"delete", func(c *Client) (any, error) { return c.DeleteTeamsExtensionAssignment(ctx, tenantID, objectID, nil) },
			204, "", "DELETE", path, "", DeleteTeamsExtensionAssignmentResponse{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeService(t, func(int, *http.Request) (int, string) { return tc.status, tc.answer })
			c := newEntraTestClient(t, f.endpoint(), "")
			got, err := tc.call(c)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.wantResp, got); diff != "" {
				t.Errorf("response (-want +got):\n%s", diff)
			}
			r := f.requests()[0]
			if r.Method != tc.wantMethod || r.EscapedPath != tc.wantPath || r.RawQuery != "api-version=2025-06-30" || r.Body != tc.wantIn {
				t.Errorf("sent %s %s?%s %s\nwant %s %s %s", r.Method, r.EscapedPath, r.RawQuery, r.Body, tc.wantMethod, tc.wantPath, tc.wantIn)
			}
			if r.Header.Get("Authorization") != "Bearer entra-token" {
				t.Errorf("Authorization = %q", r.Header.Get("Authorization"))
			}
		})
	}
}

func TestTeamsExtensionLocalErrors(t *testing.T) {
	t.Parallel()
	f := newFakeService(t, func(int, *http.Request) (int, string) { return 500, "" })
	ctx := context.Background()
	keyClient := newTestClient(t, f.endpoint(), nil)
	if _, err := keyClient.ExchangeTeamsExtensionToken(ctx, nil); !errors.Is(err, ErrEntraIDRequired) {
		t.Errorf("key client exchange: %v", err)
	}
	old := newEntraTestClient(t, f.endpoint(), "2023-10-01")
	var verr *APIVersionError
	if _, err := old.GetTeamsExtensionAssignment(ctx, tenantID, objectID, nil); !errors.As(err, &verr) {
		t.Errorf("2023-10-01: %v", err)
	}
	c := newEntraTestClient(t, f.endpoint(), "")
	if _, err := c.GetTeamsExtensionAssignment(ctx, "", objectID, nil); !errors.Is(err, ErrMissingArgument) {
		t.Errorf("empty tenant: %v", err)
	}
	if _, err := c.CreateOrReplaceTeamsExtensionAssignment(ctx, tenantID, objectID, TeamsExtensionAssignmentUpdate{}, nil); !errors.Is(err, ErrMissingArgument) {
		t.Errorf("empty principal type: %v", err)
	}
	if n := len(f.requests()); n != 0 {
		t.Errorf("%d requests reached the service", n)
	}
}
