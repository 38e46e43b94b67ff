package tokenservice

import (
	"context"
	"time"

	"github.com/acsgo/acsidentity"
)

// identities is the one place that knows how a caller maps to an ACS
// identity. Today ACS keeps the mapping: a caller's identity is the one
// with the caller's custom ID, which a create with that custom ID returns
// (making it the first time). An anonymous caller (no custom ID) gets a
// new identity each time.
type identities struct {
	acs *acsidentity.Client
}

// issue returns a token for the caller's identity, made if need be.
func (d identities) issue(ctx context.Context, c caller, scopes []acsidentity.TokenScope, lifetime time.Duration) (acsidentity.CreateUserAndTokenResponse, error) {
	resp, err := d.acs.CreateUserAndToken(ctx, scopes, &acsidentity.CreateUserAndTokenOptions{TokenExpiresIn: lifetime, CustomID: c.customID})
	if err != nil {
		return resp, acsError(ctx, opCreateUserAndToken, err)
	}
	return resp, nil
}

// find returns the identity of a caller with a lasting one (a custom ID).
// The identity is made if need be: ACS has no lookup by custom ID that
// does not make one, and the next token would make it anyway.
func (d identities) find(ctx context.Context, c caller) (acsidentity.CommunicationUserIdentifier, error) {
	resp, err := d.acs.CreateUser(ctx, &acsidentity.CreateUserOptions{CustomID: c.customID})
	if err != nil {
		return acsidentity.CommunicationUserIdentifier{}, acsError(ctx, opCreateUser, err)
	}
	return resp.User, nil
}

// remove revokes the tokens of user and deletes it. A 404 from either call
// means the identity is gone all the same, say deleted by a concurrent
// request of the same caller: that is the outcome the caller asked for, so
// it is no error (note says so, for the log), and not a failure whose retry
// would make a new identity only to delete it. (When ACS deletes and then
// fails, the library's DeleteUser retries and reports success itself.)
func (d identities) remove(ctx context.Context, user acsidentity.CommunicationUserIdentifier) (note string, err error) {
	if _, err := d.acs.RevokeTokens(ctx, user, nil); err != nil {
		if !isNotFound(err) {
			return "", acsError(ctx, opRevokeTokens, err)
		}
		return "the identity was already deleted (RevokeTokens: 404)", nil
	}
	if _, err := d.acs.DeleteUser(ctx, user, nil); err != nil {
		if !isNotFound(err) {
			return "", acsError(ctx, opDeleteUser, err)
		}
		return "the identity was already deleted (DeleteUser: 404)", nil
	}
	return "", nil
}
