package lock

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/zkrecipes/zkrecipes"
	"github.com/zkrecipes/zkrecipes/internal/fence"
	"github.com/zkrecipes/zkrecipes/internal/queue"
)

// Lock is one held lock: what Mutex.Acquire returns, and the read and write locks of an
// RWMutex and the leases of a Semaphore. It is safe for concurrent use; pass it to
// whatever code runs under the lock.
//
// A Lock is not reentrant and has no owner goroutine: any goroutine may use it and
// Release it. Its Context is the holder's signal to stop: it is cancelled the moment
// holding is in doubt, and stays cancelled even if the connection comes back on the same
// session; the lock itself is held until Release (or until its node goes), so Release a
// Lock whose Context ended, and Acquire again if the work must go on. Writes that must
// not outlive the lock go through Multi, which ZooKeeper itself refuses once the lock's
// node is gone.
//
// A Lock costs one goroutine while held (plus one state listener per Client, shared by
// every lock on it) and none after Release.
type Lock struct {
	client *zkrecipes.Client
	path   string // the lock path
	kind   string
	member *queue.Member
	hold   *queue.Hold
	fence  *fence.Fence // nil for shared holds (read locks), which cannot fence
	rw     *RWMutex     // the read/write lock of a read or write Lock, for Downgrade
	since  time.Time

	reported atomic.Bool // the end of the hold went to hookReleased

	mu      sync.Mutex // serializes Release
	stopped bool       // Release began: the hold is over for this process
	deleted bool       // the node is known to be gone
}

func newLock(client *zkrecipes.Client, path, kind string, m *queue.Member, cfg config, exclusive bool) *Lock {
	l := &Lock{client: client, path: path, kind: kind, member: m, since: time.Now()}
	if exclusive {
		l.fence = fence.New(path)
	}
	l.hold = m.Hold(queue.HoldOptions{
		Suspend:   cfg.policy == StandardPolicy,
		Revocable: cfg.revocable,
		Cause:     holdCause,
		Lost: func(r queue.Reason, _ error) {
			if kind != "" && r != queue.Revoked && l.reported.CompareAndSwap(false, true) {
				hookReleased(context.Background(), client, path, kind, m.Path, time.Since(l.since), true, nil)
			}
		},
	})
	return l
}

// Context returns a context that is cancelled the moment holding is in doubt, and by
// Release; context.Cause says why:
//   - an error wrapping ErrLockLost: the connection was SUSPENDED (under the default
//     StandardPolicy), the session was lost (expired, or suspended for the session
//     timeout) or replaced by a new one, the Client closed (also wrapping
//     zkrecipes.ErrClosed), or the lock's node was deleted by someone;
//   - an error wrapping ErrRevoked: another process asked for the lock (WithRevocable);
//   - ErrReleased: Release was called.
//
// It has no deadline and carries no values; derive work contexts from it.
func (l *Lock) Context() context.Context { return l.hold.Context() }

// Token returns the lock's fencing token: the creation zxid of its node. A node holds
// only once every node ordered before it is gone, and lock nodes are ordered by their
// creation, so every holder's token is higher than the one before it, across Go and Java
// holders of the path, even when the path itself was deleted and re-created. (The order is
// creation order only while every node under the path is a lock node and the parent's
// sequence counter has not passed 2^31, as for Curator.) Shared holds (read locks) have
// tokens too, which order them against writers, not against each other.
func (l *Lock) Token() int64 { return l.member.Czxid }

// Node returns the path of the lock's node, relative to the client's namespace. After a
// Release that failed it is still the node being deleted in the background.
func (l *Lock) Node() string { return l.member.Path }

// Path returns the lock path (relative to the client's namespace).
func (l *Lock) Path() string { return l.path }

// Guard returns the check that Multi puts first: that the lock's node still exists (any
// version: a revoke request rewrites the node's data and does not fail it). Its path is
// relative to the client's namespace, for zkrecipes.Client.Multi; use it to build a
// transaction by hand. Such a transaction is fenced, but unlike Multi it cannot tell
// whether it committed when its reply is lost: zkrecipes.Client.Multi then returns an
// error matching zkrecipes.ErrOutcomeUnknown.
func (l *Lock) Guard() *zk.CheckVersionRequest {
	return &zk.CheckVersionRequest{Path: l.member.Path, Version: -1}
}

