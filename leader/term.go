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

// Guard returns the operation that Multi puts first: a version check of the
// winning node, which fails with zk.ErrNoNode once the node is gone (and with
// zk.ErrBadVersion if someone rewrote its data). Its path is relative to the
// client's namespace, for zkrecipes.Client.Multi; use it to build a
// transaction by hand. Guard of the zero Term is nil.
func (t Term) Guard() *zk.CheckVersionRequest {
	if t.IsZero() {
		return nil
	}
	return &zk.CheckVersionRequest{Path: t.Node, Version: t.version}
}

// Multi runs ops as one ZooKeeper transaction that commits only if this term
// still holds, so that a deposed leader's late write fails instead of landing.
// ops are what zkrecipes.Client.Multi takes; the responses are those of ops,
// without the guard's. If the guard fails, nothing is written and the error
// wraps ErrNotLeader and the ZooKeeper error (zk.ErrNoNode or
// zk.ErrBadVersion). Other errors are returned as Client.Multi returns them.
// If ctx ends before the reply arrives the transaction may still commit.
func (t Term) Multi(ctx context.Context, ops ...any) ([]zk.MultiResponse, error) {
	if t.IsZero() || t.client == nil {
		return nil, fmt.Errorf("%w: zero term", ErrNotLeader)
	}
	all := make([]any, 0, len(ops)+1)
	all = append(all, t.Guard())
	all = append(all, ops...)
	resp, err := t.client.Multi(ctx, all...)
	if err != nil {
		if len(resp) > 0 && guardFailed(resp[0].Error) {
			return nil, fmt.Errorf("%w: %s no longer holds at %s: %w", ErrNotLeader, t, t.Node, resp[0].Error)
		}
		if len(resp) > 1 {
			resp = resp[1:]
		}
		return resp, err
	}
	if len(resp) > 0 {
		resp = resp[1:]
	}
	return resp, nil
}

func guardFailed(err error) bool {
	return errors.Is(err, zk.ErrNoNode) || errors.Is(err, zk.ErrBadVersion)
}
