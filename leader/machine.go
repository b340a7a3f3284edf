package leader

// The latch's state machine: one goroutine per latch (loop) owns the
// election state, reacts to watches and connection states, and publishes
// transitions to the API side (latch.go) and to the dispatcher.

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/zkrecipes/zkrecipes"
	"github.com/zkrecipes/zkrecipes/internal/fence"
	"github.com/zkrecipes/zkrecipes/retry"
)

// onState runs on the Client's listener goroutine for this latch: it queues
// the change and cuts short whatever call the loop is making, so that the
// loop reacts to SUSPENDED even while a read hangs on the dead connection.
func (l *Latch) onState(sc zkrecipes.StateChange) {
	l.inMu.Lock()
	l.stateGen.Add(1)
	l.states = append(l.states, sc)
	l.inMu.Unlock()
	l.interrupt()
	if l.stateHeard != nil {
		l.stateHeard(sc)
	}
}

func (l *Latch) interrupt() {
	l.inMu.Lock()
	if l.opCancel != nil {
		l.opCancel()
	}
	l.inMu.Unlock()
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// opContext returns the context for one round of calls; it is cancelled
// when a state change arrives or Close is called.
func (l *Latch) opContext() (context.Context, func()) {
	ctx, cancel := context.WithCancel(context.Background())
	l.inMu.Lock()
	pending := len(l.states) > 0
	l.opCancel = cancel
	l.inMu.Unlock()
	if pending || l.quitting() {
		cancel()
	}
	return ctx, func() {
		l.inMu.Lock()
		l.opCancel = nil
		l.inMu.Unlock()
		cancel()
	}
}

func (l *Latch) quitting() bool {
	select {
	case <-l.quit:
		return true
	default:
		return false
	}
}

// loop is the latch's state machine. It alone touches the loop-owned fields
// and it alone decides transitions; listeners hear of them through the
// dispatcher.
func (l *Latch) loop() {
	defer close(l.done)
	var retryTimer *time.Timer
	var retryC <-chan time.Time
	stopRetry := func() {
		if retryTimer != nil {
			retryTimer.Stop()
			retryTimer, retryC = nil, nil
		}
	}
	defer stopRetry()

	for {
		if l.quitting() {
			l.shutdown()
			return
		}
		if l.applyStates() {
			stopRetry()
		}
		if l.dirty && l.connected && retryC == nil {
			err := l.check()
			switch {
			case err == nil:
				l.dirty = false
				l.failures = 0
				l.markJoined(nil)
				if l.settled != nil {
					l.settled()
				}
			case errors.Is(err, errInterrupted):
				continue
			default:
				if !l.joinedOnce && !retriable(err) {
					l.markJoined(err)
				}
				l.failures++
				d := backoffDelay(l.failures)
				l.log.Warn("leader: latch check failed; retrying", "err", err, "in", d)
				retryTimer = time.NewTimer(d)
				retryC = retryTimer.C
			}
		}

		select {
		case <-l.quit:
		case <-l.wake:
		case ev := <-l.predWatch:
			fast := l.fastHandover(ev)
			l.predWatch, l.predHead = nil, false
			l.predWakeups.Add(1)
			l.log.Debug("leader: predecessor changed", "pred", l.pred, "event", ev.Type.String(), "fast", fast)
			if !fast {
				l.dirty = true
				break
			}
			l.pred = ""
			l.fastHandovers.Add(1)
			l.claim()
			if l.settled != nil {
				l.settled()
			}
		case ev := <-l.ownWatch:
			l.ownWatch = nil
			l.onOwnEvent(ev)
		case <-retryC:
			retryTimer, retryC = nil, nil
			l.dirty = true
		}
	}
}

// errInterrupted marks a round cut short by a state change or Close.
var errInterrupted = errors.New("leader: interrupted")

// retriable reports whether a failed round may succeed later by itself:
// connection trouble (the Client gave up retrying, but the latch does not),
// or a path that kept changing.
func retriable(err error) bool {
	return retry.IsRetriable(err) || errors.Is(err, zkrecipes.ErrOutcomeUnknown) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, errChurn)
}

// backoffDelay paces retries of a failing round: 50 ms doubling up to 5 s,
// with jitter so that many latches on one broken path do not retry in step.
func backoffDelay(failures int) time.Duration {
	d := 50 * time.Millisecond << min(failures-1, 7)
	d = min(d, 5*time.Second)
	return d/2 + rand.N(d/2+1)
}

func (l *Latch) markJoined(err error) {
	if l.joinedOnce {
		return
	}
	l.joinedOnce = true
	l.joinErr = err
	close(l.joined)
}

