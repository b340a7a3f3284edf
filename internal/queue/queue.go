// Package queue is the one piece of machinery under every recipe that lines processes up
// behind each other in ZooKeeper: an ordered queue of protected ephemeral-sequential
// nodes under one parent, as Curator's LockInternals is for its locks, its semaphore and
// its LeaderSelector, and LeaderLatch's own loop for the latch.
//
// The rules live here, once:
//   - Join is a protected create (Client.CreateProtected: a fixed uuid across retries,
//     adoption only of a node of the current session, clean-up of an abandoned create
//     once its attempt has returned), of an EPHEMERAL_SEQUENTIAL node
//     <parent>/_c_<uuid>-<marker><seq>, with missing parents created as containers.
//   - Nodes are ordered by the text after the recipe's markers (Order), compared as text.
//   - A waiting member watches only the node it waits on (its predecessor, or for a
//     reader the first writer ahead of it), never the parent's children, so that a
//     hand-over wakes one process.
//   - A member's node counts as held only while it belongs to the current session: a node
//     that an older session of this Client left behind, which the server has not removed
//     yet, is deleted and replaced, never trusted (Curator's CURATOR-604).
//   - A member that gives up (ctx ended, an error, a try that found the lock taken)
//     deletes its node with a guaranteed delete, so it never blocks anyone; it deletes
//     only its own node, known by its exact name.
//   - An acquisition sends its first reads (the listing, and its node's likely name)
//     right behind its join's create, in the same round trip (joinRead), and uses an
//     answer only when it proves it came after the create; otherwise it reads again.
//
// The latch (package leader) uses the steps (Join, ReadOwn, List, Watch) from its own
// state machine; the lock recipes use Acquire, which runs the whole wait, and Hold, which
// turns a held node into a context that ends the moment holding is in doubt.
package queue

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/go-zookeeper/zk"

	"github.com/zkrecipes/zkrecipes"
	"github.com/zkrecipes/zkrecipes/internal/pipeline"
	"github.com/zkrecipes/zkrecipes/retry"
)

// Queue is one recipe's queue at one parent path.
type Queue struct {
	client *zkrecipes.Client
	path   string
	order  Order

	// The sequence number of the last node this queue's joins made, if any: with no one
	// else creating nodes here, the server numbers the next one lastSeq+1 (see joinRead).
	lastSeq   atomic.Int32
	lastSeqOK atomic.Bool
}

// New returns the queue of nodes under path (relative to the client's namespace),
// ordered by order.
func New(client *zkrecipes.Client, path string, order Order) *Queue {
	return &Queue{client: client, path: path, order: order}
}

// Client returns the queue's client.
func (q *Queue) Client() *zkrecipes.Client { return q.client }

// Path returns the parent path.
func (q *Queue) Path() string { return q.path }

// Order returns the queue's order.
func (q *Queue) Order() Order { return q.order }

// Join creates a member node <path>/_c_<uuid>-<marker><seq> holding data (nil is written
// as empty), EPHEMERAL_SEQUENTIAL, with missing parents as containers, and returns its
// path relative to the namespace. Errors are CreateProtected's: an unknown outcome is
// cleaned up by the Client.
func (q *Queue) Join(ctx context.Context, marker string, data []byte) (string, error) {
	if data == nil {
		data = []byte{}
	}
	return q.client.CreateProtected(ctx, zkrecipes.JoinPath(q.path, marker), data,
		zkrecipes.ModeEphemeralSequential, zkrecipes.WithParents())
}

// pipelined is what the reads sent right behind a join's create answered (joinRead). They
// prove nothing by themselves: each may have overtaken the create.
type pipelined struct {
	sorted   []string
	pst      *zk.Stat
	listErr  error
	guess    string // the path the own-node read read, "" when it was not sent
	data     []byte
	st       *zk.Stat
	w        <-chan zk.Event
	guessErr error
}

