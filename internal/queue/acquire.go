package queue

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/zkrecipes/zkrecipes"
	"github.com/zkrecipes/zkrecipes/internal/watchhub"
)

// Rule decides, from the children in the queue's order and the index of the member's own
// node among them, whether the member holds; when it does not, it names the node to wait
// for (a data watch on it, which fires at its deletion). Every rule must hold a node that
// has nothing before it.
type Rule func(sorted []string, idx int) (holds bool, wait string)

// Exclusive is the rule of a mutex and of a write lock: the first node holds, every other
// node waits for the node just before it.
func Exclusive(sorted []string, idx int) (bool, string) {
	if idx == 0 {
		return true, ""
	}
	return false, sorted[idx-1]
}

// Request is what one acquisition creates and how it decides it holds.
type Request struct {
	Marker string // the text before the sequence number: "lock-", "__READ__", ...
	Data   []byte // the node's data (nil: empty)
	Rule   Rule
	// Try gives up instead of waiting: the node is deleted and Acquire returns ErrBusy.
	Try bool
	// Fast allows the grant straight from the deletion of the node waited for, without
	// reading the children again (see acquisition.fast). It is sound only where no
	// process adds a node that sorts before existing ones: not for a read/write lock's
	// writers, behind which a downgrade adds a non-sequential read node with its writer's
	// number (Curator 5.5+ and this package).
	Fast bool
	// Adopt, for tests only, starts the acquisition with this existing node (a path
	// relative to the namespace) as if an earlier join had made it, instead of joining:
	// the state an acquisition is in when its session changed under it.
	Adopt string
}

// ErrBusy is returned by a Try acquisition that did not get the lock at once.
var ErrBusy = errors.New("queue: held by another participant")

// Member is a node of this process that holds in its queue, as Acquire returns it.
type Member struct {
	q *Queue
	// Path is the node's path, relative to the namespace; Name is its last element.
	Path, Name string
	// Owner is the session the node belongs to, the current one when Acquire returned;
	// Czxid is the zxid of the node's creation.
	Owner, Czxid int64
	// Version and Data are the node's data version and data when last read.
	Version int32
	Data    []byte
	// Session is the session the member holds under (its ID is Owner).
	Session *zkrecipes.Session
	// Fast is set when the member was granted straight from its predecessor's deletion,
	// without reading the children again.
	Fast bool

	own     <-chan zk.Event // data watch on the node
	epoch   uint64          // the Client's watch epoch when own was set (see watchhub.Hub.Epoch)
	next    func() <-chan struct{}
	release func()
}

// Queue returns the member's queue.
func (m *Member) Queue() *Queue { return m.q }

// Counters are what an acquisition did, for tests: notifications from the watched node
// and grants straight from its deletion.
type Counters struct {
	Wakeups atomic.Int64
	Fast    atomic.Int64
	// Pipelined counts joins settled by the reads sent behind the create alone.
	Pipelined atomic.Int64
	// Waiting, if set (before the acquisitions start), runs each time an acquisition
	// begins to wait with its watches armed.
	Waiting func()
}

// Acquire joins the queue with a new node and waits until the node holds by req.Rule,
// through disconnections and new sessions, until ctx ends. It returns the member, with a
// data watch armed on its node for Hold. counters, when not nil, counts what it saw.
//
// It never reports a node as held unless the node belongs to the session current at that
// moment, the connection is up and no connection state change came in since the read that
// decided. When its node vanishes (deleted by someone, or with an expired session) it joins
// again with a new one; a node of an older session is deleted and replaced.
//
// When Acquire fails (ctx ended, an error retrying cannot fix, or a Try that did not get
// the lock) it leaves no node behind: its node is deleted with a guaranteed delete (in the
// background when ctx is over), and a join whose outcome is unknown is cleaned up by the
// Client once its attempt has returned. The error is ctx.Err() when ctx ended.
func (q *Queue) Acquire(ctx context.Context, req Request, counters *Counters) (*Member, error) {
	next, release := stateSignal(q.client)
	a := &acquisition{q: q, req: req, next: next, counters: counters, epoch: watchhub.Of(q.client).Epoch()}
	if req.Adopt != "" {
		a.setNode(req.Adopt)
	}
	m, err := a.run(ctx)
	if err != nil {
		release()
		if a.node != "" {
			// Ours by its exact name, known from a create that returned: safe to delete.
			_ = q.Leave(ctx, a.node)
		}
		return nil, err
	}
	m.next, m.release = next, release
	return m, nil
}

// Claim makes a member of node, a node this process just created under the queue's path
// that holds by construction (a downgrade's read node, which sorts with the write node the
// process holds): it arms the data watch on it and checks that it belongs to the current,
// connected session. On failure nothing is deleted; that is the caller's.
func (q *Queue) Claim(ctx context.Context, node string) (*Member, error) {
	next, release := stateSignal(q.client)
	stateCh := next()
	sess := q.client.Session()
	a := &acquisition{q: q, next: next, epoch: watchhub.Of(q.client).Epoch()}
	a.setNode(node)
	if _, _, err := a.read(ctx); err != nil {
		release()
		return nil, err
	}
	if a.owner != sess.ID() || !a.settled(stateCh, sess) {
		release()
		return nil, fmt.Errorf("queue: %s: the session changed while it was claimed: %w", node, zkrecipes.ErrSessionLost)
	}
	m := a.member(sess, false)
	m.next, m.release = next, release
	return m, nil
}