// applyStates handles queued connection state changes in order and reports
// whether the connection came back.
func (l *Latch) applyStates() (reconnected bool) {
	l.inMu.Lock()
	states := l.states
	l.states = nil
	l.inMu.Unlock()
	for _, sc := range states {
		l.log.Debug("leader: connection state", "state", sc.State.String(), "newSession", sc.NewSession)
		switch sc.State {
		case zkrecipes.StateSuspended:
			l.connected = false
			if l.cfg.policy == StandardPolicy {
				l.stepDown(errSuspended, true)
			}
		case zkrecipes.StateLost:
			l.connected = false
			l.stepDown(errSessionLost, true)
		case zkrecipes.StateConnected, zkrecipes.StateReconnected:
			l.connected = true
			l.dirty = true
			reconnected = true
			if sc.WatchesLost {
				// The old watches are gone (with the old session, whose node is
				// gone too or soon will be, which the next round finds out, or
				// with a replaced go-zk connection).
				l.ownWatch, l.predWatch, l.predHead = nil, nil, false
			}
		case zkrecipes.StateClosed:
			l.connected = false
			l.stepDown(errClientClosed, true)
			if !l.clientClosed {
				l.clientClosed = true
				close(l.gone)
			}
		}
	}
	return reconnected
}

func (l *Latch) onOwnEvent(ev zk.Event) {
	switch ev.Type {
	case zk.EventNodeDeleted:
		l.log.Info("leader: own node deleted; joining again", "node", l.node)
		l.forgetNode(errNodeGone)
	default:
		// Data changed (the watch needs re-arming) or the session ended
		// (a state change follows): read everything again.
	}
	l.dirty = true
}

// check is one round of Curator's checkLeadership: join if needed, read the
// children, lead if first (and the node is this session's), otherwise watch
// the node just before ours.
func (l *Latch) check() error {
	gen := l.stateGen.Load() // before the reads: a change from here on is seen
	l.predHead = false
	ctx, done := l.opContext()
	defer done()
	wrap := func(err error) error {
		if ctx.Err() != nil {
			return errInterrupted
		}
		return err
	}
	// Each pass either settles or has just learnt that something moved
	// (a node vanished between two reads); give up on a churning path after
	// a few passes and let the backoff pace it.
	for pass := 0; pass < 10; pass++ {
		if l.node == "" {
			if err := l.join(ctx); err != nil {
				return wrap(err)
			}
		}
		if l.ownWatch == nil {
			_, st, w, err := l.q.ReadOwn(ctx, l.node)
			if errors.Is(err, zk.ErrNoNode) {
				l.forgetNode(errNodeGone)
				continue
			}
			if err != nil {
				return wrap(err)
			}
			l.ownWatch = w
			l.owner, l.czxid, l.version = st.EphemeralOwner, st.Czxid, st.Version
		}
		sorted, pst, err := l.q.List(ctx)
		if errors.Is(err, zk.ErrNoNode) {
			l.forgetNode(errPathGone)
			continue
		}
		if err != nil {
			return wrap(err)
		}
		if !l.warnedMixing && hasForeignNodes(sorted) {
			l.warnedMixing = true
			l.log.Warn("leader: latch path holds LeaderSelector (lock-) nodes; they take part in the order")
		}
		_, name := zkrecipes.SplitPath(l.node)
		idx := indexOf(sorted, name)
		switch {
		case idx < 0:
			l.forgetNode(errNodeGone)
			continue
		case idx == 0:
			if sid := l.client.SessionID(); l.owner != sid {
				// A node of a session we lost: ZooKeeper will delete it,
				// but until then it would block everyone behind it.
				l.log.Info("leader: own node belongs to an old session; joining again",
					"node", l.node, "owner", l.owner, "session", sid)
				old := l.node
				l.forgetNode(errStaleSession)
				if err := l.q.Leave(ctx, old); err != nil && ctx.Err() != nil {
					return errInterrupted
				}
				continue
			}
			l.predWatch, l.pred = nil, ""
			l.claim()
			return nil
		}
		l.stepDown(errNotFirst, true)
		pred := sorted[idx-1]
		head := idx == 1 && pst != nil && sequenceOrdered(sorted, pst.Cversion)
		if pred == l.pred && l.predWatch != nil {
			// Still armed; go-zk re-registers it after a reconnect.
			l.predHead, l.predGen = head, gen
			return nil
		}
		w, err := l.q.Watch(ctx, pred)
		if errors.Is(err, zk.ErrNoNode) {
			continue
		}
		if err != nil {
			return wrap(err)
		}
		l.predWatch, l.pred = w, pred
		l.predHead, l.predGen = head, gen
		return nil
	}
	return fmt.Errorf("%w: %s", errChurn, l.path)
}

// fastHandover reports whether the deletion reported by ev lets the latch
// lead without reading the children again: the last listing had the deleted
// predecessor first and us second, and every node in it was a well-formed
// latch node with a sequence number far below the wrap (sequenceOrdered).
// Every node there now is then either from that listing, behind us, or
// sequential and created later, with a higher number: behind us too. What
// the full round would check must still hold: our node is there, unchanged
// (no event on its watch, which go-zk would have delivered before the
// predecessor's; a data change re-reads it), and belongs to the current,
// connected session; no connection state change arrived since the round that
// armed the watch (a reconnect re-registers watches, and then their events
// come in no particular order); nothing else is pending. Anything else, or
// any doubt, takes the full round.
func (l *Latch) fastHandover(ev zk.Event) bool {
	if !l.predHead || ev.Type != zk.EventNodeDeleted || l.dirty || !l.connected ||
		l.node == "" || l.leading || l.quitting() || l.stateGen.Load() != l.predGen {
		return false
	}
	select {
	case oev := <-l.ownWatch: // a nil channel never fires
		l.ownWatch = nil
		l.onOwnEvent(oev)
		return false
	default:
	}
	if l.ownWatch == nil || !l.client.State().IsConnected() || l.client.SessionID() != l.owner {
		return false
	}
	return true
}

