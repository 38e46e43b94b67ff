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

	"github.com/acsgo/acsidentity/emulator/internal/datafile"
)

// DefaultMaxDataFileBytes is the largest data file New reads when
// Options.MaxDataFileBytes is 0.
const DefaultMaxDataFileBytes = datafile.DefaultMaxBytes

// DataFileStatus is what New found in Options.DataFile.
type DataFileStatus struct {
	// Path is the data file, its symbolic links resolved; empty without
	// a DataFile.
	Path string
	// Existed reports whether the file existed; if not, New created it.
	Existed bool
	// Format is the format the file was in: 4, or an older one migrated.
	Format int
	// Identities is how many identities it held, deleted ones included.
	Identities int
	// ChangesReplayed is how many journal lines New applied on top of
	// the file's full copy of the state.
	ChangesReplayed int
}

// DataFileStatus reports what New found in the data file, as it also logs
// at Info.
func (e *Emulator) DataFileStatus() DataFileStatus { return e.loaded }

// freeze copies the whole state, its identities sorted by ID, so that the
// copy holds exactly the changes recorded so far, and returns it with
// their number.
func (e *Emulator) freeze() (*datafile.State, uint64) {
	st, n := e.copyState()
	slices.SortFunc(st.Identities, func(a, b datafile.Identity) int { return strings.Compare(a.ID, b.ID) })
	return st, n
}

// copyState is freeze without the sorting: the store copies itself with
// every lock held, so every request waits for it.
func (e *Emulator) copyState() (*datafile.State, uint64) {
	st := &datafile.State{ResourceID: e.resourceID, SigningKey: e.signer.priv.Seed()}
	var n, seq uint64
	revoked := e.store.copyTo(st, func() {
		if e.persist != nil {
			n = e.persist.QueuedCount()
		}
		seq = e.tokenSeq.Load()
	})
	// A revocation holds the sequence number of the latest token issued
	// when it was made; the sequence never falls below it, or after a
	// restart new tokens would count as revoked already.
	st.TokenSeq = max(seq, revoked)
	return st, n
}

// snapshot is a full copy of the state as a data file.
func (e *Emulator) snapshot() ([]byte, error) {
	st, _ := e.freeze()
	b, _, err := datafile.Encode(st)
	return b, err
}

// openDataFile loads path, or creates it with a fresh signing key, and
// writes it anew. A symbolic link is followed: the file it leads to is
// locked and written.
func (e *Emulator) openDataFile(path string, o *Options) (err error) {
	file, err := datafile.Resolve(path)
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
	lock, err := datafile.LockFile(file)
	if err != nil {
		return fmt.Errorf("emulator: data file %s: %w", name, err)
	}
	defer func() {
		if err != nil {
			lock.Release()
		}
	}()
	logf := func(level slog.Level, msg string, args ...any) {
		if e.logger != nil {
			e.logger.Log(context.Background(), level, msg, args...)
		}
	}
	f, err := datafile.OpenRegular(file, o.MaxDataFileBytes)
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
		df, err := datafile.Read(f, o.MigrateLegacyDataFile)
		f.Close()
		if err != nil {
			return fmt.Errorf("emulator: data file %s: %w", name, err)
		}
		if err := e.load(df.State); err != nil {
			return fmt.Errorf("emulator: data file %s: %w", name, err)
		}
		if df.Torn > 0 {
			logf(slog.LevelWarn, "the data file ended in part of a change, which a crash cut short before it was acknowledged; it was dropped", "file", name, "bytes", df.Torn)
		}
		if df.Format != datafile.Format {
			logf(slog.LevelWarn, fmt.Sprintf("data file migrated from format %d to format %d", df.Format, datafile.Format), "file", name, "identities", len(df.State.Identities))
		}
		logf(slog.LevelInfo, "data file loaded", "file", name, "identities", len(df.State.Identities), "changes replayed", df.Changes)
		e.loaded = DataFileStatus{Existed: true, Format: df.Format, Identities: len(df.State.Identities), ChangesReplayed: df.Changes}
	}
	e.loaded.Path = file
	datafile.RemoveStaleCopies(file)
	p := datafile.NewPersister(datafile.Config{
		Path: file, Name: name, Limit: o.JournalLimit, Lock: lock, Logf: logf,
		TokenSeq: e.tokenSeq.Load, Freeze: e.freeze,
	})
	e.persist = p
	if _, err := p.WriteCopy(); err != nil {
		e.persist = nil
		return fmt.Errorf("emulator: writing data file: %w", err)
	}
	e.store.journal = p.Record
	return nil
}

// load puts a saved state in the emulator, which is new.
func (e *Emulator) load(df *datafile.State) error {
	if !strings.EqualFold(df.ResourceID, e.resourceID) {
		return fmt.Errorf("it belongs to resource ID %s, not %s", df.ResourceID, e.resourceID)
	}
	s, err := newSigner(df.SigningKey)
	if err != nil {
		return err
	}
	e.signer = s
	if len(df.IssuerKey) > 0 {
		k, err := newIssuerKey(df.IssuerKey)
		if err != nil {
			return err
		}
		e.issuer.key.Store(k)
	}
	// A file saved by an emulator before the token sequence was read last
	// can hold a revocation above it; start above every revocation.
	e.tokenSeq.Store(max(df.TokenSeq, e.store.load(df)))
	return nil
}
