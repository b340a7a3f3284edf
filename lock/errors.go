package lock

import (
	"errors"
	"fmt"

	"github.com/zkrecipes/zkrecipes"
	"github.com/zkrecipes/zkrecipes/internal/queue"
)

var (
	// ErrInvalidOption wraps every error about a bad option or argument of a constructor.
	ErrInvalidOption = errors.New("lock: invalid option")
	// ErrLocked is returned by TryAcquire when the lock is held (or waited for) by
	// another participant: nothing is left behind.
	ErrLocked = errors.New("lock: locked by another participant")
	// ErrNotHeld is returned by Lock.Multi when the lock is no longer held (its node is
	// gone, or Release was called): nothing was written.
	ErrNotHeld = errors.New("lock: not held")
	// ErrLockLost is the cause (context.Cause) of a held lock's Context when holding is in
	// doubt: the connection was suspended (under StandardPolicy), the session was lost or
	// replaced, the Client closed, or the lock's node was deleted. The wrapping error says
	// which; for a lost session it also wraps the session's cause (zkrecipes.ErrSessionLost
	// or zkrecipes.ErrClosed).
	ErrLockLost = errors.New("lock: holding in doubt")
	// ErrRevoked is the cause of a held lock's Context when another process asked the
	// holder to release (see Revoke and WithRevocable). The lock is still held: release it.
	ErrRevoked = errors.New("lock: revocation requested")
	// ErrReleased is the cause of a held lock's Context after Release.
	ErrReleased = errors.New("lock: released")
)

// Why a hold ends; the lost ones wrap ErrLockLost.
var (
	errSuspended   = fmt.Errorf("%w: connection suspended", ErrLockLost)
	errNodeDeleted = fmt.Errorf("%w: own node deleted", ErrLockLost)
	errRevoked     = fmt.Errorf("%w by another process", ErrRevoked)
	errClientGone  = fmt.Errorf("lock: client closed: %w", zkrecipes.ErrClosed)
)

// holdCause is the cause of a held lock's Context for each way a hold ends.
func holdCause(r queue.Reason, detail error) error {
	switch r {
	case queue.Suspended:
		return errSuspended
	case queue.SessionEnded:
		return fmt.Errorf("%w: %w", ErrLockLost, detail)
	case queue.NodeDeleted:
		if detail != nil {
			return fmt.Errorf("%w: own node unreadable: %w", ErrLockLost, detail)
		}
		return errNodeDeleted
	case queue.Revoked:
		return errRevoked
	}
	return ErrReleased
}
