package leader

import (
	"context"
	"errors"
	"fmt"

	"github.com/go-zookeeper/zk"

	"github.com/zkrecipes/zkrecipes"
)

// Term is one tenure of leadership: the time during which one node of a latch
// path is first in line and its owner knows it. It is a value; copies are
// fine.
//
// Token is a fencing token: the creation zxid of the winning node. A node
// wins only once every node ordered before it is gone, and latch nodes are
// ordered by their creation, so each winner was created by a later
// transaction than the one before it: tokens strictly increase from one term
// to the next across every participant of the path, Go or Java, even when
// the path itself was deleted and re-created. (Curator's order stops being
// creation order after 2^31 sequential creates under one parent, or if
// someone adds nodes by hand; see the package documentation.) A latch that
// steps down on SUSPENDED and resumes with the same node resumes the same
// Term: its node stayed first, so no other node can have won in between.
//
// Guard and Multi turn the term into a condition on ZooKeeper writes: the
// write lands only while the winning node still exists, which is exactly while
// no other participant can be leader.
type Term struct {
	// Token strictly increases from term to term (the winning node's czxid).
	Token int64
	// Node is the winning node's path, relative to the client's namespace.
	Node string
	// ID is the participant id written in the winning node.
	ID string

	version int32 // the node's data version when the term began
	client  *zkrecipes.Client
	fence   *fence // shared by the copies of the term
}

// IsZero reports whether t is the zero Term (no leadership).
func (t Term) IsZero() bool { return t.Node == "" }

// String describes the term for logs.
func (t Term) String() string {
	if t.IsZero() {
		return "term(none)"
	}
	return fmt.Sprintf("term(%#x %s id=%q)", t.Token, t.Node, t.ID)
}

// Guard returns the check that Multi puts first: a version check of the winning node,
// which fails with zk.ErrNoNode once the node is gone (and with zk.ErrBadVersion if
// someone rewrote its data). Its path is relative to the client's namespace, for
// zkrecipes.Client.Multi; use it to build a transaction by hand. Such a transaction is
// fenced, but unlike Multi it cannot tell whether it committed when its reply is lost:
// zkrecipes.Client.Multi then returns an error matching zkrecipes.ErrOutcomeUnknown.
// Guard of the zero Term is nil.
func (t Term) Guard() *zk.CheckVersionRequest {
	if t.IsZero() {
		return nil
	}
	return &zk.CheckVersionRequest{Path: t.Node, Version: t.version}
}

// fence is what the Multi calls of one term share: the latch path's data version, which
// every guarded transaction moves by one, so that a transaction can tell afterwards
// whether it committed.
type fence struct {
	path string        // the latch path, relative to the namespace
	sem  chan struct{} // capacity 1: one Multi at a time per term

	// Guarded by sem.
	known    bool
	data     []byte // the latch path's data, written back unchanged
	version  int32
	inflight <-chan struct{} // an abandoned transaction that has not returned yet
}

func newFence(latchPath string) *fence {
	return &fence{path: latchPath, sem: make(chan struct{}, 1)}
}

