//go:build !unix

package emulator

import "os"

// lockFile does nothing where flock is not available: only one emulator may
// use a data file at a time, and nothing enforces it here.
func lockFile(string) (*os.File, error) { return nil, nil }
