//go:build !linux

package main

import "syscall"

// dieWithParent has no equivalent outside Linux: a service started here
// outlives an interrupted run and must be stopped by hand.
func dieWithParent() *syscall.SysProcAttr { return nil }
