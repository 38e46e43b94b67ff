//go:build !unix

package emulator

import "time"

// cpuTime is not measured here; the cpu-µs/op metric reads 0.
func cpuTime() time.Duration { return 0 }

func bytesWritten() int64 { return -1 }