// joinRead is Join, with the reads that an acquisition makes next sent right behind the
// create's attempt, in the same round trip: the listing of the parent, and a read (with
// a data watch) of the node the create most likely makes, whose name is the create's
// target plus a guessed sequence number (one more than that of the node the previous join
// made: right when no one else joined since, as in the uncontended case). Only the first
// attempt gets them. It returns once the create and the reads have all returned;
// a read whose answer the caller does not use set no watch unless it read a node with
// this create's uuid, one that the create's own rules then adopt or delete.
func (q *Queue) joinRead(ctx context.Context, marker string, data []byte) (string, *pipelined, error) {
	if data == nil {
		data = []byte{}
	}
	pre := &pipelined{}
	var (
		mu   sync.Mutex
		done bool // the reads may no longer start: pre is the caller's
		sent bool
		wg   sync.WaitGroup
	)
	seq, known := q.lastSeq.Load()+1, q.lastSeqOK.Load()
	send := func(target string) {
		mu.Lock()
		defer mu.Unlock()
		if done || sent {
			return
		}
		sent = true
		wg.Go(func() { pre.sorted, pre.pst, pre.listErr = q.List(ctx) })
		if known {
			pre.guess = fmt.Sprintf("%s%010d", target, seq)
			wg.Go(func() { pre.data, pre.st, pre.w, pre.guessErr = q.ReadOwn(ctx, pre.guess) })
		}
	}
	opts := []zkrecipes.CreateOption{zkrecipes.WithParents()}
	if pipeline.BeforeSend != nil {
		opts = append(opts, pipeline.BeforeSend(send).(zkrecipes.CreateOption))
	}
	p, err := q.client.CreateProtected(ctx, zkrecipes.JoinPath(q.path, marker), data,
		zkrecipes.ModeEphemeralSequential, opts...)
	mu.Lock()
	done = true
	mu.Unlock()
	wg.Wait()
	if !sent {
		pre.listErr = errNotSent
	}
	if err == nil && len(p) >= 10 {
		// The server appends the parent's counter as exactly ten characters.
		if n, perr := strconv.ParseInt(p[len(p)-10:], 10, 32); perr == nil {
			q.lastSeq.Store(int32(n))
			q.lastSeqOK.Store(true)
		}
	}
	return p, pre, err
}

var errNotSent = errors.New("queue: not sent")

// ReadOwn reads a member's own node and sets a data watch on it, which fires when the node
// is deleted or its data changes (a revoke request).
func (q *Queue) ReadOwn(ctx context.Context, node string) ([]byte, *zk.Stat, <-chan zk.Event, error) {
	return q.client.GetW(ctx, node)
}

// List returns the parent's children in the queue's order, with the parent's stat (its
// Cversion is the sequence counter). A missing parent gives zk.ErrNoNode.
func (q *Queue) List(ctx context.Context) ([]string, *zk.Stat, error) {
	children, st, err := q.client.Children(ctx, q.path)
	if err != nil {
		return nil, nil, err
	}
	return q.order.Sort(children), st, nil
}

// ListW is List that also sets a child watch on the parent, which fires when a child is
// added or removed (a semaphore's waiter waits for any lease to go).
func (q *Queue) ListW(ctx context.Context) ([]string, *zk.Stat, <-chan zk.Event, error) {
	children, st, w, err := q.client.ChildrenW(ctx, q.path)
	if err != nil {
		return nil, nil, nil, err
	}
	return q.order.Sort(children), st, w, nil
}

// Watch sets a data watch on the child name of the parent; zk.ErrNoNode means it is
// already gone.
func (q *Queue) Watch(ctx context.Context, name string) (<-chan zk.Event, error) {
	_, _, w, err := q.client.GetW(ctx, zkrecipes.JoinPath(q.path, name))
	return w, err
}

// Leave deletes a member's own node with a guaranteed delete: when the delete cannot
// finish now (a connection loss, or ctx over, already or mid-way) the Client keeps
// deleting it in the background until it is gone or the Client closes. It returns the
// foreground attempt's error; a client that is closed counts as success, since its
// session and the node with it are gone.
func (q *Queue) Leave(ctx context.Context, node string) error {
	err := q.client.DeleteGuaranteed(ctx, node, -1)
	if errors.Is(err, zkrecipes.ErrClosed) || errors.Is(err, zk.ErrClosing) {
		return nil
	}
	return err
}

// Retriable reports whether a failed step may succeed later by itself: connection
// trouble (the Client gave up retrying, but the recipe does not), an unknown outcome that
// the Client cleans up, or an operation deadline.
func Retriable(err error) bool {
	return retry.IsRetriable(err) || errors.Is(err, zkrecipes.ErrOutcomeUnknown) ||
		errors.Is(err, context.DeadlineExceeded)
}

// errChurn: the children kept changing under one acquisition; it pauses and looks again.
var errChurn = errors.New("queue: path keeps changing")

func (q *Queue) churn() error { return fmt.Errorf("%w: %s", errChurn, q.path) }
