package tokenservice

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/acsgo/acsidentity"
	"github.com/acsgo/acsidentity/tokenservice/internal/identityrecord"
)

// identities is the one place that knows how a caller maps to an ACS
// identity.
//
// A caller with a lasting identity (authenticated, or a development
// caller) has a key: its custom ID. The identity of a key is found, in
// order, in the cache of this instance; with an IdentityStore, in the
// store (made and recorded there on the first token request); without
// one, in ACS, by a create with the custom ID, which returns the identity
// that has it (making it the first time). At most one lookup or create
// per key is in flight in the instance (single flight); the others wait
// for its outcome. A known caller's token is then one GetToken.
//
// An anonymous caller (no key) gets a new identity each time.
type identities struct {
	acs     *acsidentity.Client
	store   IdentityStore // nil: ACS keeps the mapping through custom IDs
	cache   *identityCache
	flight  singleflight.Group
	timeout time.Duration // of the ACS calls of a lookup or create
	log     *slog.Logger
	custom  *customIDs // how ACS's custom IDs give a caller its identity
}

func newIdentities(acs *acsidentity.Client, store IdentityStore, timeout time.Duration, log *slog.Logger) *identities {
	return &identities{acs: acs, store: store, cache: newIdentityCache(identityCacheSize, identityCacheTTL),
		timeout: timeout, log: log, custom: newCustomIDs(acs, log)}
}

// storeTimeout bounds each call to the IdentityStore (and
// storeRetryAfter is the Retry-After of a failed one): a store that is down
// must not hold requests for the whole ACS timeout.
const (
	storeTimeout    = 5 * time.Second
	storeRetryAfter = 5 * time.Second
)

// issue returns a token for the caller's identity, made if need be. ctx
// bounds the request's ACS calls.
func (d *identities) issue(ctx context.Context, c caller, want tokenWant) (issued, error) {
	if c.customID == "" {
		resp, err := d.acs.CreateUserAndToken(ctx, want.scopes, &acsidentity.CreateUserAndTokenOptions{TokenExpiresIn: want.lifetime})
		if err != nil {
			return issued{}, acsError(ctx, opCreateUserAndToken, err)
		}
		return issued{resp.User.ID, resp.AccessToken}, nil
	}
	key := c.customID
	for retried := false; ; retried = true {
		id, ok := d.cache.get(key)
		if !ok {
			var tok *issued
			var err error
			if id, tok, err = d.resolve(ctx, c, &want); err != nil || tok != nil {
				return deref(tok), err
			}
		}
		resp, err := d.acs.GetToken(ctx, acsidentity.CommunicationUserIdentifier{ID: id}, want.scopes, &acsidentity.GetTokenOptions{TokenExpiresIn: want.lifetime})
		if err == nil {
			return issued{id, resp.AccessToken}, nil
		}
		if !isNotFound(err) || retried {
			e := acsError(ctx, opGetToken, err)
			e.Reason = "identity " + id + ": " + e.Reason
			return issued{}, e
		}
		// ACS no longer has the identity (deleted on another instance, or
		// a crash between DeleteUser and Forget): look the caller up
		// again, which makes a new one.
		if err := d.forget(ctx, key, id); err != nil {
			return issued{}, err
		}
	}
}

func deref(t *issued) issued {
	if t == nil {
		return issued{}
	}
	return *t
}

// find returns the caller's identity without a token: from the cache or
// the store (none recorded: 404 IdentityNotFound), or without a store
// from ACS, made if need be (ACS has no lookup by custom ID that does not
// make one, and the next token would make it anyway).
func (d *identities) find(ctx context.Context, c caller) (string, error) {
	key := c.customID
	if id, ok := d.cache.get(key); ok {
		return id, nil
	}
	if d.store == nil {
		id, _, err := d.resolve(ctx, c, nil)
		return id, err
	}
	id, err := d.recorded(ctx, key)
	if err != nil {
		return "", err
	}
	if id == "" {
		return "", fail(http.StatusNotFound, CodeIdentityNotFound, "This caller has no ACS identity yet; the first token request makes one.")
	}
	d.cache.put(key, id)
	return id, nil
}

