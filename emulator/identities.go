package emulator

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/acsgo/acsidentity/internal/wire"
)

const maxCustomIDLength = 256

// createBody is the create request.
type createBody = wire.CreateRequest

// createWithToken reports whether the create request asks for a token
// (createUserAndToken has its own service limit).
func (c *call) createWithToken() bool {
	if c.created == nil {
		var b createBody
		_ = json.Unmarshal(c.body, &b)
		c.created = &b
	}
	return len(c.created.CreateTokenWithScopes) > 0
}

// validScopes checks scope names against the api-version. It answers 400
// and returns false on the first bad one.
func (c *call) validScopes(scopes []string, target string) ([]string, bool) {
	out := make([]string, 0, len(scopes))
	for _, s := range scopes {
		if _, ok := scopeBits[s]; !ok {
			valid := "chat, voip"
			if wire.Has(c.version, wire.FeatureJoinScopes) {
				valid = "chat, voip, chat.join, chat.join.limited, voip.join"
			}
			c.validation(target, fmt.Sprintf("Scope '%s' is invalid. Valid values are: %s.", s, valid))
			return nil, false
		}
		if strings.Contains(s, ".") && !wire.Has(c.version, wire.FeatureJoinScopes) {
			c.validation(target, fmt.Sprintf("Scope '%s' is not supported by api-version %s; it needs one of: %s.", s, c.version, strings.Join(wire.VersionsWith(wire.FeatureJoinScopes), ", ")))
			return nil, false
		}
		dup := false
		for _, o := range out {
			dup = dup || o == s
		}
		if !dup {
			out = append(out, s)
		}
	}
	return out, true
}

// lifetime validates expiresInMinutes and returns the token lifetime.
func (c *call) lifetime(minutes *int) (time.Duration, bool) {
	if minutes == nil {
		return defaultLifetime, true
	}
	if !wire.Has(c.version, wire.FeatureExpiresIn) {
		c.validation("ExpiresInMinutes", fmt.Sprintf("ExpiresInMinutes is not supported by api-version %s; it needs one of: %s.", c.version, strings.Join(wire.VersionsWith(wire.FeatureExpiresIn), ", ")))
		return 0, false
	}
	if m := *minutes; m < 60 || m > 1440 {
		c.validation("ExpiresInMinutes", fmt.Sprintf("ExpiresInMinutes value %d is invalid. Value must be within the [60, 1440] interval.", m))
		return 0, false
	}
	return time.Duration(*minutes) * time.Minute, true
}

// newUnique returns a unique part shaped like the service's
// (00000005-14a2-493b-8a72-5a3a0d000081).
func newUnique() string {
	var b [16]byte
	rand.Read(b[:])
	b[0], b[1], b[2] = 0, 0, 0
	var out [36]byte
	hex.Encode(out[0:8], b[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], b[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], b[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], b[8:10])
	out[23] = '-'
	hex.Encode(out[24:], b[10:])
	return string(out[:])
}

// issued is a token about to be signed.
type issued struct {
	seq     uint64
	iat     time.Time
	expires time.Time
}

// tick is the service's clock resolution (.NET ticks): expiresOn carries up
// to seven fractional digits.
const tick = 100 * time.Nanosecond

// stamp records a token issue on it (under its shard lock). expiresOn keeps
// the sub-second part as the service's does; the JWT's exp is that instant
// truncated to the second.
func (e *Emulator) stamp(it *identity, now time.Time, life time.Duration) issued {
	it.lastIssued = now
	return issued{seq: e.tokenSeq.Add(1), iat: now, expires: now.Add(life).Truncate(tick)}
}

func (e *Emulator) token(id string, scopes []string, t issued) *wire.AccessToken {
	return &wire.AccessToken{
		Token:     e.sealToken(e.signer.sign(id, scopes, e.resourceID, t.iat, t.expires, t.seq)),
		ExpiresOn: wire.Time{Time: t.expires.UTC()},
	}
}

