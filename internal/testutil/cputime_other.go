//go:build !unix

package testutil

import "time"

// CPUTime is not measured here: it is always 0, and so are the CPU metrics
// built on it.
func CPUTime() time.Duration { return 0 }
