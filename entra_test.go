package acsidentity

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const preview = "2025-03-02-preview"

func TestEntraOnTheWire(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const one = `{"objectId":"` + objectID + `","tenantId":"` + tenantID + `","principalType":"group","clientIds":[]}`
	want := EntraAssignment{ObjectID: objectID, TenantID: tenantID, PrincipalType: EntraPrincipalTypeGroup, ClientIDs: []string{}}
	path := "/access/entra/assignments/" + objectID
	upd := EntraAssignmentUpdate{TenantID: tenantID, PrincipalType: EntraPrincipalTypeGroup}
	cases := []struct {
		name                         string
		call                         func(c *Client) (any, error)
		status                       int
		answer                       string
		wantMethod, wantPath, wantIn string
		wantCT                       string
		wantResp                     any
	}{
		{"exchange", func(c *Client) (any, error) { return c.ExchangeEntraToken(ctx, nil) },
			200, `{"identity":{"id":"` + userID + `"},"accessToken":` + tokenBody + `}`,
			"POST", "/access/entra/:exchangeAccessToken", `{}`, "application/json",
			ExchangeEntraTokenResponse{User: CommunicationUserIdentifier{ID: userID}, AccessToken: AccessToken{Token: jwt, ExpiresOn: wantExpires}}},
		{"get", func(c *Client) (any, error) { return c.GetEntraAssignment(ctx, objectID, nil) },
			200, one, "GET", path, "", "", GetEntraAssignmentResponse{want}},
		{"create", func(c *Client) (any, error) { return c.CreateOrReplaceEntraAssignment(ctx, objectID, upd, nil) },
			201, one, "PUT", path, `{"tenantId":"` + tenantID + `","principalType":"group","clientIds":[]}`, "application/json",
			CreateOrReplaceEntraAssignmentResponse{want, true}},
		{"delete", func(c *Client) (any, error) { return c.DeleteEntraAssignment(ctx, objectID, nil) },
			204, "", "DELETE", path, "", "", DeleteEntraAssignmentResponse{}},
		{"bulk update", func(c *Client) (any, error) {
			return c.UpdateEntraAssignments(ctx, map[string]*EntraAssignmentUpdate{objectID: &upd, "gone": nil}, nil)
		}, 200, `{"value":[` + one + `]}`, "PATCH", "/access/entra/assignments",
			`{"` + objectID + `":{"tenantId":"` + tenantID + `","principalType":"group","clientIds":[]},"gone":null}`, "application/merge-patch+json",
			UpdateEntraAssignmentsResponse{Assignments: []EntraAssignment{want}}},
		{"bulk update 204", func(c *Client) (any, error) {
			return c.UpdateEntraAssignments(ctx, map[string]*EntraAssignmentUpdate{"gone": nil}, nil)
		}, 204, "", "PATCH", "/access/entra/assignments", `{"gone":null}`, "application/merge-patch+json",
			UpdateEntraAssignmentsResponse{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeService(t, func(int, *http.Request) (int, string) { return tc.status, tc.answer })
			c := newEntraTestClient(t, f.endpoint(), preview)
			got, err := tc.call(c)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.wantResp, got); diff != "" {
				t.Errorf("response (-want +got):\n%s", diff)
			}
			r := f.requests()[0]
			if r.Method != tc.wantMethod || r.EscapedPath != tc.wantPath || r.RawQuery != "api-version="+preview || r.Body != tc.wantIn {
				t.Errorf("sent %s %s?%s %s\nwant %s %s %s", r.Method, r.EscapedPath, r.RawQuery, r.Body, tc.wantMethod, tc.wantPath, tc.wantIn)
			}
			if ct := r.Header.Get("Content-Type"); ct != tc.wantCT {
				t.Errorf("Content-Type = %q, want %q", ct, tc.wantCT)
			}
		})
	}
}

func TestEntraPager(t *testing.T) {
	t.Parallel()
	var f *fakeService
	f = newFakeService(t, func(n int, r *http.Request) (int, string) {
		if r.URL.Query().Get("page") == "" {
			return 200, `{"value":[{"objectId":"a","tenantId":"t","principalType":"user","clientIds":[]}],"nextLink":"` + f.endpoint() + `/access/entra/assignments?page=2"}`
		}
		return 200, `{"value":[{"objectId":"b","tenantId":"t","principalType":"tenant","clientIds":["x"]}]}`
	})
	c := newEntraTestClient(t, f.endpoint(), preview)
	var ids []string
	pager := c.NewListEntraAssignmentsPager(nil)
	for pager.More() {
		page, err := pager.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range page.Assignments {
			ids = append(ids, a.ObjectID)
		}
	}
	if diff := cmp.Diff([]string{"a", "b"}, ids); diff != "" {
		t.Errorf("ids (-want +got):\n%s", diff)
	}
	reqs := f.requests()
	if len(reqs) != 2 || reqs[1].RawQuery != "api-version="+preview+"&page=2" {
		t.Errorf("requests: %+v", reqs)
	}
}

// TestEntraPagerRefusesForeignNextLink: a signed request never follows a
// next link to another host.
func TestEntraPagerRefusesForeignNextLink(t *testing.T) {
	t.Parallel()
	f := newFakeService(t, func(int, *http.Request) (int, string) {
		return 200, `{"value":[],"nextLink":"https://evil.example.com/steal"}`
	})
	c := newEntraTestClient(t, f.endpoint(), preview)
	pager := c.NewListEntraAssignmentsPager(nil)
	if _, err := pager.NextPage(context.Background()); err != nil {
		t.Fatal(err)
	}
	_, err := pager.NextPage(context.Background())
	if err == nil || !strings.Contains(err.Error(), "another host") {
		t.Fatalf("got %v", err)
	}
	if n := len(f.requests()); n != 1 {
		t.Errorf("%d requests", n)
	}
}

func TestEntraLocalErrors(t *testing.T) {
	t.Parallel()
	f := newFakeService(t, func(int, *http.Request) (int, string) { return 500, "" })
	ctx := context.Background()
	ga := newEntraTestClient(t, f.endpoint(), "")
	var verr *APIVersionError
	if _, err := ga.GetEntraAssignment(ctx, objectID, nil); !errors.As(err, &verr) || !strings.Contains(err.Error(), preview) {
		t.Errorf("GA: %v", err)
	}
	if _, err := ga.NewListEntraAssignmentsPager(nil).NextPage(ctx); !errors.As(err, &verr) {
		t.Errorf("GA pager: %v", err)
	}
	c := newEntraTestClient(t, f.endpoint(), preview)
	if _, err := c.UpdateEntraAssignments(ctx, nil, nil); !errors.Is(err, ErrMissingArgument) {
		t.Errorf("empty update: %v", err)
	}
	if _, err := c.UpdateEntraAssignments(ctx, map[string]*EntraAssignmentUpdate{"x": {}}, nil); !errors.Is(err, ErrMissingArgument) || !strings.Contains(err.Error(), "TenantID of x") {
		t.Errorf("incomplete update: %v", err)
	}
	if _, err := c.CreateOrReplaceEntraAssignment(ctx, "", EntraAssignmentUpdate{}, nil); !errors.Is(err, ErrMissingArgument) {
		t.Errorf("empty object ID: %v", err)
	}
	keyClient := newTestClient(t, f.endpoint(), nil)
	if _, err := keyClient.ExchangeEntraToken(ctx, nil); err == nil {
		t.Error("key client on GA: no error")
	}
	if n := len(f.requests()); n != 0 {
		t.Errorf("%d requests reached the service", n)
	}
}
