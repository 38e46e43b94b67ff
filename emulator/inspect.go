package emulator

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/acsgo/acsidentity/emulator/internal/datafile"
)

// Inspection and reset endpoints. They are not part of ACS and need no
// credentials; they answer only requests that reached the emulator on a
// loopback address unless Options.AllowRemoteInspection is set.
const (
	// IdentitiesPath answers GET with a page of identities
	// ({"value":[...],"nextLink":"..."}; query maxPageSize, after and
	// includeDeleted=true), and GET IdentitiesPath/{id} with one.
	IdentitiesPath = "/.emulator/identities"
	// ResetPath answers POST by removing every identity and assignment
	// (Emulator.Reset), in the data file too, and 204.
	ResetPath = "/.emulator/reset"
	// SeedPath answers POST {"identities":[...]} as Emulator.Seed does,
	// with the identities seeded.
	SeedPath = "/.emulator/seed"
)

const (
	defaultInspectPage = 100
	maxInspectPage     = 1000
)

// IdentityRecord is what the emulator holds about one identity.
type IdentityRecord struct {
	// ID is the raw ID, such as 8:acs:<resource>_<unique>.
	ID string `json:"id"`
	// CustomID is the custom ID it was made with, if any.
	CustomID string `json:"customId,omitempty"`
	// CreatedOn is when it was made.
	CreatedOn time.Time `json:"createdOn"`
	// LastTokenIssuedOn is when a token was last issued for it (zero:
	// never).
	LastTokenIssuedOn time.Time `json:"lastTokenIssuedOn,omitzero"`
	// TokensRevokedOn is when its tokens were last revoked (zero: never).
	TokensRevokedOn time.Time `json:"tokensRevokedOn,omitzero"`
	// DeletedOn is when it was deleted (zero: it is live).
	DeletedOn time.Time `json:"deletedOn,omitzero"`
}

func recordOf(it *identity) IdentityRecord {
	r := IdentityRecord{ID: it.id, CustomID: it.customID, CreatedOn: it.created.UTC(),
		LastTokenIssuedOn: it.lastIssued.UTC(), TokensRevokedOn: it.revokedAt.UTC()}
	if it.deleted {
		r.DeletedOn = it.deletedAt.UTC()
		if r.DeletedOn.IsZero() { // a tombstone saved without its time
			r.DeletedOn = r.CreatedOn
		}
	}
	return r
}

// ListIdentitiesOptions selects a page of ListIdentities.
type ListIdentitiesOptions struct {
	// After is the ID the page starts after (IdentityPage.Next of the
	// page before); empty means the first page.
	After string
	// MaxPageSize is the most identities on the page, 1 to 1000. 0 means
	// 100.
	MaxPageSize int
	// IncludeDeleted lists deleted identities too.
	IncludeDeleted bool
}

// IdentityPage is one page of ListIdentities.
type IdentityPage struct {
	// Identities are sorted by ID.
	Identities []IdentityRecord
	// Next is the After of the next page, or empty on the last page.
	Next string
}

// ListIdentities returns a page of the identities the emulator holds,
// sorted by ID. It is what GET /.emulator/identities answers.
func (e *Emulator) ListIdentities(opts *ListIdentitiesOptions) (IdentityPage, error) {
	var o ListIdentitiesOptions
	if opts != nil {
		o = *opts
	}
	switch {
	case o.MaxPageSize == 0:
		o.MaxPageSize = defaultInspectPage
	case o.MaxPageSize < 0 || o.MaxPageSize > maxInspectPage:
		return IdentityPage{}, fmt.Errorf("emulator: MaxPageSize is %d, want 1 to %d", o.MaxPageSize, maxInspectPage)
	}
	ids := e.store.page(o.After, o.MaxPageSize+1, o.IncludeDeleted)
	var page IdentityPage
	if len(ids) > o.MaxPageSize {
		ids = ids[:o.MaxPageSize]
		page.Next = ids[len(ids)-1].id
	}
	page.Identities = make([]IdentityRecord, len(ids))
	for i := range ids {
		page.Identities[i] = recordOf(&ids[i])
	}
	return page, nil
}

