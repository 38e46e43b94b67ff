package acsidentity

import (
	"errors"
	"net"
	"syscall"
)

func netOpErr() net.OpError {
	return net.OpError{Op: "dial", Net: "tcp", Err: errors.Join(syscall.ECONNREFUSED)}
}
