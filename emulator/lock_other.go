//go:build !unix

package emulator

// dataLock does nothing where flock is not available: only one emulator
// may use a data file at a time, and nothing enforces it here.
type dataLock struct{}

func lockDataFile(string) (*dataLock, error) { return &dataLock{}, nil }

func (*dataLock) follow(string) error { return nil }

func (*dataLock) release() {}