// Identity returns what the emulator holds about the identity id,
// deleted or not, and whether it holds it at all.
func (e *Emulator) Identity(id string) (IdentityRecord, bool) {
	it, ok := e.store.lookup(id)
	if !ok {
		return IdentityRecord{}, false
	}
	return recordOf(&it), true
}

// Reset removes every identity (deleted ones too, so their tokens become
// invalid rather than deleted), custom ID and assignment, and returns once
// that is saved when there is a data file. The signing keys stay, and
// with them the token sequence, so no token issued before the reset is
// ever valid again. It is what POST /.emulator/reset does.
func (e *Emulator) Reset() error {
	e.store.reset()
	if e.persist != nil {
		return e.persist.Sync()
	}
	return nil
}

// SeedIdentity is one identity for Emulator.Seed.
type SeedIdentity struct {
	// ID is the identity's raw ID, which must have the emulator's prefix
	// 8:acs:<resource ID>_; empty means a new one.
	ID string `json:"id,omitempty"`
	// CustomID is its custom ID, if any.
	CustomID string `json:"customId,omitempty"`
}

// Seed creates each identity unless it exists: an entry with an ID is
// skipped if the emulator holds that ID (deleted or not), one with a custom
// ID if a live identity has it, so seeding the same list twice (at every
// start with a data file, say) makes nothing new. An entry with neither
// always makes a new identity. It returns the identities the entries name,
// in their order, once they are saved. An entry that is not valid, or
// whose ID and custom ID name different identities, stops it with an error
// that names the entry; the entries before it are kept.
func (e *Emulator) Seed(ids []SeedIdentity) ([]IdentityRecord, error) {
	out := make([]IdentityRecord, 0, len(ids))
	now := e.now()
	newID := func() string { return e.idPrefix + newUnique() }
	var err error
	for i, s := range ids {
		if err = e.checkSeed(s); err != nil {
			err = fmt.Errorf("emulator: seed identity %d: %w", i+1, err)
			break
		}
		var it identity
		if it, err = e.store.seedIdentity(s.ID, s.CustomID, now, newID); err != nil {
			err = fmt.Errorf("emulator: seed identity %d: %w", i+1, err)
			break
		}
		out = append(out, recordOf(&it))
	}
	if e.persist != nil {
		if serr := e.persist.Sync(); serr != nil {
			return nil, errors.Join(err, serr)
		}
	}
	return out, err
}

func (e *Emulator) checkSeed(s SeedIdentity) error {
	if s.ID != "" {
		unique, ok := strings.CutPrefix(s.ID, e.idPrefix)
		if !ok || unique == "" || strings.ContainsFunc(unique, func(r rune) bool { return r <= ' ' || r == '/' || r == '?' || r == '#' }) {
			return fmt.Errorf("id %q is not %s<unique> (letters, digits, '-' or '_')", s.ID, e.idPrefix)
		}
	}
	if s.CustomID != "" {
		if n := utf8.RuneCountInString(s.CustomID); n > maxCustomIDLength || !utf8.ValidString(s.CustomID) {
			return fmt.Errorf("customId is %d characters or not UTF-8; it must be 1 to %d characters", n, maxCustomIDLength)
		}
	}
	return nil
}

// seedFile is the JSON of a seed file.
type seedFile struct {
	Identities []SeedIdentity `json:"identities"`
}

// ReadSeedFile reads a seed file: {"identities":[{"customId":"alice"},
// {"id":"8:acs:<resource>_<unique>"},{}]}, at most 16 MiB. Unknown fields
// are refused.
func ReadSeedFile(path string) ([]SeedIdentity, error) {
	f, err := datafile.OpenRegular(path, 16<<20)
	if err != nil {
		return nil, fmt.Errorf("emulator: seed file %s: %w", path, err)
	}
	defer f.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(f); err != nil {
		return nil, fmt.Errorf("emulator: seed file %s: %w", path, err)
	}
	ids, err := parseSeed(buf.Bytes())
	if err != nil {
		return nil, fmt.Errorf("emulator: seed file %s: %w", path, err)
	}
	return ids, nil
}

