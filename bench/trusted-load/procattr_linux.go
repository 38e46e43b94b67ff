package main

import "syscall"

// dieWithParent makes the kernel send the child SIGTERM when this process
// dies, so an interrupted load run leaves no service behind.
func dieWithParent() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}
