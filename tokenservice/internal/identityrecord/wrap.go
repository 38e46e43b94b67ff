package identityrecord

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Wrap returns err from the server as "<store>: <op>: <err>". When ctx is
// done or past its deadline, the error also wraps ctx's error, so that
// errors.Is(err, context.DeadlineExceeded) holds even when the client
// reports the socket's deadline ("i/o timeout") before its context's timer
// has fired: clients set the socket's deadline from ctx, and which of the
// two a slow server trips first is a race.
func Wrap(ctx context.Context, store, op string, err error) error {
	cerr := ctx.Err()
	if cerr == nil {
		if dl, ok := ctx.Deadline(); ok && !time.Now().Before(dl) {
			cerr = context.DeadlineExceeded
		}
	}
	if cerr != nil && !errors.Is(err, cerr) {
		return fmt.Errorf("%s: %s: %w: %w", store, op, cerr, err)
	}
	return fmt.Errorf("%s: %s: %w", store, op, err)
}
