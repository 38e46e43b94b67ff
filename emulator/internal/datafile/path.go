package datafile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// maxLinks is how many symbolic links Resolve follows before it
// gives up on a loop.
const maxLinks = 40

// Resolve returns the file that path names once every symbolic
// link is followed, even if that file does not exist yet (a dangling link
// names the file to create). The emulator locks and writes the resolved
// file, so that a symlinked data file stays a symlink and two emulators
// that reach one file by different names share one lock.
func Resolve(path string) (string, error) {
	p := path
	for range maxLinks {
		dir, err := filepath.EvalSymlinks(filepath.Dir(p))
		if err != nil {
			return "", err
		}
		p = filepath.Join(dir, filepath.Base(p))
		fi, err := os.Lstat(p)
		if errors.Is(err, os.ErrNotExist) || err == nil && fi.Mode()&os.ModeSymlink == 0 {
			return p, nil
		}
		if err != nil {
			return "", err
		}
		target, err := os.Readlink(p)
		if err != nil {
			return "", err
		}
		if !filepath.IsAbs(target) {
			target = filepath.Join(dir, target)
		}
		p = target
	}
	return "", fmt.Errorf("more than %d symbolic links to follow", maxLinks)
}

// DefaultMaxBytes is the largest data file New reads when
// Options.MaxDataFileBytes is 0.
const DefaultMaxBytes = 1 << 30

// OpenRegular opens path for reading if it is a regular file of at most
// limit bytes (0 means DefaultMaxBytes). A device, a pipe or a
// directory is refused before a byte is read: /dev/zero would never end.
func OpenRegular(path string, limit int64) (*os.File, error) {
	if limit <= 0 {
		limit = DefaultMaxBytes
	}
	// Stat first: opening a FIFO would wait for a writer.
	if fi, err := os.Stat(path); err != nil {
		return nil, err
	} else if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("it is not a regular file (%s): the data file must be a file the emulator can replace", fi.Mode().Type())
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	switch {
	case err != nil:
	case !fi.Mode().IsRegular():
		err = fmt.Errorf("it is not a regular file (%s): the data file must be a file the emulator can replace", fi.Mode().Type())
	case fi.Size() > limit:
		err = fmt.Errorf("it is %d bytes, more than the limit of %d (-max-data-file, Options.MaxDataFileBytes)", fi.Size(), limit)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// RemoveStaleCopies removes the temporary copies that a crash in the middle
// of a save left next to file. Only the emulator holding the file's lock
// writes them.
func RemoveStaleCopies(file string) {
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

// ErrInUse is the error of a data file another emulator holds.
var ErrInUse = errors.New("the data file is in use by another emulator")
