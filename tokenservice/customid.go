package tokenservice

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"sync"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"

	"github.com/acsgo/acsidentity"
)

// Custom-ID mode (no IdentityStore): ACS keeps the mapping, and recovers
// from its own races.
//
// The real service does not make creates with one custom ID atomic:
// overlapping creates can each make an identity, and from then on every
// create with that custom ID fails with error code
// MultipleIdentitiesForCustomId (azure-sdk-for-js issue 38531). The
// Service never overlaps creates of one caller within an instance (single
// flight), but two instances can. When ACS answers that error, the caller
// moves on to the next custom ID of a fixed sequence made from the same
// one:
//
//	<custom ID>, <custom ID>.r2, <custom ID>.r3, ... <custom ID>.r8
//
// Every instance walks the same sequence and stops at the first custom ID
// ACS accepts, so they all agree on the caller's identity again. The
// caller's identity changes once (ACS refuses the old custom ID for good,
// and its several identities cannot be told apart); the move is logged at
// Error once per caller and instance. A caller whose every custom ID of
// the sequence is refused gets 502.

// errMultipleIdentities is ACS's error code for a custom ID that names
// several identities.
const errMultipleIdentities = "MultipleIdentitiesForCustomId"

// maxCustomIDGeneration bounds the sequence of a caller's custom IDs.
const maxCustomIDGeneration = 8

// generationCustomID is the custom ID of generation n (1, 2, ...) of a
// caller whose first custom ID is base.
func generationCustomID(base string, n int) string {
	if n == 1 {
		return base
	}
	return base + ".r" + strconv.Itoa(n)
}

// customIDs gives callers their identities through ACS's custom IDs, and
// remembers whose recovery it logged.
type customIDs struct {
	acs *acsidentity.Client
	log *slog.Logger

	mu       sync.Mutex
	reported map[string]struct{} // the callers whose move was logged
}

func newCustomIDs(acs *acsidentity.Client, log *slog.Logger) *customIDs {
	return &customIDs{acs: acs, log: log, reported: make(map[string]struct{})}
}

// resolve returns the identity of the caller's custom ID, made if need be,
// with a token when want is set.
func (d *customIDs) resolve(ctx context.Context, c caller, want *tokenWant) (string, *issued, error) {
	for n := 1; n <= maxCustomIDGeneration; n++ {
		cid := generationCustomID(c.customID, n)
		var (
			id  string
			tok *issued
			err error
			op  string
		)
		if want != nil {
			op = opCreateUserAndToken
			var resp acsidentity.CreateUserAndTokenResponse
			resp, err = d.acs.CreateUserAndToken(ctx, want.scopes, &acsidentity.CreateUserAndTokenOptions{TokenExpiresIn: want.lifetime, CustomID: cid})
			id, tok = resp.User.ID, &issued{resp.User.ID, resp.AccessToken}
		} else {
			op = opCreateUser
			var resp acsidentity.CreateUserResponse
			resp, err = d.acs.CreateUser(ctx, &acsidentity.CreateUserOptions{CustomID: cid})
			id = resp.User.ID
		}
		if err == nil {
			if n > 1 {
				d.report(c, n)
			}
			return id, tok, nil
		}
		if !isMultipleIdentities(err) {
			return "", nil, acsError(ctx, op, err)
		}
	}
	return "", nil, fail(http.StatusBadGateway, CodeUpstreamError, "The identity service could not complete the request.").
		because("ACS holds several identities for each of this caller's " + strconv.Itoa(maxCustomIDGeneration) + " custom IDs (" + errMultipleIdentities + ")").at(slog.LevelError)
}

// isMultipleIdentities reports whether ACS refused a custom ID that names
// several identities.
func isMultipleIdentities(err error) bool {
	re, ok := errors.AsType[*azcore.ResponseError](err)
	return ok && re.ErrorCode == errMultipleIdentities
}

// maxReported bounds the memory of which callers' recovery was logged.
const maxReported = 10_000

// report logs, once per caller in this instance, that the caller moved to
// generation n of its custom IDs.
func (d *customIDs) report(c caller, n int) {
	d.mu.Lock()
	_, seen := d.reported[c.customID]
	if !seen {
		if len(d.reported) >= maxReported {
			clear(d.reported)
		}
		d.reported[c.customID] = struct{}{}
	}
	d.mu.Unlock()
	if !seen {
		d.log.Error("tokenservice: ACS holds several identities for this caller's custom ID ("+errMultipleIdentities+
			", made by overlapping creates on several instances); the caller now gets tokens for the identity of a later custom ID of its sequence. "+
			"Give the instances a shared IdentityStore (Options.Identities) to avoid this",
			"caller", c.logID, "caller_kind", c.kind, "custom_id_generation", n)
	}
}
