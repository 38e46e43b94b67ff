package acsidentity_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/acsgo/acsidentity"
	"github.com/acsgo/acsidentity/emulator"
)

// TestAPIVersion2026_07_22: the stable 2026-07-22 has the operations and
// options of 2025-06-30 (join scopes, custom lifetimes, the Teams user and
// Teams Phone extension exchanges) and refuses, before any I/O, what it
// lacks (custom IDs, GetUser, the Entra operations).
func TestAPIVersion2026_07_22(t *testing.T) {
	t.Parallel()
	const v = "2026-07-22"
	srv := startEmulator(t, &emulator.Options{AllowBearer: true})
	ctx := context.Background()
	key := clientFor(t, srv, v)
	u, err := key.CreateUserAndToken(ctx, []acsidentity.TokenScope{acsidentity.TokenScopeChatJoin, acsidentity.TokenScopeVoIPJoin},
		&acsidentity.CreateUserAndTokenOptions{TokenExpiresIn: 2 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if st := srv.Emulator.Introspect(u.Token); st.Status != "valid" || len(st.Scopes) != 2 {
		t.Errorf("introspection %+v", st)
	}

	const tid, oid, app = "88888888-8888-8888-8888-888888888888", "99999999-9999-9999-9999-999999999999", "aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa"
	o := &acsidentity.ClientOptions{}
	o.APIVersion = v
	bearer, err := acsidentity.NewClient(srv.URL, entraCredential{tid, oid, app}, o)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bearer.CreateOrReplaceTeamsExtensionAssignment(ctx, tid, oid, acsidentity.TeamsExtensionAssignmentUpdate{PrincipalType: acsidentity.TeamsExtensionPrincipalTypeUser}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := bearer.ExchangeTeamsExtensionToken(ctx, nil); err != nil {
		t.Fatal(err)
	}

	var verr *acsidentity.APIVersionError
	if _, err := key.CreateUser(ctx, &acsidentity.CreateUserOptions{CustomID: "alice"}); !errors.As(err, &verr) {
		t.Errorf("custom ID: %v", err)
	}
	if _, err := key.GetUser(ctx, u.User, nil); !errors.As(err, &verr) {
		t.Errorf("GetUser: %v", err)
	}
	if _, err := bearer.ExchangeEntraToken(ctx, nil); !errors.As(err, &verr) {
		t.Errorf("ExchangeEntraToken: %v", err)
	}
}
