package emulator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"

	"github.com/acsgo/acsidentity/internal/wire"
)

// minJournalLimit is the least the journal may grow to before compaction
// when Options.JournalLimit is 0.
const minJournalLimit = 1 << 20

// persister saves the state with group commit. Every change is queued, in
// the order the store's locks put it; a request that must not be
// acknowledged before its change is saved calls sync, and one of the
// waiting requests (the writer) appends every change queued so far to the
// data file and syncs it while the others wait. When the file must be
// written anew (at start, after a failed save, or when it was removed or
// replaced) the writer writes a full copy of the state instead.
type persister struct {
	path     string // the data file, its symbolic links resolved
	name     string // the data file as errors and logs name it
	logger   *slog.Logger
	limit    int64                            // Options.JournalLimit
	tokenSeq func() uint64                    // the token sequence now
	freeze   func() (*savedState, uint64)     // an exact copy of the state, and the changes it covers
	lock     *dataLock                        // held until close
	logf     func(slog.Level, string, ...any) // logs, or does nothing

	// The queue of changes not yet written. qmu is taken with a store
	// lock held.
	qmu    sync.Mutex
	queue  []queued
	queued uint64 // changes queued so far; the last one's number

	// The writer's state: mu guards it, and writing marks who holds the
	// file.
	mu         sync.Mutex
	cond       *sync.Cond
	writing    bool
	durable    uint64 // changes on disk
	failGen    uint64
	failedUpTo uint64
	failErr    error
	failing    bool // the last save failed (logged once)
	compacting bool
	carry      []queued // changes written since compaction began, with their bytes

	// The file; used by whoever is writing.
	f        *os.File // the data file, open for appending
	tip      [32]byte // the sum the next line chains to
	size     int64    // the file's length
	snapSize int64    // the length of its full copy of the state
	rewrite  bool     // the next save writes a full copy
	nextTry  int64    // no compaction before the file is this long
}

// queued is a change waiting to be saved: its number and, once encoded,
// its bytes.
type queued struct {
	n   uint64
	ch  change
	raw []byte
}

// record queues ch; the store calls it with the change's lock held.
func (p *persister) record(ch change) {
	ch.TokenSeq = p.tokenSeq() // read after the change, so at least its tokens'
	p.qmu.Lock()
	p.queued++
	p.queue = append(p.queue, queued{n: p.queued, ch: ch})
	p.qmu.Unlock()
}

// queuedCount is the number of changes queued so far. freeze calls it with
// every store lock held, so that it counts exactly the changes in its copy.
func (p *persister) queuedCount() uint64 {
	p.qmu.Lock()
	defer p.qmu.Unlock()
	return p.queued
}

// sync returns once every change queued before the call is on disk.
func (p *persister) sync() error {
	target := p.queuedCount()
	p.mu.Lock()
	defer p.mu.Unlock()
	gen := p.failGen
	for p.durable < target {
		if p.failGen != gen && p.failedUpTo >= target {
			return p.failErr
		}
		if p.writing {
			p.cond.Wait()
			continue
		}
		p.writing = true
		p.mu.Unlock()
		upTo, err := p.save()
		p.mu.Lock()
		p.writing = false
		p.cond.Broadcast()
		p.noteSave(err)
		if err != nil {
			p.failGen++
			p.failedUpTo, p.failErr = p.queuedCount(), err
			return err
		}
		p.durable = max(p.durable, upTo)
		if p.shouldCompact() {
			p.compacting = true
			go p.compact()
		}
	}
	return nil
}

// noteSave logs when saves start or stop failing. p.mu is held.
func (p *persister) noteSave(err error) {
	switch {
	case err != nil && !p.failing:
		p.logf(slog.LevelError, "the emulator cannot save changes to its data file; they are answered with 500 until it can", "file", p.name, "error", err)
	case err == nil && p.failing:
		p.logf(slog.LevelWarn, "the emulator saves changes to its data file again", "file", p.name)
	}
	p.failing = err != nil
}

