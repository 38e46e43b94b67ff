package emulator

import (
	"container/heap"
	"errors"
	"fmt"
	"hash/maphash"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/acsgo/acsidentity/emulator/internal/datafile"
	"github.com/acsgo/acsidentity/internal/wire"
)

var errBadSeed = errors.New("emulator: the saved signing key is not a 32-byte Ed25519 seed")

// identity is one ACS identity. Deleted identities stay as tombstones so
// that their tokens report "deleted".
type identity struct {
	id         string
	customID   string
	created    time.Time
	lastIssued time.Time // zero: never
	revokedAt  time.Time
	revokedSeq uint64 // tokens with a sequence number <= revokedSeq are revoked
	deleted    bool
	deletedAt  time.Time
}

const shardCount = 64

type shard struct {
	mu sync.RWMutex
	m  map[string]*identity
}

// store holds the emulator's state. Identities are sharded by ID so that
// token issues for different identities do not contend; custom IDs and
// assignments have locks of their own. Lock order: customMu, then a shard.
type store struct {
	seed   maphash.Seed
	shards [shardCount]shard

	customMu sync.Mutex
	// custom maps a custom ID to the live identities that have it, in the
	// order they were made (or loaded). It is one, except where creates
	// raced (raceWindow) and made several.
	custom map[string][]string
	// raceWindow, when above zero, makes creates with a custom ID race as
	// the real service's do (Options.CustomIDRaces): see create.
	raceWindow time.Duration

	assignMu sync.RWMutex
	teams    map[teamsKey]wire.TeamsExtensionAssignment
	entra    map[string]wire.EntraAssignment // objectId (lower case) -> assignment
	// issuerKey is the OIDC issuer's key (PKCS #8), nil until made;
	// guarded by assignMu.
	issuerKey []byte

	// journal, when there is a data file, is called with the lock that
	// guards a change still held, after every change, with the change as
	// the data file records it; the locks put the calls in the order the
	// changes were made.
	journal func(datafile.Change)
}

// changed reports a change to the journal, if there is one.
func (s *store) changed(ch datafile.Change) {
	if s.journal != nil {
		s.journal(ch)
	}
}

// identityChanged reports the new state of it to the journal, if there
// is one.
func (s *store) identityChanged(it *identity) {
	if s.journal != nil {
		s.journal(datafile.Change{Identity: savedOf(it)})
	}
}

type teamsKey struct{ tenant, object string }

func newStore() *store {
	s := &store{
		seed:   maphash.MakeSeed(),
		custom: map[string][]string{},
		teams:  map[teamsKey]wire.TeamsExtensionAssignment{},
		entra:  map[string]wire.EntraAssignment{},
	}
	for i := range s.shards {
		s.shards[i].m = map[string]*identity{}
	}
	return s
}

func (s *store) shard(id string) *shard {
	return &s.shards[maphash.String(s.seed, id)%shardCount]
}

// add inserts a new identity. The caller guarantees id is fresh.
func (s *store) add(it *identity) {
	sh := s.shard(it.id)
	sh.mu.Lock()
	sh.m[it.id] = it
	s.identityChanged(it)
	sh.mu.Unlock()
}

// snapshotIdentity is a copy of an identity taken under its lock.
func (s *store) get(id string) (identity, bool) {
	sh := s.shard(id)
	sh.mu.RLock()
	it, ok := sh.m[id]
	var out identity
	if ok {
		out = *it
	}
	sh.mu.RUnlock()
	return out, ok && !out.deleted
}

// with runs fn on a live identity under its shard's write lock and reports
// whether the identity exists and is not deleted.
func (s *store) with(id string, fn func(*identity)) bool {
	sh := s.shard(id)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	it, ok := sh.m[id]
	if !ok || it.deleted {
		return false
	}
	fn(it)
	s.identityChanged(it)
	return true
}

// getOrCreate returns the live identity id, creating it with fn if it does
// not exist (or was deleted, in which case older tokens stay revoked).
func (s *store) getOrCreate(id string, now time.Time, seq func() uint64, fn func(*identity)) {
	sh := s.shard(id)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	it, ok := sh.m[id]
	if !ok || it.deleted {
		n := &identity{id: id, created: now}
		if ok {
			n.revokedSeq, n.revokedAt = seq(), now
		}
		sh.m[id] = n
		it = n
	}
	fn(it)
	s.identityChanged(it)
}

