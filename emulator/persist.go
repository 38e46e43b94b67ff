package emulator

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/acsgo/acsidentity/internal/wire"
)

// dataFormat is the version of the data file layout.
const dataFormat = 1

// dataFile is the saved state. It holds the token signing key, so the file
// is created with mode 0600.
type dataFile struct {
	Format     int                             `json:"format"`
	ResourceID string                          `json:"resourceId"`
	SigningKey []byte                          `json:"signingKeySeed"`
	TokenSeq   uint64                          `json:"tokenSeq"`
	Identities []savedIdentity                 `json:"identities"`
	Teams      []wire.TeamsExtensionAssignment `json:"teamsExtensionAssignments"`
	Entra      []wire.EntraAssignment          `json:"entraAssignments"`
}

type savedIdentity struct {
	ID         string    `json:"id"`
	CustomID   string    `json:"customId,omitempty"`
	Created    time.Time `json:"created"`
	LastIssued time.Time `json:"lastTokenIssuedAt,omitzero"`
	RevokedAt  time.Time `json:"revokedAt,omitzero"`
	RevokedSeq uint64    `json:"revokedSeq,omitempty"`
	Deleted    bool      `json:"deleted,omitempty"`
	DeletedAt  time.Time `json:"deletedAt,omitzero"`
}

// persister saves the state with group commit: every change bumps want;
// a request that must not be acknowledged before its change is saved calls
// sync, and one of the waiting requests writes a snapshot that covers all
// changes made so far while the others wait for it.
type persister struct {
	path     string
	snapshot func() ([]byte, error)
	want     atomic.Uint64

	mu         sync.Mutex
	cond       *sync.Cond
	done       uint64
	writing    bool
	failGen    uint64
	failedUpTo uint64
	failErr    error

	lock *os.File // held until close
}

func (p *persister) mark() { p.want.Add(1) }

// sync returns once every change made before the call is on disk.
func (p *persister) sync() error {
	seq := p.want.Load()
	p.mu.Lock()
	defer p.mu.Unlock()
	gen := p.failGen
	for p.done < seq {
		if p.failGen != gen && p.failedUpTo >= seq {
			return p.failErr
		}
		if p.writing {
			p.cond.Wait()
			continue
		}
		p.writing = true
		target := p.want.Load()
		p.mu.Unlock()
		err := p.write()
		p.mu.Lock()
		p.writing = false
		p.cond.Broadcast()
		if err != nil {
			p.failGen++
			p.failedUpTo, p.failErr = target, err
			return err
		}
		if target > p.done {
			p.done = target
		}
	}
	return nil
}

func (p *persister) write() error {
	b, err := p.snapshot()
	if err != nil {
		return err
	}
	return writeFileAtomic(p.path, b)
}

// close saves what is pending and releases the data file.
func (p *persister) close() error {
	err := p.sync()
	if p.lock != nil {
		p.lock.Close()
	}
	return err
}

// writeFileAtomic replaces path with data: a temporary file in the same
// directory is written, synced and renamed over path, then the directory is
// synced so that the rename itself is durable.
func writeFileAtomic(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if _, err = f.Write(data); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(f.Name(), path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err = d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return err
	}
	return nil
}

// snapshot serialises the whole state.
func (e *Emulator) snapshot() ([]byte, error) {
	df := dataFile{
		Format:     dataFormat,
		ResourceID: e.resourceID,
		SigningKey: e.signer.priv.Seed(),
		TokenSeq:   e.tokenSeq.Load(),
	}
	for _, it := range e.store.all() {
		df.Identities = append(df.Identities, savedIdentity{
			ID: it.id, CustomID: it.customID, Created: it.created, LastIssued: it.lastIssued,
			RevokedAt: it.revokedAt, RevokedSeq: it.revokedSeq, Deleted: it.deleted, DeletedAt: it.deletedAt,
		})
	}
	st := e.store
	st.assignMu.RLock()
	for _, a := range st.teams {
		df.Teams = append(df.Teams, a)
	}
	for _, a := range st.entra {
		df.Entra = append(df.Entra, a)
	}
	st.assignMu.RUnlock()
	return json.MarshalIndent(df, "", " ")
}

var errDataFileInUse = errors.New("the data file is in use by another emulator")

// openDataFile loads path, or creates it with a fresh signing key.
func (e *Emulator) openDataFile(path string) (err error) {
	lock, err := lockFile(path)
	if err != nil {
		return fmt.Errorf("emulator: data file %s: %w", path, err)
	}
	defer func() {
		if err != nil && lock != nil {
			lock.Close()
		}
	}()
	p := &persister{path: path, snapshot: e.snapshot, lock: lock}
	p.cond = sync.NewCond(&p.mu)
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		s, err := newSigner(nil)
		if err != nil {
			return err
		}
		e.signer = s
	case err != nil:
		return fmt.Errorf("emulator: reading data file: %w", err)
	default:
		if err := e.load(b); err != nil {
			return fmt.Errorf("emulator: data file %s: %w", path, err)
		}
	}
	e.persist = p
	e.store.dirty = p.mark
	p.mark()
	if err := p.sync(); err != nil {
		return fmt.Errorf("emulator: writing data file: %w", err)
	}
	return nil
}

func (e *Emulator) load(b []byte) error {
	var df dataFile
	if err := json.Unmarshal(b, &df); err != nil {
		return fmt.Errorf("not an emulator data file: %w", err)
	}
	if df.Format != dataFormat {
		return fmt.Errorf("unsupported format %d", df.Format)
	}
	if !strings.EqualFold(df.ResourceID, e.resourceID) {
		return fmt.Errorf("it belongs to resource ID %s, not %s", df.ResourceID, e.resourceID)
	}
	s, err := newSigner(df.SigningKey)
	if err != nil {
		return err
	}
	e.signer = s
	e.tokenSeq.Store(df.TokenSeq)
	st := e.store
	for _, si := range df.Identities {
		it := &identity{id: si.ID, customID: si.CustomID, created: si.Created, lastIssued: si.LastIssued,
			revokedAt: si.RevokedAt, revokedSeq: si.RevokedSeq, deleted: si.Deleted, deletedAt: si.DeletedAt}
		st.shard(it.id).m[it.id] = it
		if it.customID != "" && !it.deleted {
			st.custom[it.customID] = it.id
		}
	}
	for _, a := range df.Teams {
		st.teams[teamsKey{a.TenantID, a.ObjectID}] = a
	}
	for _, a := range df.Entra {
		st.entra[a.ObjectID] = a
	}
	return nil
}