// Multi runs ops as one ZooKeeper transaction that commits only if this term still
// holds, so that a deposed leader's late write fails instead of landing, and that
// commits at most once even when its reply is lost and it has to be sent again.
//
// ops are what zkrecipes.Client.Multi takes; the responses are those of ops. Multi
// returns:
//   - nil when the transaction committed exactly once. If the reply was lost and Multi
//     found out afterwards that it had committed, the responses cannot be known: they
//     come back as zero values (empty String, nil Error), one per op;
//   - an error wrapping ErrNotLeader (and zk.ErrNoNode or zk.ErrBadVersion) when the term
//     no longer holds: nothing was written;
//   - an error matching zkrecipes.ErrOutcomeUnknown when Multi could not find out whether
//     it committed: ctx ended while the transaction was in flight or before its outcome
//     was read back, or reading the latch path back failed, or its version moved in a way
//     only an outside writer explains. The next Multi of the term waits for that
//     transaction's attempt to return and reads the version again;
//   - other errors from zkrecipes.Client.Multi (an op of ops failed: nothing was
//     written).
//
// How it knows: besides checking the winning node, the transaction rewrites the latch
// path's own data, unchanged, at the version it last saw, so each commit moves that
// version by one and a replay of a committed transaction fails. After a lost reply Multi
// waits for the attempt to return, reads the version back and so tells "committed" from
// "not committed" (it then sends the transaction again). Curator's LeaderLatch never
// reads or watches the latch path's data, so Java participants are unaffected, but a
// cache on the latch path sees one data change per transaction, and the client needs
// write permission on the latch path. The calls of one term are serialized: a second
// Multi waits for the first (or for its ctx).
func (t Term) Multi(ctx context.Context, ops ...any) ([]zk.MultiResponse, error) {
	if t.IsZero() || t.client == nil {
		return nil, fmt.Errorf("%w: zero term", ErrNotLeader)
	}
	f := t.fence
	if f == nil {
		parent, _ := zkrecipes.SplitPath(t.Node)
		f = newFence(parent)
	}
	select {
	case f.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-f.sem }()

	var lastUnknown error // set once an attempt of this call had an unknown outcome
	for round := 0; ; round++ {
		if round >= 10 {
			err := fmt.Errorf("leader: %s: the latch path's version keeps moving; giving up", t)
			if lastUnknown != nil {
				f.known = false
				return nil, fmt.Errorf("%w (%w)", lastUnknown, err)
			}
			return nil, err
		}
		if f.inflight != nil {
			// An earlier transaction of this term may still land: wait, or every
			// version read below could be overtaken by it.
			select {
			case <-f.inflight:
				f.inflight = nil
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		if !f.known {
			data, st, err := t.readFence(ctx, f)
			if errors.Is(err, zk.ErrNoNode) {
				return nil, fmt.Errorf("%w: %s: the latch path is gone: %w", ErrNotLeader, t, err)
			}
			if err != nil {
				return nil, err
			}
			f.data, f.version, f.known = data, st.Version, true
		}
		all := make([]any, 0, len(ops)+2)
		all = append(all, t.Guard(), &zk.SetDataRequest{Path: f.path, Data: f.data, Version: f.version})
		all = append(all, ops...)
		resp, err := t.client.Multi(ctx, all...)
		switch {
		case err == nil:
			f.version++
			return resp[2:], nil
		case len(resp) > 0 && guardFailed(resp[0].Error):
			return nil, fmt.Errorf("%w: %s no longer holds at %s: %w", ErrNotLeader, t, t.Node, resp[0].Error)
		case len(resp) > 1 && errors.Is(resp[1].Error, zk.ErrBadVersion) && lastUnknown == nil:
			f.known = false // the version read was stale: read it again, synced
			continue
		case len(resp) > 1 && errors.Is(resp[1].Error, zk.ErrBadVersion):
			// An earlier attempt of this call moved the version after all: only this
			// term writes the latch path, one transaction at a time.
			applied, rerr := t.resolve(ctx, f, lastUnknown)
			if rerr != nil {
				return nil, rerr
			}
			if applied {
				return make([]zk.MultiResponse, len(ops)), nil
			}
			f.known = false
			return nil, lastUnknown
		case errors.Is(err, zkrecipes.ErrOutcomeUnknown):
			lastUnknown = err
			applied, rerr := t.resolve(ctx, f, err)
			if rerr != nil {
				return nil, rerr
			}
			if applied {
				return make([]zk.MultiResponse, len(ops)), nil
			}
			continue // not committed: send it again (the guard decides)
		case len(resp) > 2:
			return resp[2:], err
		default:
			return nil, err
		}
	}
}

// readFence reads the latch path after a sync, so that the server the client is connected
// to has applied every committed transaction first: a lagging follower would otherwise
// serve an old version.
func (t Term) readFence(ctx context.Context, f *fence) ([]byte, *zk.Stat, error) {
	if err := t.client.Sync(ctx, f.path); err != nil {
		return nil, nil, err
	}
	return t.client.Get(ctx, f.path)
}

// resolve finds out whether the transaction that failed with the unknown outcome err
// committed: once its attempt has returned, the latch path's version tells.
func (t Term) resolve(ctx context.Context, f *fence, err error) (applied bool, _ error) {
	f.inflight = zkrecipes.Settled(err)
	select {
	case <-f.inflight:
		f.inflight = nil
	case <-ctx.Done():
		f.known = false
		return false, err
	}
	_, st, gerr := t.readFence(ctx, f)
	switch {
	case gerr != nil:
		f.known = false
		return false, fmt.Errorf("%w (reading %s back: %w)", err, f.path, gerr)
	case st.Version == f.version+1:
		f.version++
		return true, nil
	case st.Version == f.version:
		return false, nil
	}
	f.known = false
	return false, fmt.Errorf("%w (%s moved from version %d to %d)", err, f.path, f.version, st.Version)
}

func guardFailed(err error) bool {
	return errors.Is(err, zk.ErrNoNode) || errors.Is(err, zk.ErrBadVersion)
}