// forget drops id, which ACS no longer has or which was deleted, as the
// caller's identity: from the cache, and from the store if it still
// names it.
func (d *identities) forget(ctx context.Context, key, id string) error {
	d.cache.drop(key, id)
	if d.store == nil {
		return nil
	}
	sctx, cancel := context.WithTimeout(ctx, storeTimeout)
	defer cancel()
	if err := d.store.Forget(sctx, key, id); err != nil {
		return storeError(ctx, "Forget", err)
	}
	return nil
}

// resolve finds or makes the caller's identity, one at a time per caller
// in this instance: a request that finds another one's lookup in flight
// waits for its outcome. want, when set, asks for a token too: the
// request whose lookup makes the identity gets the token made with it
// (tok), the others get only the identity. The lookup runs to its end
// (within the ACS timeout) even if the request that started it goes away,
// so that the others, and the cache, get its outcome.
func (d *identities) resolve(ctx context.Context, c caller, want *tokenWant) (id string, tok *issued, err error) {
	key := c.customID
	var mine *issued
	ch := d.flight.DoChan(key, func() (_ any, err error) {
		// The lookup runs on a goroutine of its own, where a panic (of a
		// store, say) would end the process: it becomes this request's
		// 500, as ServeHTTP makes of a panic on the request's goroutine.
		defer func() {
			if p := recover(); p != nil {
				err = fail(http.StatusInternalServerError, CodeInternalError, "The request could not be processed.").
					because(fmt.Sprint("panic in the identity lookup: ", p)).at(slog.LevelError)
			}
		}()
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), d.timeout)
		defer cancel()
		var id string
		if d.store != nil {
			id, mine, err = d.fromStore(fctx, c, want)
		} else {
			id, mine, err = d.custom.resolve(fctx, c, want)
		}
		if err != nil {
			return "", err
		}
		d.cache.put(key, id)
		return id, nil
	})
	var r singleflight.Result
	select {
	case <-ctx.Done():
		if errors.Is(ctx.Err(), context.Canceled) {
			return "", nil, fail(http.StatusServiceUnavailable, CodeCanceled, "The request was canceled.").
				because("the caller went away during the identity lookup").at(slog.LevelInfo)
		}
		// The lookup has a deadline of its own, as long: its outcome
		// says what timed out.
		r = <-ch
	case r = <-ch:
	}
	if r.Err != nil {
		if e, ok := r.Err.(*Error); ok && r.Shared {
			c := *e // each request's own: its answer and log line may change it
			return "", nil, &c
		}
		return "", nil, r.Err
	}
	return r.Val.(string), mine, nil
}

// fromStore returns the identity recorded for the caller; with none, it
// makes one without a custom ID and records it. Of two instances that
// make one at the same time, the one whose Record loses deletes the
// identity it made and uses the winner's.
func (d *identities) fromStore(ctx context.Context, c caller, want *tokenWant) (string, *issued, error) {
	key := c.customID
	id, err := d.recorded(ctx, key)
	if err != nil || id != "" || want == nil {
		return id, nil, err
	}
	resp, err := d.acs.CreateUserAndToken(ctx, want.scopes, &acsidentity.CreateUserAndTokenOptions{TokenExpiresIn: want.lifetime})
	if err != nil {
		return "", nil, acsError(ctx, opCreateUserAndToken, err)
	}
	made := resp.User.ID
	sctx, cancel := context.WithTimeout(ctx, storeTimeout)
	won, err := d.store.Record(sctx, key, made)
	cancel()
	if err != nil {
		// The record may or may not have been written. If it was, the
		// caller's next token meets a deleted identity (404) and starts
		// again: that is safe, a stranded identity is not.
		d.discard(ctx, c, made, "the identity store failed to record it")
		return "", nil, storeError(ctx, "Record", err)
	}
	if won == made {
		return made, &issued{made, resp.AccessToken}, nil
	}
	if err := checkRecord(won); err != nil {
		d.discard(ctx, c, made, "the identity store's record is corrupt")
		return "", nil, err
	}
	d.discard(ctx, c, made, "another request recorded its identity first")
	return won, nil, nil
}

