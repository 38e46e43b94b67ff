//go:build !unix

package datafile

import "os"

// Lock does nothing where flock is not available: only one emulator
// may use a data file at a time, and nothing enforces it here.
type Lock struct{}

func LockFile(string) (*Lock, error) { return &Lock{}, nil }

func (*Lock) Follow(string) error { return nil }

func (*Lock) Release() {}

// linkCount is 1: the number of a file's names is not known here.
func linkCount(os.FileInfo) uint64 { return 1 }
