package leader

import (
	"context"
	"fmt"

	"github.com/go-zookeeper/zk"

	"github.com/zkrecipes/zkrecipes"
	"github.com/zkrecipes/zkrecipes/internal/fence"
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
	fence   *fence.Fence // shared by the copies of the term (the latch path's version)
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
		f = fence.New(parent)
	}
	return f.Multi(ctx, fence.Spec{
		Client: t.client, Guard: t.Guard(),
		Prefix: "leader", Holder: t.String(), PathWord: "latch path",
		NotHeld: ErrNotLeader,
	}, ops...)
}
