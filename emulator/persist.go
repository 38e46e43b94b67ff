package emulator

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
)

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

	lock *dataLock // held until close
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
	if err := writeFileAtomic(p.path, b); err != nil {
		return err
	}
	// The save replaced the file: lock the new one. This cannot fail
	// but for a lack of file descriptors, and the save itself is done,
	// so a failure only leaves the lock on the file's name.
	p.lock.follow(p.path)
	return nil
}

// close saves what is pending and releases the data file.
func (p *persister) close() error {
	err := p.sync()
	p.lock.release()
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
	st := savedState{
		ResourceID: e.resourceID,
		SigningKey: e.signer.priv.Seed(),
	}
	var revoked uint64
	for _, it := range e.store.all() {
		st.Identities = append(st.Identities, savedIdentity{
			ID: it.id, CustomID: it.customID, Created: it.created, LastIssued: it.lastIssued,
			RevokedAt: it.revokedAt, RevokedSeq: it.revokedSeq, Deleted: it.deleted, DeletedAt: it.deletedAt,
		})
		revoked = max(revoked, it.revokedSeq)
	}
	// The token sequence is read after the identities: a revocation
	// copied above holds the sequence number of the latest token issued
	// when it was made, which may be newer than a sequence read before
	// them. Saved lower than a revocation, the sequence would after a
	// restart number new tokens that count as revoked already.
	st.TokenSeq = max(e.tokenSeq.Load(), revoked)
	s := e.store
	s.assignMu.RLock()
	for _, a := range s.teams {
		st.Teams = append(st.Teams, a)
	}
	for _, a := range s.entra {
		st.Entra = append(st.Entra, a)
	}
	s.assignMu.RUnlock()
	return encodeDataFile(&st)
}

var errDataFileInUse = errors.New("the data file is in use by another emulator")

// openDataFile loads path, or creates it with a fresh signing key. A
// symbolic link is followed: the file it leads to is locked and written.
func (e *Emulator) openDataFile(path string) (err error) {
	file, err := resolveDataFile(path)
	if err != nil {
		return fmt.Errorf("emulator: data file %s: %w", path, err)
	}
	name := path
	if abs, _ := filepath.Abs(path); abs != file {
		name = path + " (" + file + ")"
	}
	lock, err := lockDataFile(file)
	if err != nil {
		return fmt.Errorf("emulator: data file %s: %w", name, err)
	}
	defer func() {
		if err != nil {
			lock.release()
		}
	}()
	p := &persister{path: file, snapshot: e.snapshot, lock: lock}
	p.cond = sync.NewCond(&p.mu)
	b, err := os.ReadFile(file)
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
			return fmt.Errorf("emulator: data file %s: %w", name, err)
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
	df, err := decodeDataFile(b)
	if err != nil {
		return err
	}
	if !strings.EqualFold(df.ResourceID, e.resourceID) {
		return fmt.Errorf("it belongs to resource ID %s, not %s", df.ResourceID, e.resourceID)
	}
	s, err := newSigner(df.SigningKey)
	if err != nil {
		return err
	}
	e.signer = s
	// A file saved by an emulator before the token sequence was read last
	// can hold a revocation above it; start above every revocation.
	seq := df.TokenSeq
	st := e.store
	for _, si := range df.Identities {
		it := &identity{id: si.ID, customID: si.CustomID, created: si.Created, lastIssued: si.LastIssued,
			revokedAt: si.RevokedAt, revokedSeq: si.RevokedSeq, deleted: si.Deleted, deletedAt: si.DeletedAt}
		st.shard(it.id).m[it.id] = it
		if it.customID != "" && !it.deleted {
			st.custom[it.customID] = it.id
		}
		seq = max(seq, si.RevokedSeq)
	}
	e.tokenSeq.Store(seq)
	for _, a := range df.Teams {
		st.teams[teamsKey{a.TenantID, a.ObjectID}] = a
	}
	for _, a := range df.Entra {
		st.entra[a.ObjectID] = a
	}
	return nil
}