// create makes an identity and returns a copy of it, taken after fn ran
// on it with the time of the create (under its lock, to stamp a token,
// say). With a custom ID it returns the live identity that has it, if
// there is one, rather than make another; if several live identities
// have it, it makes nothing and returns their number (a create answers
// 409 MultipleIdentitiesForCustomId then). newID names a new identity.
//
// By default a create with a custom ID is atomic: it looks the custom ID
// up and makes the identity under customMu. With a raceWindow, as on the
// real service, it is not: a create that finds no live identity with the
// custom ID releases the lock, waits raceWindow and then makes one
// whatever happened meanwhile, so every create with that custom ID that
// looked it up during the wait makes its own identity too. Creates with
// other custom IDs, and without one, never wait for it.
func (s *store) create(customID string, clock func() time.Time, newID func() string, fn func(*identity, time.Time)) (identity, int) {
	var out identity
	if customID == "" {
		now := clock()
		p := &identity{id: newID(), created: now}
		fn(p, now)
		out = *p
		s.add(p)
		return out, 0
	}
	s.customMu.Lock()
	ids := s.custom[customID]
	if len(ids) == 0 && s.raceWindow > 0 {
		s.customMu.Unlock()
		time.Sleep(s.raceWindow)
		s.customMu.Lock()
		ids = nil // whatever other creates made meanwhile: this one did not see it
	}
	defer s.customMu.Unlock()
	var id string
	now := clock()
	switch len(ids) {
	case 0:
		id = newID()
		s.custom[customID] = append(s.custom[customID], id)
		s.add(&identity{id: id, customID: customID, created: now})
	case 1:
		id = ids[0]
	default:
		return identity{}, len(ids)
	}
	s.with(id, func(p *identity) {
		fn(p, now)
		out = *p
	})
	return out, 0
}

// seedIdentity creates the identity id with customID (either may be
// empty, not both; newID names it when id is) unless it exists, deleted
// or not, or its custom ID names a live identity already. It returns a
// copy of the identity that now has the ID or custom ID (the oldest, if
// creates that raced gave the custom ID several), and an error if the two
// name different identities.
func (s *store) seedIdentity(id, customID string, now time.Time, newID func() string) (identity, error) {
	s.customMu.Lock()
	defer s.customMu.Unlock()
	if customID != "" {
		if have := s.custom[customID]; len(have) > 0 {
			if id != "" {
				if !slices.Contains(have, id) {
					return identity{}, fmt.Errorf("custom ID %q already names %s, not %s", customID, strings.Join(have, " and "), id)
				}
				it, _ := s.lookup(id)
				return it, nil
			}
			return s.oldest(have), nil
		}
	}
	if id != "" {
		if it, ok := s.lookup(id); ok {
			if customID != "" && it.customID != customID {
				return identity{}, fmt.Errorf("identity %s exists without custom ID %q", id, customID)
			}
			return it, nil
		}
	} else {
		id = newID()
	}
	it := &identity{id: id, customID: customID, created: now}
	if customID != "" {
		s.custom[customID] = append(s.custom[customID], id)
	}
	s.add(it)
	return *it, nil
}

// oldest returns a copy of the identity of ids made first (the smallest
// ID of those made at the same time).
func (s *store) oldest(ids []string) identity {
	var out identity
	for i, id := range ids {
		it, _ := s.lookup(id)
		if i == 0 || it.created.Before(out.created) || it.created.Equal(out.created) && it.id < out.id {
			out = it
		}
	}
	return out
}

// lookup returns a copy of the identity id, deleted or not.
func (s *store) lookup(id string) (identity, bool) {
	sh := s.shard(id)
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	it, ok := sh.m[id]
	if !ok {
		return identity{}, false
	}
	return *it, true
}

// lockAll takes every lock of the store, in order, and returns the
// function that releases them.
func (s *store) lockAll() func() {
	s.customMu.Lock()
	for i := range s.shards {
		s.shards[i].mu.Lock()
	}
	s.assignMu.Lock()
	return func() {
		s.assignMu.Unlock()
		for i := range s.shards {
			s.shards[i].mu.Unlock()
		}
		s.customMu.Unlock()
	}
}

// reset removes every identity (tombstones too), custom ID and
// assignment.
func (s *store) reset() {
	defer s.lockAll()()
	for i := range s.shards {
		clear(s.shards[i].m)
	}
	clear(s.custom)
	clear(s.teams)
	clear(s.entra)
	s.changed(datafile.Change{Reset: true})
}

// setIssuerKey records the OIDC issuer's new key (PKCS #8) and runs set,
// which installs it, under the lock that orders it with the state copies.
func (s *store) setIssuerKey(der []byte, set func()) {
	s.assignMu.Lock()
	defer s.assignMu.Unlock()
	set()
	s.issuerKey = der
	s.changed(datafile.Change{IssuerKey: der})
}

// remove marks id deleted. It reports whether a live identity was deleted.
func (s *store) remove(id string, now time.Time) bool {
	s.customMu.Lock()
	defer s.customMu.Unlock()
	sh := s.shard(id)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	it, ok := sh.m[id]
	if !ok || it.deleted {
		return false
	}
	it.deleted, it.deletedAt = true, now
	if it.customID != "" {
		s.dropCustom(it.customID, id)
	}
	s.identityChanged(it)
	return true
}

