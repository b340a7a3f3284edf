package lock

import (
	"context"
	"time"

	"github.com/zkrecipes/zkrecipes"
)

// The metrics call sites of the lock recipes. Kind is "mutex", "read", "write",
// "semaphore" or "semaphore-mutex".
//
// TODO(hooks): the context-aware Hooks (branch wip-hooks) add Hooks.LockAcquired and
// Hooks.LockReleased; wire these two functions to them (zkrecipes.LockAcquireEvent and
// zkrecipes.LockReleaseEvent carry exactly these fields). hookAcquired runs on the
// goroutine that acquired, once per acquisition; hookReleased once per hold that was
// acquired: on the releasing goroutine, or with lost set on the hold's own goroutine when
// holding came into doubt first (then Release does not report it again).

func hookAcquired(ctx context.Context, c *zkrecipes.Client, path, kind, node string, acquired bool, wait time.Duration, err error) {
	_, _, _, _, _, _, _, _ = ctx, c, path, kind, node, acquired, wait, err
}

func hookReleased(c *zkrecipes.Client, path, kind, node string, held time.Duration, lost bool, err error) {
	_, _, _, _, _, _, _ = c, path, kind, node, held, lost, err
}