// wireIdentity shapes an identity for the api-version: customId and
// lastTokenIssuedAt exist only where the version has them.
func (c *call) wireIdentity(it identity) wire.Identity {
	out := wire.Identity{ID: it.id}
	if wire.Has(c.version, wire.FeatureCustomID) {
		out.CustomID = it.customID
		if !it.lastIssued.IsZero() {
			// The service writes this one in whole seconds (recorded).
			out.LastTokenIssuedAt = &wire.Time{Time: it.lastIssued.UTC().Truncate(time.Second)}
		}
	}
	return out
}

func (c *call) notFound(id string) {
	c.fail(http.StatusNotFound, "IdentityNotFound", fmt.Sprintf("The identity '%s' was not found.", id), "")
}

// owned answers 401 IdentityNotOwned, as the service does, when id is an ACS
// identity of another resource (8:acs:<other resource>_<unique>). Any other
// ID this resource does not hold is left to notFound.
func (c *call) owned(id string) bool {
	rest, ok := strings.CutPrefix(id, "8:acs:")
	if !ok {
		return true
	}
	res, _, ok := strings.Cut(rest, "_")
	if !ok || !isGUID(res) || strings.EqualFold(res, c.e.resourceID) {
		return true
	}
	c.fail(http.StatusUnauthorized, "IdentityNotOwned", "Provided identity doesn't belong to the resource.", "")
	return false
}

// modernValidation reports whether the api-version answers with the
// service's newer validation messages: from 2023-10-01 on, an empty scopes
// list is "Invalid scopes - ..." with target "scopes"; before it, model
// validation answers "Scopes: The Scopes field is required." with target
// "Scopes" (both recorded).
func modernValidation(version string) bool {
	return wire.Has(version, wire.FeatureJoinScopes)
}

// commit waits until every change made so far is saved (a no-op in
// memory) and answers 500 if saving failed.
func (c *call) commit() bool {
	if c.e.persist == nil {
		return true
	}
	if err := c.e.persist.Sync(); err != nil {
		c.fail(http.StatusInternalServerError, "InternalServerError", "The emulator could not save the change to its data file.", "")
		return false
	}
	return true
}

// create is POST /identities.
func (c *call) create() {
	var req createBody
	if !c.decode(&req) {
		return
	}
	if req.CustomID != nil {
		if !wire.Has(c.version, wire.FeatureCustomID) {
			c.validation("CustomId", fmt.Sprintf("CustomId is not supported by api-version %s; it needs %s.", c.version, strings.Join(wire.VersionsWith(wire.FeatureCustomID), ", ")))
			return
		}
		if n := utf8.RuneCountInString(*req.CustomID); n < 1 || n > maxCustomIDLength {
			c.validation("CustomId", fmt.Sprintf("CustomId length %d is invalid. Length must be within the [1, %d] interval.", n, maxCustomIDLength))
			return
		}
	}
	scopes, ok := c.validScopes(req.CreateTokenWithScopes, "CreateTokenWithScopes")
	if !ok {
		return
	}
	life, ok := c.lifetime(req.ExpiresInMinutes)
	if !ok {
		return
	}
	e := c.e
	var (
		tok    issued
		custom string
	)
	if req.CustomID != nil {
		custom = *req.CustomID
	}
	it, many := e.store.create(custom, e.now, func() string { return e.idPrefix + newUnique() }, func(p *identity, now time.Time) {
		if len(scopes) > 0 {
			tok = e.stamp(p, now, life)
		}
	})
	if many > 0 {
		if c.commit() { // the identities it names are saved
			c.multipleForCustomID(custom, many)
		}
		return
	}
	res := wire.AccessTokenResult{Identity: c.wireIdentity(it)}
	if len(scopes) > 0 {
		res.AccessToken = e.token(it.id, scopes, tok)
	}
	if !c.commit() {
		return
	}
	c.writeJSON(http.StatusCreated, res)
}

