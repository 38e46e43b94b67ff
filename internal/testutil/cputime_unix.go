//go:build unix

package testutil

import (
	"syscall"
	"time"
)

// CPUTime is the process's user plus system CPU time, for benchmarks that
// report CPU per operation: on a shared machine it moves far less with
// other work than wall-clock time does.
func CPUTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