// Multi runs ops as one ZooKeeper transaction that commits only while the lock is held,
// so that a holder deposed by an expired session cannot land a late write, and that
// commits at most once even when its reply is lost and it has to be sent again. It works
// whether or not Context has ended: ZooKeeper decides, by the lock's node. ops are what
// zkrecipes.Client.Multi takes; the responses are those of ops. Multi returns:
//   - nil when the transaction committed exactly once. If the reply was lost and Multi
//     found out afterwards that it had committed, the responses come back as zero values;
//   - an error wrapping ErrNotHeld (and zk.ErrNoNode) when the lock's node is gone or
//     Release was called: nothing was written;
//   - an error matching zkrecipes.ErrOutcomeUnknown when Multi could not find out whether
//     it committed (ctx ended while it was in flight or before its outcome was read back,
//     or reading the lock path back failed). The next Multi waits for that transaction's
//     attempt to return and reads the outcome back;
//   - other errors from zkrecipes.Client.Multi (an op of ops failed: nothing was written).
//
// How it knows: besides checking the lock's node, the transaction rewrites the lock
// path's own data, unchanged, at the version it last saw, so each commit moves that
// version by one (see leader.Term.Multi, which works the same way). Curator's lock
// recipes never read the lock path's data, so Java peers are unaffected; the client
// needs write permission on the lock path. Calls of one Lock are serialized. Shared holds
// (read locks, the leases of a Semaphore of more than one lease) cannot fence this way and
// return an error wrapping ErrInvalidOption.
func (l *Lock) Multi(ctx context.Context, ops ...any) ([]zk.MultiResponse, error) {
	if l.fence == nil {
		return nil, fmt.Errorf("%w: a %s lock is shared and cannot fence writes", ErrInvalidOption, l.kind)
	}
	l.mu.Lock()
	stopped := l.stopped
	l.mu.Unlock()
	if stopped {
		return nil, fmt.Errorf("%w: %s was released", ErrNotHeld, l.member.Path)
	}
	return l.fence.Multi(ctx, fence.Spec{
		Client: l.client, Guard: l.Guard(),
		Prefix: "lock", Holder: l.String(), PathWord: "lock path",
		NotHeld: ErrNotHeld,
	}, ops...)
}

// String describes the lock for logs.
func (l *Lock) String() string {
	return fmt.Sprintf("lock(%s %#x %s)", l.kind, l.member.Czxid, l.member.Path)
}

// Release gives the lock up: it cancels Context (cause ErrReleased, unless it ended
// already), waits for the lock's goroutine to return, and deletes the lock's node. It
// returns nil once the node is gone (a client that was closed counts: its session took
// the node). If the delete fails (ctx ends, or the connection is down past the retry
// policy), Release returns the error, the Lock keeps the node in its view (Node), and
// the Client keeps deleting it in the background until it is gone or the Client closes,
// so that no later acquisition, of this process or another, waits behind it forever
// (Curator's CURATOR-678); call Release again to retry in the foreground. Release is
// idempotent and safe to call from any goroutine, but not from a hooks callback.
func (l *Lock) Release(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.deleted {
		return nil
	}
	signalled := false
	if !l.stopped {
		l.stopped = true
		l.hold.Signal(ErrReleased)
		signalled = true
	}
	err := l.member.Queue().Leave(ctx, l.member.Path)
	if signalled {
		// The hold's goroutine exits while the delete is under way; a Lost it reported
		// before the signal is done before the release reports.
		<-l.hold.Done()
	}
	if l.kind != "" && l.reported.CompareAndSwap(false, true) {
		hookReleased(ctx, l.client, l.path, l.kind, l.member.Path, time.Since(l.since), false, err)
	}
	if err != nil {
		return fmt.Errorf("lock: release %s: %w (the node is deleted in the background)", l.member.Path, err)
	}
	l.deleted = true
	return nil
}
