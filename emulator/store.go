package emulator

import (
	"errors"
	"hash/maphash"
	"sort"
	"sync"
	"time"

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
	custom   map[string]string // customId -> id (live identities only)

	assignMu sync.RWMutex
	teams    map[teamsKey]wire.TeamsExtensionAssignment
	entra    map[string]wire.EntraAssignment // objectId (lower case) -> assignment

	// journal, when there is a data file, is called with the lock that
	// guards a change still held, after every change, with the change as
	// the data file records it; the locks put the calls in the order the
	// changes were made.
	journal func(change)
}

// changed reports a change to the journal, if there is one.
func (s *store) changed(ch change) {
	if s.journal != nil {
		s.journal(ch)
	}
}

// identityChanged reports the new state of it to the journal, if there
// is one.
func (s *store) identityChanged(it *identity) {
	if s.journal != nil {
		s.journal(change{Identity: savedOf(it)})
	}
}

type teamsKey struct{ tenant, object string }

func newStore() *store {
	s := &store{
		seed:   maphash.MakeSeed(),
		custom: map[string]string{},
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
	if it.customID != "" && s.custom[it.customID] == id {
		delete(s.custom, it.customID)
	}
	s.identityChanged(it)
	return true
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