// save writes what is queued and returns the number of the last change
// now on disk. The caller is the writer.
func (p *persister) save() (uint64, error) {
	if !p.rewrite {
		switch err := p.checkFile(); {
		case errors.Is(err, errFileReplaced):
			p.logf(slog.LevelWarn, "the data file was removed, replaced or written to while the emulator ran; it is written anew", "file", p.name)
			p.rewrite = true
		case err != nil:
			return 0, err
		}
	}
	if p.rewrite {
		return p.writeCopy()
	}
	p.qmu.Lock()
	batch, last := p.queue, p.queued
	p.queue = nil
	p.qmu.Unlock()
	if len(batch) == 0 {
		return last, nil // every change queued is saved, or covered by a copy
	}
	var buf []byte
	tip := p.tip
	for i := range batch {
		raw, err := encodeChange(&batch[i].ch)
		if err != nil {
			p.rewrite = true // the changes left the queue: a full copy saves them
			return 0, err
		}
		batch[i].raw = raw
		buf, tip = appendLine(buf, tip, raw)
	}
	// The lines first, then where the journal ends: a crash between the
	// two syncs leaves lines past the recorded end, which load (they
	// were never acknowledged, but they check out), never a recorded end
	// past the lines.
	if _, err := p.f.WriteAt(buf, p.size); err != nil {
		p.rewrite = true // the file may end in part of a line
		return 0, err
	}
	if err := p.f.Sync(); err != nil {
		p.rewrite = true
		return 0, err
	}
	size := p.size + int64(len(buf))
	if _, err := p.f.WriteAt(journalEnd(size, tip), journalEndOffset); err != nil {
		p.rewrite = true
		return 0, err
	}
	if err := p.f.Sync(); err != nil {
		p.rewrite = true
		return 0, err
	}
	p.tip, p.size = tip, size
	p.mu.Lock()
	if p.compacting {
		p.carry = append(p.carry, batch...)
	}
	p.mu.Unlock()
	return batch[len(batch)-1].n, nil
}

// shouldCompact reports whether the journal has outgrown its limit and no
// compaction is running. p.mu is held and nobody is writing.
func (p *persister) shouldCompact() bool {
	limit := p.limit
	if limit <= 0 {
		limit = max(p.snapSize, minJournalLimit)
	}
	return !p.compacting && !p.rewrite && p.size-p.snapSize > limit && p.size >= p.nextTry
}

var (
	errFileReplaced = errors.New("the data file was removed, replaced or written to")
	errTooManyLinks = errors.New("the data file has more than one name")
)

// checkFile checks that the data file's name still leads to the file
// being appended to, and that nothing else does. The caller is the writer.
func (p *persister) checkFile() error {
	if p.f == nil {
		return errFileReplaced
	}
	fi, err := p.f.Stat()
	if err != nil {
		return errFileReplaced
	}
	switch n := linkCount(fi); {
	case n == 0:
		return errFileReplaced
	case n > 1:
		return fmt.Errorf("%w: it has %d hard links, made while the emulator ran: every full copy of the state replaces the file, which would leave the other names with a stale copy (and its signing key) that no lock guards, so nothing is saved until the other names are removed", errTooManyLinks, n)
	}
	if pi, err := os.Stat(p.path); err != nil || !os.SameFile(fi, pi) || fi.Size() != p.size {
		return errFileReplaced
	}
	return nil
}

// writeCopy replaces the data file with a full copy of the state and
// returns the number of the last change it covers. The caller is the
// writer.
func (p *persister) writeCopy() (uint64, error) {
	st, n := p.freeze()
	b, sum, err := encodeDataFile(st)
	if err != nil {
		return 0, err
	}
	tmp, err := p.newCopy(b)
	if err != nil {
		return 0, err
	}
	if err := p.install(tmp, sum, int64(len(b)), int64(len(b))); err != nil {
		return 0, err
	}
	p.dropQueued(n)
	p.rewrite = false
	return n, nil
}

