package datafile

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
)

// minJournalLimit is the least the journal may grow to before compaction
// when Options.JournalLimit is 0.
const minJournalLimit = 1 << 20

// Persister saves the state with group commit. Every change is queued, in
// the order the store's locks put it; a request that must not be
// acknowledged before its change is saved calls sync, and one of the
// waiting requests (the writer) appends every change queued so far to the
// data file and syncs it while the others wait. When the file must be
// written anew (at start, after a failed save, or when it was removed or
// replaced) the writer writes a full copy of the state instead.
type Persister struct {
	path     string                           // the data file, its symbolic links resolved
	name     string                           // the data file as errors and logs name it
	limit    int64                            // Options.JournalLimit
	tokenSeq func() uint64                    // the token sequence now
	freeze   func() (*State, uint64)          // an exact copy of the state, and the changes it covers
	lock     *Lock                            // held until close
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
	closed     bool     // Close ran: the lock is released, nothing is saved

	// The file; used by whoever is writing.
	f        *os.File // the data file, open for appending
	tip      [32]byte // the sum the next line chains to
	size     int64    // the file's length
	snapSize int64    // the length of its full copy of the state
	rewrite  bool     // the next save writes a full copy
	nextTry  int64    // no compaction before the file is this long
}

// Config is what NewPersister needs.
type Config struct {
	Path     string                           // the data file, its symbolic links resolved
	Name     string                           // the data file as errors and logs name it
	Limit    int64                            // the journal's limit before compaction; 0 means the default
	Lock     *Lock                            // held on the file, released by Close
	Logf     func(slog.Level, string, ...any) // logs, or does nothing
	TokenSeq func() uint64                    // the token sequence now
	Freeze   func() (*State, uint64)          // an exact copy of the state, and the number of changes it covers
}

// NewPersister returns a Persister of the data file c.Path, whose first
// save (WriteCopy, or any Sync) writes a full copy of the state.
func NewPersister(c Config) *Persister {
	p := &Persister{path: c.Path, name: c.Name, limit: c.Limit, lock: c.Lock, logf: c.Logf,
		tokenSeq: c.TokenSeq, freeze: c.Freeze, rewrite: true}
	p.cond = sync.NewCond(&p.mu)
	return p
}

// queued is a change waiting to be saved: its number and, once encoded,
// its bytes.
type queued struct {
	n   uint64
	ch  Change
	raw []byte
}

// errClosed is what Sync returns after Close for changes it did not save.
var errClosed = errors.New("the emulator is closed: its data file, whose lock it released, is no longer saved to")

// Record queues ch; the store calls it with the change's lock held.
func (p *Persister) Record(ch Change) {
	ch.TokenSeq = p.tokenSeq() // read after the change, so at least its tokens'
	p.qmu.Lock()
	p.queued++
	p.queue = append(p.queue, queued{n: p.queued, ch: ch})
	p.qmu.Unlock()
}

// QueuedCount is the number of changes queued so far. freeze calls it with
// every store lock held, so that it counts exactly the changes in its copy.
func (p *Persister) QueuedCount() uint64 {
	p.qmu.Lock()
	defer p.qmu.Unlock()
	return p.queued
}

// Sync returns once every change queued before the call is on disk.
func (p *Persister) Sync() error {
	target := p.QueuedCount()
	p.mu.Lock()
	defer p.mu.Unlock()
	gen := p.failGen
	for p.durable < target {
		if p.failGen != gen && p.failedUpTo >= target {
			return p.failErr
		}
		if p.closed {
			return errClosed
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
			p.failedUpTo, p.failErr = p.QueuedCount(), err
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
func (p *Persister) noteSave(err error) {
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
func (p *Persister) save() (uint64, error) {
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
		return p.WriteCopy()
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
		raw, err := EncodeChange(&batch[i].ch)
		if err != nil {
			p.rewrite = true // the changes left the queue: a full copy saves them
			return 0, err
		}
		batch[i].raw = raw
		buf, tip = AppendLine(buf, tip, raw)
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
	if _, err := p.f.WriteAt(JournalEnd(size, tip), JournalEndOffset); err != nil {
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
func (p *Persister) shouldCompact() bool {
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
func (p *Persister) checkFile() error {
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

// WriteCopy replaces the data file with a full copy of the state and
// returns the number of the last change it covers. The caller is the
// writer.
func (p *Persister) WriteCopy() (uint64, error) {
	st, n := p.freeze()
	b, sum, err := Encode(st)
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
func (p *Persister) newCopy(b []byte) (_ *os.File, err error) {
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
func (p *Persister) install(tmp *os.File, tip [32]byte, size, snapSize int64) error {
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
	f, err := os.OpenFile(p.path, os.O_WRONLY, 0) // written at offsets: lines at the end, JournalEnd in place
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
	p.lock.Follow(p.path)
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
func (p *Persister) dropQueued(n uint64) {
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
func (p *Persister) compact() {
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

func (p *Persister) compactOnce() error {
	st, n := p.freeze()
	b, sum, err := Encode(st)
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
			lines, tip = AppendLine(lines, tip, q.raw)
		}
	}
	_, err = tmp.Write(lines)
	if err == nil {
		_, err = tmp.WriteAt(JournalEnd(int64(len(b)+len(lines)), tip), JournalEndOffset)
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

// Close saves what is pending, waits for a compaction to end and releases
// the data file. A change recorded after it (by a request that was still
// running) is not saved: Sync fails, and never writes to the file, which
// another emulator may hold by then.
func (p *Persister) Close() error {
	err := p.Sync()
	p.mu.Lock()
	for p.compacting || p.writing {
		p.cond.Wait()
	}
	p.closed = true
	p.mu.Unlock()
	if p.f != nil {
		p.f.Close()
	}
	p.lock.Release()
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

// WriteFileAtomic replaces path with data: a temporary file in the same
// directory is written, synced and renamed over path, then the directory is
// synced so that the rename itself is durable.
func WriteFileAtomic(path string, data []byte) (err error) {
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
