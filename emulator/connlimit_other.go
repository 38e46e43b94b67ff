//go:build !unix

package emulator

// openFileLimit is not known here; the default connection cap is then
// maxDefaultConns.
func openFileLimit() uint64 { return 0 }
