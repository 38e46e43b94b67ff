//go:build unix

package datafile

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// Lock keeps other emulators off a data file. It holds exclusive,
// non-blocking advisory locks on two things: <file>.lock next to the file
// that the data path resolves to (so a symlink leads to the same lock),
// and the data file itself (so a hard link under another name does too).
// Every save replaces the file, so the second lock moves to the new file
// after each one. The locks go away with the process, so a crash never
// leaves a stale lock behind.
type Lock struct {
	name *os.File
	file *os.File
}

// LockFile locks path, which has its symbolic links resolved.
func LockFile(path string) (*Lock, error) {
	name, err := os.OpenFile(path+".lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := flock(name); err != nil {
		name.Close()
		return nil, err
	}
	l := &Lock{name: name}
	if err := l.Follow(path); err != nil {
		l.Release()
		return nil, err
	}
	if l.file != nil {
		var st syscall.Stat_t
		if err := syscall.Fstat(int(l.file.Fd()), &st); err != nil {
			l.Release()
			return nil, err
		}
		if st.Nlink > 1 {
			l.Release()
			return nil, fmt.Errorf("it has %d hard links: every save replaces the file, which would leave the other names with a stale copy of the state; use a single name (a symbolic link is fine)", st.Nlink)
		}
	}
	return l, nil
}

// Follow locks the file now at path, if there is one, in place of the one
// locked before.
func (l *Lock) Follow(path string) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := flock(f); err != nil {
		f.Close()
		return err
	}
	if l.file != nil {
		l.file.Close()
	}
	l.file = f
	return nil
}

func (l *Lock) Release() {
	if l.file != nil {
		l.file.Close()
	}
	l.name.Close()
}

func flock(f *os.File) error {
	err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return ErrInUse
	}
	return err
}

// linkCount is the number of names (hard links) of the file fi describes.
func linkCount(fi os.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Nlink)
	}
	return 1
}
