package lock

import (
	"context"
	"errors"
	"fmt"

	"github.com/go-zookeeper/zk"

	"github.com/zkrecipes/zkrecipes"
	"github.com/zkrecipes/zkrecipes/internal/queue"
)

// Revoke asks the holder of the lock node at node (relative to c's namespace; see
// Mutex.Nodes) to release it, as Curator's Revoker.attemptRevoke does: it writes the 10
// bytes "__REVOKE__" into the node with an unconditional set. A missing node is not an
// error (the holder is gone already). It returns once the request is written; whether the
// holder releases is up to it: a Go holder made WithRevocable sees its Lock's Context
// cancelled with ErrRevoked, a Java holder made revocable has its listener called, and any
// other holder ignores the request.
//
// The set is retried after a connection loss (a replay writes the same bytes); an error
// matching zkrecipes.ErrOutcomeUnknown means the request may or may not have been written.
func Revoke(ctx context.Context, c *zkrecipes.Client, node string) error {
	_, err := c.Set(ctx, node, queue.RevokeData, -1)
	if err == nil || errors.Is(err, zk.ErrNoNode) {
		return nil
	}
	return fmt.Errorf("lock: revoke %s: %w", node, err)
}