// newCopy writes b to a new temporary file next to the data file and
// syncs it.
func (p *persister) newCopy(b []byte) (_ *os.File, err error) {
	f, err := os.CreateTemp(filepath.Dir(p.path), "."+filepath.Base(p.path)+".tmp-*")
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if _, err = f.Write(b); err != nil {
		return nil, err
	}
	if err = f.Sync(); err != nil {
		return nil, err
	}
	return f, nil
}

// install renames tmp, a synced new data file of size bytes whose full
// copy of the state takes snapSize and whose last line's sum is tip, over
// the data file, syncs the directory, and appends to it from then on. The
// old file must have no other name, or the rename would leave that name
// behind. The caller is the writer; tmp is closed in any case.
func (p *persister) install(tmp *os.File, tip [32]byte, size, snapSize int64) error {
	name := tmp.Name()
	err := tmp.Close()
	if err == nil {
		if err = p.checkFile(); errors.Is(err, errFileReplaced) {
			err = nil
		}
	}
	if err != nil {
		os.Remove(name)
		return err
	}
	if closeBeforeRename && p.f != nil {
		p.f.Close()
		p.f, p.rewrite = nil, true
	}
	if err := os.Rename(name, p.path); err != nil {
		os.Remove(name)
		if errors.Is(err, syscall.EBUSY) {
			return fmt.Errorf("%w: the data file is a mount point, as a file mounted into a container is; mount the directory that holds it instead, since every full copy of the state is renamed into place", err)
		}
		return err
	}
	dirErr := syncDir(filepath.Dir(p.path))
	f, err := os.OpenFile(p.path, os.O_WRONLY, 0) // written at offsets: lines at the end, journalEnd in place
	if err != nil {
		p.rewrite = true
		return err
	}
	if p.f != nil {
		p.f.Close()
	}
	p.f, p.tip, p.size, p.snapSize = f, tip, size, snapSize
	// The rename replaced the file: lock the new one. This cannot fail
	// but for a lack of file descriptors, and the save itself is done,
	// so a failure only leaves the lock on the file's name.
	p.lock.follow(p.path)
	if dirErr != nil {
		// The new file is in place, but its name may not survive a
		// crash: the save failed, and the next one copies the state again.
		p.rewrite = true
		return dirErr
	}
	return nil
}

// dropQueued removes the queued changes up to number n, which a full
// copy of the state covers.
func (p *persister) dropQueued(n uint64) {
	p.qmu.Lock()
	i := 0
	for i < len(p.queue) && p.queue[i].n <= n {
		i++
	}
	p.queue = slices.Delete(p.queue, 0, i)
	p.qmu.Unlock()
}

// compact writes a full copy of the state in the background, followed by
// the changes saved since it was taken, and puts it in place of the data
// file. Only the last step, which appends the changes saved meanwhile,
// holds up saves.
func (p *persister) compact() {
	err := p.compactOnce()
	p.mu.Lock()
	if err != nil {
		for p.writing {
			p.cond.Wait()
		}
		// Try again once the journal has grown by half as much again.
		p.nextTry = p.size + (p.size-p.snapSize)/2
		p.logf(slog.LevelWarn, "compacting the data file failed; it keeps growing until the next try", "file", p.name, "error", err)
	}
	p.compacting, p.carry = false, nil
	p.cond.Broadcast()
	p.mu.Unlock()
}

