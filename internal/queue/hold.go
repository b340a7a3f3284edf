package queue

import (
	"bytes"
	"context"
	"errors"
	"sync"

	"github.com/go-zookeeper/zk"

	"github.com/zkrecipes/zkrecipes"
	"github.com/zkrecipes/zkrecipes/internal/watchhub"
)

// RevokeData is what Curator's Revoker writes into a holder's node to ask it to release:
// exactly these 10 ASCII bytes.
var RevokeData = []byte("__REVOKE__")

// IsRevoke reports whether data is a revoke request.
func IsRevoke(data []byte) bool { return bytes.Equal(data, RevokeData) }

// Reason says why a Hold ended.
type Reason int

const (
	// Stopped: Stop was called (a release).
	Stopped Reason = iota
	// Suspended: the connection dropped while the hold ends on SUSPENDED.
	Suspended
	// SessionEnded: the session was lost (expired, or suspended for the session timeout)
	// or replaced, or the Client closed; detail is the session's cause.
	SessionEnded
	// NodeDeleted: the member's node was deleted, or could no longer be read (detail).
	NodeDeleted
	// Revoked: a revoke request was written into the node, and the hold acts on them.
	Revoked
)

// HoldOptions says what ends a hold and how its context's cause reads.
type HoldOptions struct {
	// Suspend ends the hold on SUSPENDED (Curator's standard error policy); otherwise only
	// a lost session does.
	Suspend bool
	// Revocable ends the hold when the node's data becomes a revoke request.
	Revocable bool
	// Cause builds the context's cause for a reason (detail may be nil). Required.
	Cause func(r Reason, detail error) error
	// Lost, when set, is called once, on the hold's goroutine, when the hold ends by
	// itself (any reason but Stopped), after the context was cancelled.
	Lost func(r Reason, cause error)
}

// Hold turns a held member into a context that is cancelled the moment holding is in
// doubt, watched by one goroutine (plus the Client's state listener, shared by every
// hold and acquisition on the Client).
type Hold struct {
	m      *Member
	opts   HoldOptions
	ctx    context.Context
	cancel context.CancelCauseFunc

	stopOnce sync.Once
	stop     chan struct{}
	opCtx    context.Context // for the hold's own reads; cancelled by Stop
	opCancel context.CancelFunc
	done     chan struct{}
}

// Hold starts watching the member: its context ends on SUSPENDED (with opts.Suspend), when
// the session is lost or replaced or the Client closes, when the node is deleted, and on
// a revoke request (with opts.Revocable). Call Stop exactly when the hold is given up.
func (m *Member) Hold(opts HoldOptions) *Hold {
	ctx, cancel := context.WithCancelCause(context.Background())
	opCtx, opCancel := context.WithCancel(context.Background())
	h := &Hold{m: m, opts: opts, ctx: ctx, cancel: cancel, stop: make(chan struct{}),
		opCtx: opCtx, opCancel: opCancel, done: make(chan struct{})}
	go h.run()
	return h
}

// Context returns the hold's context; context.Cause says why it ended.
func (h *Hold) Context() context.Context { return h.ctx }

// Done returns a channel that is closed once the hold's goroutine has returned.
func (h *Hold) Done() <-chan struct{} { return h.done }

// Stop cancels the hold's context with cause (unless it ended already: the first cause
// stays) and waits until the hold's goroutine has returned, which it does at once, also
// when it is in the middle of a read (Stop cancels it). It is idempotent.
func (h *Hold) Stop(cause error) {
	h.Signal(cause)
	<-h.done
}

// Signal is Stop without the wait: the context is cancelled with cause and the hold
// counts as given up (it reports nothing through Lost from then on), and its goroutine
// returns soon after; Done says when. A release signals, deletes the node, and only then
// waits, so that the goroutine's exit overlaps the delete.
func (h *Hold) Signal(cause error) {
	h.cancel(cause)
	h.stopOnce.Do(func() {
		close(h.stop)
		h.opCancel()
	})
}

func (h *Hold) stopped() bool {
	select {
	case <-h.stop:
		return true
	default:
		return false
	}
}

func (h *Hold) end(r Reason, detail error) {
	cause := h.opts.Cause(r, detail)
	h.cancel(cause)
	if h.opts.Lost != nil && !h.stopped() {
		h.opts.Lost(r, context.Cause(h.ctx))
	}
}

func (h *Hold) run() {
	m := h.m
	c := m.q.client
	defer close(h.done)
	defer m.release()
	defer h.opCancel()
	if h.opts.Revocable && IsRevoke(m.Data) {
		h.end(Revoked, nil)
		return
	}
	for {
		stateCh := m.next()
		if err := m.Session.Err(); err != nil {
			h.end(SessionEnded, err)
			return
		}
		if h.opts.Suspend && !c.State().IsConnected() {
			// LOST and CLOSED end the session before they are the state: a session that is
			// still live here means the connection is merely SUSPENDED.
			if err := m.Session.Err(); err != nil {
				h.end(SessionEnded, err)
			} else {
				h.end(Suspended, nil)
			}
			return
		}
		if e := watchhub.Of(c).Epoch(); e != m.epoch {
			m.epoch, m.own = e, nil // the watch went with a replaced go-zk connection
		}
		if m.own == nil {
			data, st, w, err := m.q.ReadOwn(h.opCtx, m.Path)
			switch {
			case h.stopped():
				return
			case errors.Is(err, zk.ErrNoNode):
				h.end(NodeDeleted, nil)
				return
			case err != nil && !Retriable(err):
				h.end(NodeDeleted, err)
				return
			case err != nil:
				// Connection trouble: look again after the next state change.
				select {
				case <-h.stop:
					return
				case <-m.Session.Done():
				case <-stateCh:
				}
				continue
			}
			m.own, m.Version, m.Data = w, st.Version, data
			if h.opts.Revocable && IsRevoke(data) {
				h.end(Revoked, nil)
				return
			}
		}
		select {
		case <-h.stop:
			return
		case <-m.Session.Done():
		case <-stateCh:
		case ev := <-m.own:
			m.own = nil
			if ev.Type == zk.EventNodeDeleted {
				h.end(NodeDeleted, nil)
				return
			}
			// The data changed (read it again), or the watch ended with the session (the
			// next pass sees the session).
		}
	}
}

// Drop gives the member's share of the Client's state listener back, for a member that
// never got a Hold.
func (m *Member) Drop() { m.release() }

// Client returns the member's client.
func (m *Member) Client() *zkrecipes.Client { return m.q.client }
