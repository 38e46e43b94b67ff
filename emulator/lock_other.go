//go:build !unix

package emulator

import "os"

// dataLock does nothing where flock is not available: only one emulator
// may use a data file at a time, and nothing enforces it here.
type dataLock struct{}

func lockDataFile(string) (*dataLock, error) { return &dataLock{}, nil }

func (*dataLock) follow(string) error { return nil }

func (*dataLock) release() {}

// linkCount is 1: the number of a file's names is not known here.
func linkCount(os.FileInfo) uint64 { return 1 }