type acquisition struct {
	q        *Queue
	req      Request
	next     func() <-chan struct{}
	counters *Counters

	node, name string
	owner      int64
	czxid      int64
	version    int32
	data       []byte
	own        <-chan zk.Event
	pred       string
	predW      <-chan zk.Event
	// epoch is the Client's watch epoch own and predW were set in: once it moves they
	// never fire (the Client replaced its go-zk connection) and are set again.
	epoch uint64

	passes   int // rounds in a row that neither waited nor held
	failures int // failed steps in a row
}

// maxPasses bounds the rounds in a row that learn only that something moved (a node
// vanished between two reads); after them the acquisition pauses before looking again.
const maxPasses = 10

func (a *acquisition) run(ctx context.Context) (*Member, error) {
	c := a.q.client
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if a.passes++; a.passes > maxPasses {
			if err := a.pause(ctx, a.q.churn()); err != nil {
				return nil, err
			}
			a.passes = 1
		}
		stateCh := a.next()
		if c.State() == zkrecipes.StateClosed {
			return nil, zkrecipes.ErrClosed
		}
		if e := watchhub.Of(c).Epoch(); e != a.epoch {
			a.epoch, a.own, a.pred, a.predW = e, nil, "", nil
		}
		sess := c.Session()
		if sess.Err() != nil {
			// The session is in doubt (LOST): nothing read now can be trusted. Wait for
			// the next state change, which tells whether it came back or was replaced.
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-stateCh:
			}
			continue
		}
		var sorted []string
		var pst *zk.Stat
		var err error
		if a.node == "" {
			p, pre, jerr := a.q.joinRead(ctx, a.req.Marker, a.req.Data)
			if jerr != nil {
				if err := a.failed(ctx, jerr); err != nil {
					return nil, err
				}
				continue
			}
			a.setNode(p)
			sorted, pst, err = a.readJoined(ctx, pre)
		} else {
			sorted, pst, err = a.read(ctx)
		}
		switch {
		case errors.Is(err, errOwnGone):
			a.forget()
			continue
		case err != nil:
			if err := a.failed(ctx, err); err != nil {
				return nil, err
			}
			continue
		}
		if a.owner != sess.ID() {
			// A node of a session this Client lost: the server deletes it soon, and until
			// then it must not count as held (CURATOR-604) nor block anyone.
			old := a.node
			a.forget()
			if err := a.q.Leave(ctx, old); err != nil && ctx.Err() != nil {
				return nil, ctx.Err()
			}
			continue
		}
		idx := IndexOf(sorted, a.name)
		if idx < 0 {
			// Deleted between the two reads; delete it in case it is still there.
			old := a.node
			a.forget()
			_ = a.q.Leave(ctx, old)
			continue
		}
		a.failures = 0
		holds, wait := a.req.Rule(sorted, idx)
		if holds {
			if !a.settled(stateCh, sess) {
				continue
			}
			return a.member(sess, false), nil
		}
		if a.req.Try {
			return nil, ErrBusy
		}
		if wait != a.pred || a.predW == nil {
			w, err := a.q.Watch(ctx, wait)
			if errors.Is(err, zk.ErrNoNode) {
				continue // gone already: read the children again
			}
			if err != nil {
				if err := a.failed(ctx, err); err != nil {
					return nil, err
				}
				continue
			}
			a.pred, a.predW = wait, w
		}
		// The last listing had the node we wait for first and ours second, and proves
		// that nodes created later sort after ours (SequenceOrdered).
		head := idx == 1 && wait == sorted[0] && pst != nil && a.q.order.SequenceOrdered(sorted, pst.Cversion)
		a.passes = 0
		if a.counters != nil && a.counters.Waiting != nil {
			a.counters.Waiting()
		}

		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case ev := <-a.predW:
			a.predW, a.pred = nil, ""
			if a.counters != nil {
				a.counters.Wakeups.Add(1)
			}
			if head && a.req.Fast && a.fast(ev, stateCh, sess) {
				if a.counters != nil {
					a.counters.Fast.Add(1)
				}
				return a.member(sess, true), nil
			}
		case ev := <-a.own:
			a.onOwn(ev)
		case <-stateCh:
			// Keep the node while disconnected; the reconnection (after a LOST, maybe)
			// says what survived, and the next round reads it.
			for {
				ch := a.next()
				if c.State().IsConnected() || c.State() == zkrecipes.StateClosed {
					break
				}
				select {
				case <-ctx.Done():
					return nil, ctx.Err()
				case <-ch:
				}
			}
		}
	}
}