func (p *persister) compactOnce() error {
	st, n := p.freeze()
	b, sum, err := encodeDataFile(st)
	if err != nil {
		return err
	}
	tmp, err := p.newCopy(b)
	if err != nil {
		return err
	}
	p.mu.Lock()
	for p.writing {
		p.cond.Wait()
	}
	p.writing = true
	carry := p.carry
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		p.writing = false
		p.cond.Broadcast()
		p.mu.Unlock()
	}()
	if p.rewrite { // a full copy is due anyway, with the queue as it is then
		tmp.Close()
		os.Remove(tmp.Name())
		return nil
	}
	var lines []byte
	tip := sum
	for _, q := range carry {
		if q.n > n {
			lines, tip = appendLine(lines, tip, q.raw)
		}
	}
	_, err = tmp.Write(lines)
	if err == nil {
		_, err = tmp.WriteAt(journalEnd(int64(len(b)+len(lines)), tip), journalEndOffset)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := p.install(tmp, tip, int64(len(b)+len(lines)), int64(len(b))); err != nil {
		return err
	}
	p.dropQueued(n)
	p.mu.Lock()
	p.durable = max(p.durable, n)
	p.mu.Unlock()
	return nil
}

// close saves what is pending, waits for a compaction to end and releases
// the data file.
func (p *persister) close() error {
	err := p.sync()
	p.mu.Lock()
	for p.compacting || p.writing {
		p.cond.Wait()
	}
	p.mu.Unlock()
	if p.f != nil {
		p.f.Close()
	}
	p.lock.release()
	return err
}

// syncDir syncs a directory, so that a rename in it is durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return err
	}
	return nil
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
	return syncDir(dir)
}

// freeze copies the whole state, its identities sorted by ID, so that the
// copy holds exactly the changes recorded so far, and returns it with
// their number.
func (e *Emulator) freeze() (*savedState, uint64) {
	st, n := e.copyState()
	slices.SortFunc(st.Identities, func(a, b savedIdentity) int { return strings.Compare(a.ID, b.ID) })
	return st, n
}

// copyState is freeze without the sorting: all it does is done with every
// store lock held, so every request waits for it.
func (e *Emulator) copyState() (*savedState, uint64) {
	s := e.store
	s.customMu.Lock()
	for i := range s.shards {
		s.shards[i].mu.Lock()
	}
	s.assignMu.Lock()
	var n uint64
	if e.persist != nil {
		n = e.persist.queuedCount()
	}
	total := 0
	for i := range s.shards {
		total += len(s.shards[i].m)
	}
	st := &savedState{
		ResourceID: e.resourceID,
		SigningKey: e.signer.priv.Seed(),
		IssuerKey:  s.issuerKey,
		Identities: make([]savedIdentity, 0, total),
		Teams:      make([]wire.TeamsExtensionAssignment, 0, len(s.teams)),
		Entra:      make([]wire.EntraAssignment, 0, len(s.entra)),
	}
	var revoked uint64
	for i := range s.shards {
		for _, it := range s.shards[i].m {
			st.Identities = append(st.Identities, savedIdentity{
				ID: it.id, CustomID: it.customID, Created: it.created, LastIssued: it.lastIssued,
				RevokedAt: it.revokedAt, RevokedSeq: it.revokedSeq, Deleted: it.deleted, DeletedAt: it.deletedAt,
			})
			revoked = max(revoked, it.revokedSeq)
		}
	}
	for _, a := range s.teams {
		st.Teams = append(st.Teams, a)
	}
	for _, a := range s.entra {
		st.Entra = append(st.Entra, a)
	}
	// A revocation holds the sequence number of the latest token issued
	// when it was made; the sequence never falls below it, or after a
	// restart new tokens would count as revoked already.
	st.TokenSeq = max(e.tokenSeq.Load(), revoked)
	s.assignMu.Unlock()
	for i := range s.shards {
		s.shards[i].mu.Unlock()
	}
	s.customMu.Unlock()
	return st, n
}

// snapshot is a full copy of the state as a data file.
func (e *Emulator) snapshot() ([]byte, error) {
	st, _ := e.freeze()
	b, _, err := encodeDataFile(st)
	return b, err
}

var errDataFileInUse = errors.New("the data file is in use by another emulator")