func parseSeed(b []byte) ([]SeedIdentity, error) {
	var sf seedFile
	if err := strictUnmarshal(b, &sf); err != nil {
		return nil, fmt.Errorf(`not {"identities":[{"id":"...","customId":"..."},...]}: %w`, err)
	}
	if sf.Identities == nil {
		return nil, errors.New(`it has no "identities" list`)
	}
	return sf.Identities, nil
}

// inspectionAllowed reports whether the request reached the emulator on a
// loopback address (or in process), or remote inspection is allowed.
func (e *Emulator) inspectionAllowed(r *http.Request) bool {
	if e.remoteInspect {
		return true
	}
	a, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	if !ok {
		return true // called in process, not through a server
	}
	if tcp, ok := a.(*net.TCPAddr); ok {
		return tcp.IP.IsLoopback()
	}
	return a.Network() == "unix"
}

// serveInspection answers the inspection and reset endpoints.
func (e *Emulator) serveInspection(c *call, path string, only func(...string) bool) {
	if !e.inspectionAllowed(c.r) {
		c.fail(http.StatusForbidden, "InspectionNotAllowed", "The emulator's inspection and reset endpoints answer only on a loopback address; start it with -allow-remote-inspection (Options.AllowRemoteInspection) to allow them on this one.", "")
		return
	}
	switch {
	case path == ResetPath:
		if !only(http.MethodPost) {
			return
		}
		if err := e.Reset(); err != nil {
			c.fail(http.StatusInternalServerError, "InternalServerError", "The emulator could not save the reset to its data file.", "")
			return
		}
		c.noContent()
	case path == SeedPath:
		if !only(http.MethodPost) {
			return
		}
		b, ok := c.extensionBody()
		if !ok {
			return
		}
		ids, err := parseSeed(b)
		if err != nil {
			c.validation("identities", "The body is "+err.Error()+".")
			return
		}
		recs, err := e.Seed(ids)
		if err != nil {
			c.validation("identities", strings.TrimPrefix(err.Error(), "emulator: "))
			return
		}
		c.writeJSON(http.StatusOK, map[string]any{"value": recs})
	case path == IdentitiesPath:
		if !only(http.MethodGet, http.MethodHead) {
			return
		}
		q := c.r.URL.Query()
		o := ListIdentitiesOptions{After: q.Get("after"), IncludeDeleted: q.Get("includeDeleted") == "true"}
		if s := q.Get("maxPageSize"); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 || n > maxInspectPage {
				c.validation("maxPageSize", fmt.Sprintf("maxPageSize '%s' is not a number from 1 to %d.", s, maxInspectPage))
				return
			}
			o.MaxPageSize = n
		}
		page, err := e.ListIdentities(&o)
		if err != nil {
			c.validation("maxPageSize", err.Error())
			return
		}
		out := struct {
			Value    []IdentityRecord `json:"value"`
			NextLink string           `json:"nextLink,omitempty"`
		}{Value: page.Identities}
		if page.Next != "" {
			q.Set("after", page.Next)
			scheme := "http"
			if c.r.TLS != nil {
				scheme = "https"
			}
			out.NextLink = scheme + "://" + c.r.Host + IdentitiesPath + "?" + q.Encode()
		}
		c.writeJSON(http.StatusOK, out)
	default:
		if !only(http.MethodGet, http.MethodHead) {
			return
		}
		id, err := url.PathUnescape(strings.TrimPrefix(path, IdentitiesPath+"/"))
		if err != nil {
			c.fail(http.StatusNotFound, "NotFound", "The requested resource was not found.", "")
			return
		}
		rec, ok := e.Identity(id)
		if !ok {
			c.fail(http.StatusNotFound, "IdentityNotFound", fmt.Sprintf("The emulator holds no identity '%s'.", id), "")
			return
		}
		c.writeJSON(http.StatusOK, rec)
	}
}
