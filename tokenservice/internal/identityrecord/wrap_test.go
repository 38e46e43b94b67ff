package identityrecord

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"
)

func TestWrap(t *testing.T) {
	t.Parallel()
	ioTimeout := &os.SyscallError{Syscall: "read", Err: os.ErrDeadlineExceeded}
	refused := errors.New("connect: connection refused")

	got := Wrap(context.Background(), "s", "op", refused)
	if got.Error() != "s: op: connect: connection refused" || !errors.Is(got, refused) {
		t.Errorf("live ctx: %v", got)
	}

	// Past its deadline, its timer not (necessarily) fired: the deadline
	// is what the error says.
	past, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	got = Wrap(past, "s", "op", ioTimeout)
	if !errors.Is(got, context.DeadlineExceeded) || !errors.Is(got, os.ErrDeadlineExceeded) || got.Error() != "s: op: context deadline exceeded: read: i/o timeout" {
		t.Errorf("past deadline: %v", got)
	}

	// An error that already says so is not said twice.
	got = Wrap(past, "s", "op", context.DeadlineExceeded)
	if got.Error() != "s: op: context deadline exceeded" {
		t.Errorf("ctx error itself: %v", got)
	}

	canceled, cancel2 := context.WithCancel(context.Background())
	cancel2()
	got = Wrap(canceled, "s", "op", refused)
	if !errors.Is(got, context.Canceled) || !errors.Is(got, refused) {
		t.Errorf("canceled: %v", got)
	}
}