// recorded returns the store's record of key, checked.
func (d *identities) recorded(ctx context.Context, key string) (string, error) {
	sctx, cancel := context.WithTimeout(ctx, storeTimeout)
	defer cancel()
	id, err := d.store.Identity(sctx, key)
	if err != nil {
		return "", storeError(ctx, "Identity", err)
	}
	if id == "" {
		return "", nil
	}
	return id, checkRecord(id)
}

// discard deletes an identity this instance made and does not use. It
// fails only in the log: the identity is then unused in the resource.
func (d *identities) discard(ctx context.Context, c caller, id, why string) {
	if _, err := d.acs.DeleteUser(ctx, acsidentity.CommunicationUserIdentifier{ID: id}, nil); err != nil && !isNotFound(err) {
		d.log.Warn("tokenservice: an identity made for a caller could not be deleted; it stays in the ACS resource, unused",
			"caller", c.logID, "acs_user", id, "why", why, "error", bounded(err.Error(), maxLogReason))
	}
}

// checkRecord refuses a record that is not an ACS communication user ID
// (by the rules the ready stores record with): a store's corrupt record
// must not become a token request for whatever it names.
func checkRecord(id string) error {
	err := identityrecord.CheckID(id)
	if err == nil {
		return nil
	}
	return fail(http.StatusInternalServerError, CodeInternalError, "The request could not be processed.").
		because("the identity store's record of this caller: " + err.Error()).at(slog.LevelError)
}

// storeError is the answer to a failed IdentityStore call, or one that
// did not answer in time: 503 with Retry-After, logged at Error (unless
// the caller went away).
func storeError(ctx context.Context, op string, err error) *Error {
	if errors.Is(ctx.Err(), context.Canceled) {
		return fail(http.StatusServiceUnavailable, CodeCanceled, "The request was canceled.").
			because("the caller went away during the identity store's " + op).at(slog.LevelInfo)
	}
	e := fail(http.StatusServiceUnavailable, CodeIdentityStoreUnavailable, "The service cannot look up identities right now; retry after the time in the Retry-After header.").
		because("identity store " + op + ": " + err.Error()).at(slog.LevelError)
	e.RetryAfter, e.Err = storeRetryAfter, err
	return e
}

// remove revokes the tokens of the caller's identity id and deletes it,
// then forgets it (cache and store). A 404 from either ACS call means the
// identity is gone all the same, say deleted by a concurrent request of
// the same caller: that is the outcome the caller asked for, so it is no
// error (note says so, for the log), and not a failure whose retry would
// make a new identity only to delete it. (When ACS deletes and then fails,
// the library's DeleteUser retries and reports success itself.) The store
// record goes last, so that a crash in between leaves a record of a
// deleted identity, which the next token request replaces.
func (d *identities) remove(ctx context.Context, key, id string) (note string, err error) {
	user := acsidentity.CommunicationUserIdentifier{ID: id}
	if _, err := d.acs.RevokeTokens(ctx, user, nil); err != nil {
		if !isNotFound(err) {
			return "", acsError(ctx, opRevokeTokens, err)
		}
		note = "the identity was already deleted (RevokeTokens: 404)"
	} else if _, err := d.acs.DeleteUser(ctx, user, nil); err != nil {
		if !isNotFound(err) {
			return "", acsError(ctx, opDeleteUser, err)
		}
		note = "the identity was already deleted (DeleteUser: 404)"
	}
	return note, d.forget(ctx, key, id)
}
