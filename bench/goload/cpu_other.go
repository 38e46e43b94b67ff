//go:build !unix

package main

// selfCPUMeasured says whether selfCPU measures anything here: not on this
// OS, so the report's client CPU figures read -1.
const selfCPUMeasured = false

// selfCPU is not measured on this OS.
func selfCPU() float64 { return 0 }
