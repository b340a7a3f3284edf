package lock

import (
	"context"
	"errors"
	"time"

	"github.com/zkrecipes/zkrecipes"
)

// The metrics call sites of the lock recipes (zkrecipes.Hooks.LockAcquired and
// LockReleased). Kind is "mutex", "read", "write", "semaphore" or "semaphore-mutex".
// hookAcquired runs on the goroutine that acquired, once per acquisition, before it
// returns; hookReleased once per hold that was acquired: on the releasing goroutine, or
// (lost set) on the hold's own goroutine when holding came into doubt first, in which case
// Release does not report it again. A semaphore's inner P/locks mutex reports nothing.

func hookAcquired(ctx context.Context, c *zkrecipes.Client, path, kind, node string, acquired bool, wait time.Duration, err error) {
	h := c.Hooks().LockAcquired
	if h == nil {
		return
	}
	if errors.Is(err, ErrLocked) {
		err = nil // a try that found the lock held is no failure
	}
	h(ctx, zkrecipes.LockAcquireEvent{Path: path, Kind: kind, Node: node, Acquired: acquired, Wait: wait, Err: err, Time: time.Now()})
}

func hookReleased(ctx context.Context, c *zkrecipes.Client, path, kind, node string, held time.Duration, lost bool, err error) {
	if h := c.Hooks().LockReleased; h != nil {
		h(ctx, zkrecipes.LockReleaseEvent{Path: path, Kind: kind, Node: node, Hold: held, Lost: lost, Err: err, Time: time.Now()})
	}
}
