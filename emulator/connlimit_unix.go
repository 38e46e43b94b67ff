//go:build unix

package emulator

import "syscall"

// openFileLimit is the process's soft limit on open files (which the Go
// runtime raises to the hard limit at start), or 0 if unknown.
func openFileLimit() uint64 {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return 0
	}
	n := uint64(r.Cur)
	if n >= 1<<62 { // unlimited
		return 0
	}
	return n
}