// openDataFile loads path, or creates it with a fresh signing key, and
// writes it anew. A symbolic link is followed: the file it leads to is
// locked and written.
func (e *Emulator) openDataFile(path string, o *Options) (err error) {
	file, err := resolveDataFile(path)
	if err != nil {
		return fmt.Errorf("emulator: data file %s: %w", path, err)
	}
	name := path
	if abs, _ := filepath.Abs(path); abs != file {
		name = path + " (" + file + ")"
	}
	// Refuse a device, a FIFO or a directory before locking it: the lock
	// opens the file, and reading one may never end.
	if fi, err := os.Stat(file); err == nil && !fi.Mode().IsRegular() {
		return fmt.Errorf("emulator: data file %s: it is not a regular file (%s): the data file must be a file the emulator can replace", name, fi.Mode().Type())
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
	logf := func(level slog.Level, msg string, args ...any) {
		if e.logger != nil {
			e.logger.Log(context.Background(), level, msg, args...)
		}
	}
	f, err := openRegular(file, o.MaxDataFileBytes)
	switch {
	case errors.Is(err, os.ErrNotExist):
		s, err := newSigner(nil)
		if err != nil {
			return err
		}
		e.signer = s
	case err != nil:
		return fmt.Errorf("emulator: data file %s: %w", name, err)
	default:
		df, err := readDataFile(f, o.MigrateLegacyDataFile)
		f.Close()
		if err != nil {
			return fmt.Errorf("emulator: data file %s: %w", name, err)
		}
		if err := e.load(df.state); err != nil {
			return fmt.Errorf("emulator: data file %s: %w", name, err)
		}
		if df.torn > 0 {
			logf(slog.LevelWarn, "the data file ended in part of a change, which a crash cut short before it was acknowledged; it was dropped", "file", name, "bytes", df.torn)
		}
		if df.format != dataFormat {
			logf(slog.LevelWarn, fmt.Sprintf("data file migrated from format %d to format %d", df.format, dataFormat), "file", name, "identities", len(df.state.Identities))
		}
		logf(slog.LevelInfo, "data file loaded", "file", name, "identities", len(df.state.Identities), "changes replayed", df.changes)
	}
	removeStaleCopies(file)
	p := &persister{
		path: file, name: name, logger: e.logger, limit: o.JournalLimit, lock: lock, logf: logf,
		tokenSeq: e.tokenSeq.Load, freeze: e.freeze, rewrite: true,
	}
	p.cond = sync.NewCond(&p.mu)
	e.persist = p
	if _, err := p.writeCopy(); err != nil {
		e.persist = nil
		return fmt.Errorf("emulator: writing data file: %w", err)
	}
	e.store.journal = p.record
	return nil
}

// removeStaleCopies removes the temporary copies that a crash in the middle
// of a save left next to file. Only the emulator holding the file's lock
// writes them.
func removeStaleCopies(file string) {
	old, _ := filepath.Glob(filepath.Join(filepath.Dir(file), "."+globEscape(filepath.Base(file))+".tmp-*"))
	for _, f := range old {
		if fi, err := os.Lstat(f); err == nil && fi.Mode().IsRegular() {
			os.Remove(f)
		}
	}
}

// globEscape escapes the metacharacters of filepath.Match in s.
func globEscape(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `*`, `\*`, `?`, `\?`, `[`, `\[`)
	return r.Replace(s)
}

func (e *Emulator) load(df *savedState) error {
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
	if len(df.IssuerKey) > 0 {
		k, err := newIssuerKey(df.IssuerKey)
		if err != nil {
			return err
		}
		e.issuer.key, st.issuerKey = k, df.IssuerKey
	}
	for _, a := range df.Teams {
		st.teams[teamsKey{a.TenantID, a.ObjectID}] = a
	}
	for _, a := range df.Entra {
		st.entra[a.ObjectID] = a
	}
	return nil
}