// read reads the member's own node (when its watch is not armed) and the children, in
// parallel: both are reads, and the own node's stat decides nothing until both are in.
func (a *acquisition) read(ctx context.Context) ([]string, *zk.Stat, error) {
	var wg sync.WaitGroup
	var (
		data  []byte
		st    *zk.Stat
		w     <-chan zk.Event
		owner error
	)
	if a.own == nil {
		node := a.node
		wg.Go(func() { data, st, w, owner = a.q.ReadOwn(ctx, node) })
	}
	sorted, pst, err := a.q.List(ctx)
	wg.Wait()
	switch {
	case errors.Is(owner, zk.ErrNoNode):
		return nil, nil, errOwnGone
	case owner != nil:
		return nil, nil, owner
	case errors.Is(err, zk.ErrNoNode):
		return nil, nil, errOwnGone // the parent is gone, and our node with it
	case err != nil:
		return nil, nil, err
	}
	if st != nil {
		a.own, a.owner, a.czxid, a.version, a.data = w, st.EphemeralOwner, st.Czxid, st.Version, data
	}
	return sorted, pst, nil
}

// readJoined is read for the node that joinRead just made, taking what the reads sent
// behind the create answered wherever the answer proves that it came after the create:
// the own-node read when it read the created node itself (one that overtook the create
// found no node with the create's fresh uuid; one with a wrong guess read another name),
// the listing when it holds the created node. Whatever is not proven is read again.
func (a *acquisition) readJoined(ctx context.Context, pre *pipelined) ([]string, *zk.Stat, error) {
	if pre.guess == a.node && pre.guessErr == nil {
		a.own, a.owner, a.czxid, a.version, a.data = pre.w, pre.st.EphemeralOwner, pre.st.Czxid, pre.st.Version, pre.data
		if pre.listErr == nil && IndexOf(pre.sorted, a.name) >= 0 {
			if a.counters != nil {
				a.counters.Pipelined.Add(1)
			}
			return pre.sorted, pre.pst, nil
		}
	}
	return a.read(ctx)
}

var errOwnGone = errors.New("queue: own node gone")

// settled reports whether a decision to hold, taken from reads made after stateCh was
// taken under sess, still stands: no state change since, connected, the same session.
func (a *acquisition) settled(stateCh <-chan struct{}, sess *zkrecipes.Session) bool {
	select {
	case <-stateCh:
		return false
	default:
	}
	c := a.q.client
	return sess.Err() == nil && c.State().IsConnected() && c.SessionID() == a.owner
}

// fast reports whether the deletion reported by ev grants the lock without reading the
// children again: the last listing had the deleted node first and ours second, and
// every node in it was well formed with a sequence far below the wrap, so every node
// there now is from that listing and behind us, or created later and behind us too. What
// a full round checks must still hold: our node is untouched (no event on its watch,
// which go-zk delivers before the predecessor's) and belongs to the current, connected
// session, with no state change since the round that armed the watch.
func (a *acquisition) fast(ev zk.Event, stateCh <-chan struct{}, sess *zkrecipes.Session) bool {
	if ev.Type != zk.EventNodeDeleted || a.own == nil {
		return false
	}
	select {
	case oev := <-a.own:
		a.onOwn(oev)
		return false
	default:
	}
	return a.settled(stateCh, sess)
}

func (a *acquisition) onOwn(ev zk.Event) {
	a.own = nil
	if ev.Type == zk.EventNodeDeleted {
		a.forget()
	}
	// A data change (re-read next round) or the end of the session (the next round sees
	// the state).
}

func (a *acquisition) setNode(p string) {
	a.forget()
	_, a.name = zkrecipes.SplitPath(p)
	a.node = p
}

// forget drops the node from the acquisition's view (it is gone, or being deleted).
func (a *acquisition) forget() {
	a.node, a.name = "", ""
	a.owner, a.czxid, a.version, a.data = 0, 0, 0, nil
	a.own, a.pred, a.predW = nil, "", nil
}

func (a *acquisition) member(sess *zkrecipes.Session, fast bool) *Member {
	return &Member{
		q: a.q, Path: a.node, Name: a.name, Owner: a.owner, Czxid: a.czxid,
		Version: a.version, Data: a.data, Session: sess, Fast: fast, own: a.own, epoch: a.epoch,
	}
}

// failed decides what a failed step means: the end of the acquisition (ctx over, or an
// error that retrying cannot fix), or a pause before the next round.
func (a *acquisition) failed(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if !Retriable(err) {
		return err
	}
	return a.pause(ctx, err)
}

// pause waits before the next round: until the client is connected, then a backoff from
// 50 ms doubling up to 5 s, with jitter so that many contenders do not retry in step.
func (a *acquisition) pause(ctx context.Context, cause error) error {
	a.failures++
	a.q.client.Logger().Debug("queue: retrying", "path", a.q.path, "err", cause, "failures", a.failures)
	if err := a.q.client.BlockUntilConnected(ctx); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return err
	}
	t := time.NewTimer(Backoff(a.failures))
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Backoff paces retries of a failing step: 50 ms doubling up to 5 s, with jitter.
func Backoff(failures int) time.Duration {
	d := 50 * time.Millisecond << min(max(failures-1, 0), 7)
	d = min(d, 5*time.Second)
	return d/2 + rand.N(d/2+1)
}
