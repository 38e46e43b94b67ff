package tokenservice

import (
	"context"
	"sync"
)

// IdentityStore records which ACS identity belongs to which caller, shared by all replicas.
//
// With a store (Options.Identities) a caller's first token request makes
// an ACS identity without a custom ID and records it; every later request,
// on any replica that shares the store, gets tokens for the recorded
// identity. This works with every api-version, GA included, and does not
// rest on ACS making creates with one custom ID atomic (it does not).
// Ready stores: packages github.com/acsgo/acsidentity/tokenservice/redisstore
// (Redis) and github.com/acsgo/acsidentity/tokenservice/sqlstore
// (database/sql: PostgreSQL, SQLite, ...); NewMemoryIdentityStore for one
// instance.
//
// caller is a key the Service derives from the Caller: printable ASCII, 1
// to 256 bytes, the same on every replica (with the same
// Options.CustomIDKey), and never the caller ID in clear (it is the
// caller's custom ID, a hash of it: see CustomIDPrefix). id is an ACS
// communication user ID ("8:acs:..."). The Service calls a store with a
// deadline of at most 5 seconds; an error, or a deadline that passes,
// refuses the request with 503 IdentityStoreUnavailable and Retry-After,
// and is logged at Error.
type IdentityStore interface {
	// Identity returns the ACS communication user ID recorded for caller, or "" and a nil error when none is.
	Identity(ctx context.Context, caller string) (string, error)
	// Record records id for caller unless an ID is already recorded; it returns the recorded ID,
	// which is id when this call won and the earlier one when another call won. Atomic on the server.
	Record(ctx context.Context, caller, id string) (string, error)
	// Forget removes caller's record if (and only if) it still names id; no record is not an error. Atomic.
	Forget(ctx context.Context, caller, id string) error
}

// MemoryIdentityStore is an IdentityStore in the memory of one process,
// for a single instance and for tests. It forgets everything when the
// process stops: every caller then gets a new ACS identity, and the old
// ones stay in the ACS resource, unused. Several instances need a shared
// store (package redisstore or sqlstore). It is safe for concurrent use.
type MemoryIdentityStore struct {
	mu  sync.Mutex
	ids map[string]string
}

// NewMemoryIdentityStore returns an empty MemoryIdentityStore.
func NewMemoryIdentityStore() *MemoryIdentityStore {
	return &MemoryIdentityStore{ids: make(map[string]string)}
}

// Identity returns the ID recorded for caller, or "".
func (s *MemoryIdentityStore) Identity(_ context.Context, caller string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ids[caller], nil
}

// Record records id for caller unless an ID is recorded, and returns the
// recorded ID.
func (s *MemoryIdentityStore) Record(_ context.Context, caller, id string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.ids[caller]; ok {
		return old, nil
	}
	s.ids[caller] = id
	return id, nil
}

// Forget removes caller's record if it names id.
func (s *MemoryIdentityStore) Forget(_ context.Context, caller, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ids[caller] == id {
		delete(s.ids, caller)
	}
	return nil
}

// Len returns how many callers have a record.
func (s *MemoryIdentityStore) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.ids)
}