// dropCustom takes id off the identities that have customID; customMu
// is held.
func (s *store) dropCustom(customID, id string) {
	ids := slices.DeleteFunc(s.custom[customID], func(x string) bool { return x == id })
	if len(ids) == 0 {
		delete(s.custom, customID)
	} else {
		s.custom[customID] = ids
	}
}

type tokenState int

const (
	stateLive tokenState = iota
	stateUnknown
	stateDeleted
	stateRevoked
)

func (s *store) tokenState(id string, seq uint64) tokenState {
	sh := s.shard(id)
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	it, ok := sh.m[id]
	switch {
	case !ok:
		return stateUnknown
	case it.deleted:
		return stateDeleted
	case seq <= it.revokedSeq:
		return stateRevoked
	}
	return stateLive
}

// all returns copies of every identity, tombstones included, sorted by ID.
func (s *store) all() []identity {
	var out []identity
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.RLock()
		for _, it := range sh.m {
			out = append(out, *it)
		}
		sh.mu.RUnlock()
	}
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out
}

// page returns copies of the first n identities, in ID order, whose IDs
// sort after id (from the first with id empty), tombstones only if deleted
// is set. It keeps the n smallest in a heap as it scans, so a page costs a
// scan of the store, not a sort of it.
func (s *store) page(id string, n int, deleted bool) []identity {
	h := &idHeap{}
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.RLock()
		for k, it := range sh.m {
			if k <= id || (!deleted && it.deleted) {
				continue
			}
			if h.Len() < n {
				heap.Push(h, *it)
			} else if k < (*h)[0].id {
				(*h)[0] = *it
				heap.Fix(h, 0)
			}
		}
		sh.mu.RUnlock()
	}
	out := []identity(*h)
	slices.SortFunc(out, func(a, b identity) int { return strings.Compare(a.id, b.id) })
	return out
}

// idHeap is a max-heap of identities by ID.
type idHeap []identity

func (h idHeap) Len() int           { return len(h) }
func (h idHeap) Less(i, j int) bool { return h[i].id > h[j].id }
func (h idHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *idHeap) Push(x any)        { *h = append(*h, x.(identity)) }
func (h *idHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// copyTo copies every identity and assignment, and the issuer's key, into
// st with every lock held, runs during under them too (to read what must
// match the copy exactly), and returns the highest revocation sequence.
func (s *store) copyTo(st *datafile.State, during func()) uint64 {
	defer s.lockAll()()
	total := 0
	for i := range s.shards {
		total += len(s.shards[i].m)
	}
	st.IssuerKey = s.issuerKey
	st.Identities = make([]datafile.Identity, 0, total)
	st.Teams = make([]wire.TeamsExtensionAssignment, 0, len(s.teams))
	st.Entra = make([]wire.EntraAssignment, 0, len(s.entra))
	var revoked uint64
	for i := range s.shards {
		for _, it := range s.shards[i].m {
			st.Identities = append(st.Identities, *savedOf(it))
			revoked = max(revoked, it.revokedSeq)
		}
	}
	for _, a := range s.teams {
		st.Teams = append(st.Teams, a)
	}
	for _, a := range s.entra {
		st.Entra = append(st.Entra, a)
	}
	during()
	return revoked
}

// load fills the store, which is new, from a saved state and returns the
// highest revocation sequence.
func (s *store) load(st *datafile.State) uint64 {
	defer s.lockAll()()
	var revoked uint64
	for _, si := range st.Identities {
		it := &identity{id: si.ID, customID: si.CustomID, created: si.Created, lastIssued: si.LastIssued,
			revokedAt: si.RevokedAt, revokedSeq: si.RevokedSeq, deleted: si.Deleted, deletedAt: si.DeletedAt}
		s.shard(it.id).m[it.id] = it
		if it.customID != "" && !it.deleted {
			s.custom[it.customID] = append(s.custom[it.customID], it.id)
		}
		revoked = max(revoked, si.RevokedSeq)
	}
	for _, a := range st.Teams {
		s.teams[teamsKey{a.TenantID, a.ObjectID}] = a
	}
	for _, a := range st.Entra {
		s.entra[a.ObjectID] = a
	}
	s.issuerKey = st.IssuerKey
	return revoked
}

// savedOf is the saved form of it.
func savedOf(it *identity) *datafile.Identity {
	return &datafile.Identity{
		ID: it.id, CustomID: it.customID, Created: it.created, LastIssued: it.lastIssued,
		RevokedAt: it.revokedAt, RevokedSeq: it.revokedSeq, Deleted: it.deleted, DeletedAt: it.deletedAt,
	}
}

// count returns the number of live identities.
func (s *store) count() int {
	n := 0
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.RLock()
		for _, it := range sh.m {
			if !it.deleted {
				n++
			}
		}
		sh.mu.RUnlock()
	}
	return n
}