// multipleForCustomID answers a create whose custom ID several live
// identities have, which only creates that raced make
// (Options.CustomIDRaces): the real service answers such a create with
// the code MultipleIdentitiesForCustomId; its status is not public, and
// 409 is our assumption (see the package documentation).
func (c *call) multipleForCustomID(customID string, n int) {
	c.fail(http.StatusConflict, "MultipleIdentitiesForCustomId",
		fmt.Sprintf("There are %d identities with the custom ID '%s', so it does not name one identity; a create with it fails until all but one of them are deleted.", n, customID), "")
}

// get is GET /identities/{id} (preview).
func (c *call) get() {
	if !c.commit() { // never report a change that is not saved yet
		return
	}
	if !c.owned(c.params[0]) {
		return
	}
	it, ok := c.e.store.get(c.params[0])
	if !ok {
		c.notFound(c.params[0])
		return
	}
	c.writeJSON(http.StatusOK, c.wireIdentity(it))
}

// delete is DELETE /identities/{id}.
func (c *call) delete() {
	id := c.params[0]
	if !c.owned(id) {
		return
	}
	if !c.e.store.remove(id, c.e.now()) {
		c.notFound(id)
		return
	}
	if c.commit() {
		c.noContent()
	}
}

// issueToken is POST /identities/{id}/:issueAccessToken.
func (c *call) issueToken() {
	// Ownership is an authorization check: it comes before the body's
	// validation, as ASP.NET's filters order them.
	if !c.owned(c.params[0]) {
		return
	}
	var req wire.IssueTokenRequest
	if !c.decode(&req) {
		return
	}
	if len(req.Scopes) == 0 {
		if modernValidation(c.version) {
			c.validation("scopes", "Invalid scopes - Scopes field is required.")
		} else {
			c.validation("Scopes", "Scopes: The Scopes field is required.")
		}
		return
	}
	scopes, ok := c.validScopes(req.Scopes, "Scopes")
	if !ok {
		return
	}
	life, ok := c.lifetime(req.ExpiresInMinutes)
	if !ok {
		return
	}
	e, id, now := c.e, c.params[0], c.e.now()
	var tok issued
	if !e.store.with(id, func(p *identity) { tok = e.stamp(p, now, life) }) {
		c.notFound(id)
		return
	}
	t := e.token(id, scopes, tok)
	if !c.commit() {
		return
	}
	c.writeToken(t)
}

// writeToken writes a CommunicationIdentityAccessToken without reflection
// (it is the hot path).
func (c *call) writeToken(t *wire.AccessToken) {
	b := make([]byte, 0, len(t.Token)+64)
	b = append(b, `{"token":"`...)
	b = append(b, t.Token...)
	b = append(b, `","expiresOn":"`...)
	b = t.ExpiresOn.UTC().AppendFormat(b, wire.TimeLayout)
	b = append(b, `"}`...)
	c.writeRaw(http.StatusOK, b)
}

// revoke is POST /identities/{id}/:revokeAccessTokens.
func (c *call) revoke() {
	e, id, now := c.e, c.params[0], c.e.now()
	if !c.owned(id) {
		return
	}
	if !e.store.with(id, func(p *identity) {
		p.revokedSeq = e.tokenSeq.Load()
		p.revokedAt = now
	}) {
		c.notFound(id)
		return
	}
	if c.commit() {
		c.noContent()
	}
}

// IdentityInfo is what Identities reports about one identity.
type IdentityInfo struct {
	// ID is the raw ID, such as 8:acs:<resource>_<unique>.
	ID string
	// CustomID is the custom ID the identity was made with, if any.
	CustomID string
	// Deleted reports whether the identity was deleted.
	Deleted bool
}

// Identities returns every identity the emulator holds, deleted ones
// included, sorted by ID. The service has no such operation; it is for
// tests, for example to check that a client that retried a create did not
// make a second identity.
func (e *Emulator) Identities() []IdentityInfo {
	all := e.store.all()
	out := make([]IdentityInfo, len(all))
	for i, it := range all {
		out[i] = IdentityInfo{ID: it.id, CustomID: it.customID, Deleted: it.deleted}
	}
	return out
}