// errChurn: the children kept changing under one round; the next round,
// after a pause, will look again.
var errChurn = errors.New("leader: latch path keeps changing")

// join creates a new node. Its data is the id as UTF-8, never a nil buffer,
// which Java's getParticipants cannot read.
func (l *Latch) join(ctx context.Context) error {
	data := append(make([]byte, 0, len(l.cfg.id)), l.cfg.id...)
	p, err := l.q.Join(ctx, nodeMarker, data)
	if err != nil {
		return fmt.Errorf("leader: join %s: %w", l.path, err)
	}
	l.node = p
	l.fence = nil
	l.ownWatch, l.predWatch, l.pred, l.predHead = nil, nil, "", false
	l.mu.Lock()
	l.nodePath = p
	l.mu.Unlock()
	l.log.Debug("leader: joined", "node", p)
	return nil
}

// forgetNode drops our node from the loop's view after it vanished (or must
// be abandoned); the next round creates a new one.
func (l *Latch) forgetNode(cause error) {
	l.stepDown(cause, true)
	l.node, l.owner, l.czxid, l.version = "", 0, 0, 0
	l.fence = nil
	l.ownWatch, l.predWatch, l.pred, l.predHead = nil, nil, "", false
	l.mu.Lock()
	l.nodePath = ""
	l.mu.Unlock()
}

func (l *Latch) claim() {
	if l.leading {
		return
	}
	if l.fence == nil {
		// One per node: a term resumed after SUSPENDED shares it with the transactions
		// its earlier claim may still have in flight.
		l.fence = fence.New(l.path)
	}
	term := Term{Token: l.czxid, Node: l.node, ID: l.cfg.id, version: l.version, client: l.client, fence: l.fence}
	termCtx, cancel := context.WithCancelCause(context.Background())
	l.termCancel = cancel
	l.mu.Lock()
	l.leading = true
	l.term = term
	l.termCtx = termCtx
	close(l.gained)
	l.gained = make(chan struct{})
	l.mu.Unlock()
	l.hasLeader.Store(true)
	l.log.Info("leader: is leader", "node", l.node, "token", term.Token)
	l.hook(true, term.Token)
	if l.disp != nil {
		l.disp.push(Event{Leader: true, Term: term})
	}
}

// stepDown ends leadership, if any, and returns a channel closed once the
// listeners were told (immediately if notify is false or nobody listens).
// leading is read without mu because only the loop writes it.
func (l *Latch) stepDown(cause error, notify bool) <-chan struct{} {
	if !l.leading {
		return closedChan
	}
	l.hasLeader.Store(false)
	l.mu.Lock()
	l.leading = false
	l.term = Term{}
	l.termCtx = nil
	l.mu.Unlock()
	l.termCancel(cause)
	l.termCancel = nil
	l.log.Info("leader: not leader", "node", l.node, "why", cause)
	l.hook(false, 0)
	if notify && l.disp != nil {
		return l.disp.push(Event{Leader: false})
	}
	return closedChan
}

// hook reports a leadership change to the Client's Leadership hook, if any (see
// zkrecipes.Hooks.Leadership).
func (l *Latch) hook(leader bool, token int64) {
	if h := l.client.Hooks().Leadership; h != nil {
		h(context.Background(), zkrecipes.LeadershipEvent{Path: l.path, ID: l.cfg.id, Node: l.node, Leader: leader, Token: token, Time: time.Now()})
	}
}

var closedChan = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

// shutdown is the loop's last act: step down, then delete the node, so that
// no successor can lead before this latch stopped leading.
func (l *Latch) shutdown() {
	l.mu.Lock()
	ctx := l.closeCtx
	l.mu.Unlock()
	if l.stopListen != nil {
		l.stopListen()
	}
	told := l.stepDown(errLatchClosed, l.cfg.closeMode == CloseNotifyLeader)
	select {
	case <-told:
	case <-ctx.Done():
	}
	var err error
	if l.node != "" {
		// A closed client counts as done: the session is closed, and its
		// ephemeral nodes with it.
		err = l.q.Leave(ctx, l.node)
		if err != nil {
			err = fmt.Errorf("leader: close %s: delete %s: %w", l.path, l.node, err)
		}
		l.forgetNode(errLatchClosed)
	}
	l.mu.Lock()
	l.closeErr = err
	l.mu.Unlock()
	l.markJoined(ErrClosed)
	if l.disp != nil {
		if ctx.Err() != nil {
			l.disp.drop()
		} else {
			l.disp.finish()
		}
	}
}
