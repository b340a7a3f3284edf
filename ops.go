package zkrecipes

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/zkrecipes/zkrecipes/internal/watchhub"
	"github.com/zkrecipes/zkrecipes/retry"
)

// result carries one attempt's outcome out of the goroutine that ran it.
type result[T any] struct {
	v   T
	err error
}

// call runs fn, an attempt on gen g's go-zk connection, returning early when ctx ends or
// when the watchdog replaces g (then with errConnReplaced). go-zk calls cannot be
// cancelled, so an abandoned call finishes in a goroutine counted by g.calls for Close
// (go-zk fails every pending call when the connection closes, and all of them when its
// Conn is closed, as a replaced gen's is, so it cannot outlive Close). For an abandoned
// call, inflight is a channel closed once fn has returned; it is nil otherwise. A call
// abandoned because g was replaced gets it too: until go-zk has failed the attempt it may
// still be sent, so nothing may be cleaned up after it before that.
//
// Every fn is counted by g's watchdog while it runs (see watchdog). With a ctx that is
// never done, or one marked by watchhub.Inline, fn runs on the caller's goroutine, which
// then waits for it whatever ctx does: go-zk answers or fails it, at the latest when a
// replacement closes g's go-zk Conn (see watchhub.Inline).
func call[T any](c *Client, ctx context.Context, g *gen, fn func() (T, error)) (v T, inflight <-chan struct{}, err error) {
	if ctx.Done() == nil {
		return callCounted(g, fn)
	}
	if err := ctx.Err(); err != nil {
		return v, nil, err
	}
	if watchhub.IsInline(ctx) {
		return callCounted(g, fn)
	}
	if !c.track() { // closed: go-zk fails the call at once
		return callCounted(g, fn)
	}
	g.calls.Add(1) // before bg.Done, so that Close, which waits for bg first, sees it
	c.bg.Done()
	ch := make(chan result[T], 1)
	fin := make(chan struct{})
	go func() {
		defer g.calls.Done()
		defer close(fin)
		g.wd.begin()
		v, err := fn()
		g.wd.end()
		ch <- result[T]{v, err}
	}()
	select {
	case r := <-ch:
		return r.v, nil, r.err
	case <-g.dead:
		select {
		case r := <-ch: // both: the attempt did return
			return r.v, nil, r.err
		default:
		}
		return v, fin, errConnReplaced
	case <-ctx.Done():
		select {
		case r := <-ch:
			return r.v, nil, r.err
		default:
		}
		return v, fin, ctx.Err()
	}
}

// callCounted runs fn on the caller's goroutine, counted by g's watchdog.
func callCounted[T any](g *gen, fn func() (T, error)) (T, <-chan struct{}, error) {
	g.wd.begin()
	defer g.wd.end()
	v, err := fn()
	return v, nil, err
}

// joinInflight returns a channel closed once every channel of chans is closed (nil when they
// all are already). Its goroutine ends with the Client: then the channel stays open, as the
// attempts may still be in flight.
func (c *Client) joinInflight(chans []<-chan struct{}) <-chan struct{} {
	open := chans[:0:0]
	for _, ch := range chans {
		select {
		case <-ch:
		default:
			open = append(open, ch)
		}
	}
	if len(open) == 0 || !c.track() {
		return nil
	}
	all := make(chan struct{})
	go func() {
		defer c.bg.Done()
		for _, ch := range open {
			select {
			case <-ch:
			case <-c.life.Done():
				return
			}
		}
		close(all)
	}()
	return all
}

// opKind says what a retry of an operation may do.
type opKind int

const (
	// opRead: reads (and syncs) are retried; an abandoned attempt changes nothing.
	opRead opKind = iota
	// opIdempotent: writes whose replay cannot apply a second, different effect (an
	// unconditional set or delete, a create that checks ownership, a protected create),
	// retried under the policy; if retries run out after an attempt whose outcome is
	// unknown, the error matches ErrOutcomeUnknown.
	opIdempotent
	// opOnce: writes that a replay could apply twice (a sequential create, a
	// transaction): never retried after an attempt whose outcome is unknown.
	opOnce
)

// notSent reports whether a connection-class failure proves that the request was not
// applied: go-zk fails requests it never wrote with ErrNoServer, and the server refuses
// a request of a session that moved to another server.
func notSent(err error) bool {
	return errors.Is(err, zk.ErrNoServer) || errors.Is(err, zk.ErrSessionMoved)
}

// outcomeUnknown is the error of a write that may or may not have been applied.
type outcomeUnknown struct{ cause error }

func (e *outcomeUnknown) Error() string {
	return "outcome unknown, the write may or may not have been applied: " + e.cause.Error()
}
func (e *outcomeUnknown) Unwrap() []error { return []error{ErrOutcomeUnknown, e.cause} }

// OutcomeUnknown marks the error for retry.IsRetriable, which must not retry it.
func (e *outcomeUnknown) OutcomeUnknown() bool { return true }

func unknownOutcome(errs ...error) error {
	if len(errs) == 1 {
		return &outcomeUnknown{cause: errs[0]}
	}
	return &outcomeUnknown{cause: errors.Join(errs...)}
}

// do runs one logical operation: attempts of fn, retried per the Client's policy while
// the failure is connection-class (and, for writes, per kind), wrapped in an OpError
// naming op and path. fn learns whether an earlier attempt's outcome is unknown, so that
// it can tell its own earlier success from a conflict.
//
// fn runs on z, the go-zk connection of the Client's current gen (see gen): every go-zk
// call of one attempt must go to it.
func do[T any](c *Client, ctx context.Context, op, path string, kind opKind, fn func(z *zk.Conn, uncertain bool) (T, error)) (T, error) {
	v, attempts, inflight, err := doRetry(c, ctx, op, path, kind, nil, fn)
	return v, wrapOp(op, path, attempts, inflight, err)
}

// doRetry is do's loop. before runs ahead of every retry (not the first attempt) and may
// end the loop with a value; protected creates use it to look for the node a lost reply
// created. inflight is set when the last attempt was abandoned (ctx ended while it ran).
func doRetry[T any](c *Client, ctx context.Context, op, path string, kind opKind,
	before func(attempt int) (T, bool, error), fn func(z *zk.Conn, uncertain bool) (T, error)) (v T, attempts int, inflight <-chan struct{}, err error) {
	start := time.Now()
	hctx := ctx // the hooks' context (see Hooks.OperationStart)
	if h := c.cfg.hooks.OperationStart; h != nil {
		if r := h(ctx, OperationStartEvent{Op: op, Path: path, Time: start}); r != nil {
			hctx = r
		}
	}
	if c.cfg.hooks.Operation != nil {
		defer func() {
			c.cfg.hooks.Operation(hctx, OperationEvent{Op: op, Path: path, Duration: time.Since(start),
				Attempts: attempts, Err: err, Outcome: OutcomeOf(err), SessionID: c.SessionID()})
		}()
	}
	if c.closed() {
		return v, 0, nil, ErrClosed
	}
	// stuck holds the in-flight channels of attempts cut short because the watchdog
	// replaced their connection: they may still be in go-zk, so a failure reports them as
	// in flight (see call).
	var stuck []<-chan struct{}
	defer func() {
		if err != nil && len(stuck) > 0 {
			if inflight != nil {
				stuck = append(stuck, inflight)
			}
			inflight = c.joinInflight(stuck)
		}
	}()
	uncertain := false
	// fail ends the loop with errs. Once an attempt of a write may have landed, every
	// error is an unknown outcome, except one that fn settled (see settledError).
	fail := func(errs ...error) error {
		err := errors.Join(errs...)
		if len(errs) == 1 {
			err = errs[0]
		}
		var se *settledError
		if errors.As(err, &se) {
			return se.err
		}
		if uncertain && kind != opRead && !errors.Is(err, ErrOutcomeUnknown) {
			return unknownOutcome(errs...)
		}
		return err
	}
	for retries := 0; ; retries++ {
		lookedUp := true
		if retries > 0 && before != nil {
			var done bool
			v, done, err = before(retries)
			switch {
			case done:
				return v, attempts, nil, err
			case err != nil && !retry.Retriable(c.cfg.policy, err):
				return v, attempts, nil, fail(err)
			case err != nil:
				// The look-up failed: sending the write now could make a second copy
				// of what a lost attempt made. Back off and look again.
				lookedUp = false
			}
		}
		if lookedUp {
			attempts++
			if werr := c.awaitConnection(ctx); werr != nil {
				if !errors.Is(werr, zk.ErrNoServer) {
					return v, attempts, nil, fail(werr) // not sent
				}
				err = werr // not sent either; retried like go-zk's own ErrNoServer
			} else {
				u := uncertain
				g := c.gen()
				v, inflight, err = call(c, ctx, g, func() (T, error) { return fn(g.conn, u) })
				if inflight != nil && errors.Is(err, errConnReplaced) {
					stuck = append(stuck, inflight)
					inflight = nil
				}
				if inflight != nil {
					// The attempt is still running and may yet be applied.
					uncertain = true
					return v, attempts, inflight, fail(err)
				}
			}
			// zk.ErrClosing: Close failed the request, sent or not; it may have landed.
			if err != nil && !notSent(err) && (retry.IsRetriable(err) || errors.Is(err, zk.ErrClosing)) {
				uncertain = true
			}
		}
		if err == nil {
			return v, attempts, nil, nil
		}
		if errors.Is(err, ErrOutcomeUnknown) || !retry.Retriable(c.cfg.policy, err) {
			return v, attempts, nil, fail(err)
		}
		if uncertain && kind == opOnce {
			return v, attempts, nil, fail(err)
		}
		if ctx.Err() != nil {
			return v, attempts, nil, fail(ctx.Err(), err)
		}
		sleep, ok := c.cfg.policy.Next(retries, time.Since(start))
		if !ok {
			return v, attempts, nil, fail(err)
		}
		if h := c.cfg.hooks.Retry; h != nil {
			h(hctx, RetryEvent{Op: op, Path: path, Attempt: retries, Err: err, Sleep: sleep})
		}
		c.log.Debug("zkrecipes: retrying", "op", op, "path", path, "attempt", retries+1, "sleep", sleep, "err", err)
		if serr := c.sleep(ctx, sleep); serr != nil {
			return v, attempts, nil, fail(serr, err)
		}
	}
}

// settledError is an error that an attempt returned after it found out what an earlier,
// uncertain attempt did: doRetry returns the wrapped error as it is, not as unknown.
type settledError struct{ err error }

func (e *settledError) Error() string { return e.err.Error() }
func (e *settledError) Unwrap() error { return e.err }

// awaitConnection holds an attempt back while the client is not connected, for up to a
// second (go-zk's own pause between passes over the servers), so that requests do not
// wait in go-zk's queue across a reconnect. It fails with zk.ErrNoServer when the connection
// is still down then (the attempt was not sent, as when go-zk fails a queued request),
// with ctx.Err() when ctx ends and with ErrClosed when the Client closes.
//
// go-zk has a data race (go-zookeeper/zk PR #35) between re-sending watches after a
// reconnect and the replies to requests sent before them: for reconnectPause after each
// (re)connection, attempts wait, so that go-zk's watch request usually goes out first.
// Both are best effort: a request issued just before the client noticed a disconnection
// still waits in go-zk's queue, and a huge watch set takes go-zk longer to re-send.
func (c *Client) awaitConnection(ctx context.Context) error {
	st, at := c.sm.usable()
	if st.IsConnected() {
		if d := time.Until(at); d > 0 {
			return c.sleep(ctx, d)
		}
		return nil
	}
	wctx, cancel := context.WithTimeout(ctx, min(c.cfg.connectionTimeout, time.Second))
	defer cancel()
	err := c.sm.waitConnected(wctx)
	switch {
	case err == nil:
		_, at := c.sm.usable()
		return c.sleep(ctx, time.Until(at))
	case errors.Is(err, ErrClosed) || c.closed():
		return ErrClosed
	case ctx.Err() != nil:
		return ctx.Err()
	}
	return fmt.Errorf("%w (not connected)", zk.ErrNoServer)
}

// reconnectPause is how long an attempt that waited for a reconnect lets go-zk re-send
// its watches first.
const reconnectPause = 10 * time.Millisecond

// sleep waits d, or until ctx ends or the Client closes.
func (c *Client) sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-c.life.Done():
		return ErrClosed
	}
}

func wrapOp(op, path string, attempts int, inflight <-chan struct{}, err error) error {
	if err == nil {
		return nil
	}
	var oe *OpError
	if errors.As(err, &oe) {
		return err
	}
	if errors.Is(err, zk.ErrClosing) {
		err = errors.Join(ErrClosed, err)
	}
	return &OpError{Op: op, Path: path, Attempts: attempts, Err: err, inflight: inflight}
}

func (c *Client) checkPath(op, p string) error {
	if err := ValidatePath(p); err != nil {
		return &OpError{Op: op, Path: p, Err: err}
	}
	return nil
}

func (c *Client) checkData(op, p string, data []byte) error {
	if len(data) > c.cfg.maxDataSize {
		return &OpError{Op: op, Path: p, Err: fmt.Errorf("%w: %d bytes, limit %d", ErrDataTooLarge, len(data), c.cfg.maxDataSize)}
	}
	return nil
}

// Get returns the data and stat of the node at path.
func (c *Client) Get(ctx context.Context, path string) ([]byte, *zk.Stat, error) {
	if err := c.checkPath("get", path); err != nil {
		return nil, nil, err
	}
	type r struct {
		data []byte
		st   *zk.Stat
	}
	res, err := do(c, ctx, "get", path, opRead, func(z *zk.Conn, _ bool) (r, error) {
		d, st, err := z.Get(c.fullPath(path))
		return r{d, st}, err
	})
	return res.data, res.st, err
}

// GetW is Get that also sets a one-shot data watch: the channel receives one event when
// the node's data changes or the node is deleted (or EventNotWatching when the session
// ends or the client closes). Event paths are server paths.
func (c *Client) GetW(ctx context.Context, path string) ([]byte, *zk.Stat, <-chan zk.Event, error) {
	if err := c.checkPath("getw", path); err != nil {
		return nil, nil, nil, err
	}
	type r struct {
		data []byte
		st   *zk.Stat
		ch   <-chan zk.Event
	}
	res, err := do(c, ctx, "getw", path, opRead, func(z *zk.Conn, _ bool) (r, error) {
		d, st, ch, err := z.GetW(c.fullPath(path))
		return r{d, st, ch}, err
	})
	return res.data, res.st, res.ch, err
}

// Set writes data to the node at path if its version matches (-1 matches any version).
//
// Retries: an unconditional Set (version -1) is retried after a connection loss: a
// replay writes the same bytes again, so the node ends up holding data either way (its
// version may move twice and watchers may see two changes). A conditional Set is retried
// too, and a retry that fails with zk.ErrBadVersion after an attempt whose reply was lost
// returns an error matching ErrOutcomeUnknown: the lost attempt may have been the one that
// moved the version. Retries that run out, or a ctx that ends while an attempt is in
// flight, also give ErrOutcomeUnknown (see Settled).
func (c *Client) Set(ctx context.Context, path string, data []byte, version int32) (*zk.Stat, error) {
	if err := c.checkPath("set", path); err != nil {
		return nil, err
	}
	if err := c.checkData("set", path, data); err != nil {
		return nil, err
	}
	return do(c, ctx, "set", path, opIdempotent, func(z *zk.Conn, uncertain bool) (*zk.Stat, error) {
		st, err := z.Set(c.fullPath(path), data, version)
		if uncertain && version >= 0 && errors.Is(err, zk.ErrBadVersion) {
			return nil, unknownOutcome(err)
		}
		return st, err
	})
}

// Exists reports whether the node at path exists, with its stat when it does.
func (c *Client) Exists(ctx context.Context, path string) (bool, *zk.Stat, error) {
	if err := c.checkPath("exists", path); err != nil {
		return false, nil, err
	}
	type r struct {
		ok bool
		st *zk.Stat
	}
	res, err := do(c, ctx, "exists", path, opRead, func(z *zk.Conn, _ bool) (r, error) {
		ok, st, err := z.Exists(c.fullPath(path))
		return r{ok, st}, err
	})
	return res.ok, res.st, err
}

// ExistsW is Exists that also sets a one-shot watch, which fires when the node is
// created, changed or deleted.
func (c *Client) ExistsW(ctx context.Context, path string) (bool, *zk.Stat, <-chan zk.Event, error) {
	if err := c.checkPath("existsw", path); err != nil {
		return false, nil, nil, err
	}
	type r struct {
		ok bool
		st *zk.Stat
		ch <-chan zk.Event
	}
	res, err := do(c, ctx, "existsw", path, opRead, func(z *zk.Conn, _ bool) (r, error) {
		ok, st, ch, err := z.ExistsW(c.fullPath(path))
		return r{ok, st, ch}, err
	})
	return res.ok, res.st, res.ch, err
}

// Children returns the names of the children of the node at path, in server order.
func (c *Client) Children(ctx context.Context, path string) ([]string, *zk.Stat, error) {
	if err := c.checkPath("children", path); err != nil {
		return nil, nil, err
	}
	type r struct {
		names []string
		st    *zk.Stat
	}
	res, err := do(c, ctx, "children", path, opRead, func(z *zk.Conn, _ bool) (r, error) {
		n, st, err := z.Children(c.fullPath(path))
		return r{n, st}, err
	})
	return res.names, res.st, err
}

// ChildrenW is Children that also sets a one-shot watch, which fires when a child is
// added or removed or the node is deleted.
func (c *Client) ChildrenW(ctx context.Context, path string) ([]string, *zk.Stat, <-chan zk.Event, error) {
	if err := c.checkPath("childrenw", path); err != nil {
		return nil, nil, nil, err
	}
	type r struct {
		names []string
		st    *zk.Stat
		ch    <-chan zk.Event
	}
	res, err := do(c, ctx, "childrenw", path, opRead, func(z *zk.Conn, _ bool) (r, error) {
		n, st, ch, err := z.ChildrenW(c.fullPath(path))
		return r{n, st, ch}, err
	})
	return res.names, res.st, res.ch, err
}

// Sync makes the server the client is connected to catch up with the leader for path,
// so that a following read sees every write committed before the Sync.
func (c *Client) Sync(ctx context.Context, path string) error {
	if err := c.checkPath("sync", path); err != nil {
		return err
	}
	_, err := do(c, ctx, "sync", path, opRead, func(z *zk.Conn, _ bool) (string, error) {
		return z.Sync(c.fullPath(path))
	})
	return err
}

// Delete removes the node at path if its version matches (-1 matches any version).
//
// Retries: an unconditional Delete is retried after a connection loss, and a retry that
// finds the node gone reports success, because the lost attempt may have deleted it (the
// node is absent either way). A conditional Delete is retried too, but a retry that gets
// zk.ErrNoNode or zk.ErrBadVersion after an attempt whose reply was lost returns an error
// matching ErrOutcomeUnknown. Retries that run out, or a ctx that ends while an attempt is
// in flight, also give ErrOutcomeUnknown (see Settled).
func (c *Client) Delete(ctx context.Context, path string, version int32) error {
	if err := c.checkPath("delete", path); err != nil {
		return err
	}
	_, err := do(c, ctx, "delete", path, opIdempotent, func(z *zk.Conn, uncertain bool) (struct{}, error) {
		err := z.Delete(c.fullPath(path), version)
		if uncertain && errors.Is(err, zk.ErrNoNode) && version < 0 {
			return struct{}{}, nil
		}
		if uncertain && (errors.Is(err, zk.ErrNoNode) || errors.Is(err, zk.ErrBadVersion)) {
			return struct{}{}, unknownOutcome(err)
		}
		return struct{}{}, err
	})
	return err
}

// DeleteGuaranteed is Curator's guaranteed delete: it deletes the node at path like
// Delete (a missing node counts as deleted), and when that fails for a connection-class
// reason, with an unknown outcome, or because ctx ended mid-way, it keeps retrying in the
// background until the node is gone, the failure is final, or the Client closes. The
// error returned is the foreground attempt's; background progress is logged. Close
// abandons a pending background delete (an ephemeral node goes with the session anyway).
func (c *Client) DeleteGuaranteed(ctx context.Context, path string, version int32) error {
	err := c.Delete(ctx, path, version)
	if err == nil || errors.Is(err, zk.ErrNoNode) {
		return nil
	}
	if retry.IsRetriable(err) || errors.Is(err, ErrOutcomeUnknown) || ctx.Err() != nil {
		c.background("guaranteed delete "+path, func(ctx context.Context) error {
			err := c.Delete(ctx, path, version)
			if errors.Is(err, zk.ErrNoNode) {
				return nil
			}
			return err
		})
	}
	return err
}

// background runs fn until it succeeds or fails for a non-retriable reason, retrying with
// the Client's policy and, once that is used up, every few seconds; it stops when the
// Client closes.
func (c *Client) background(what string, fn func(ctx context.Context) error) {
	if !c.track() {
		return
	}
	go func() {
		defer c.bg.Done()
		for round := 0; ; round++ {
			if err := c.BlockUntilConnected(c.life); err != nil {
				return
			}
			err := fn(c.life)
			if err == nil {
				c.log.Debug("zkrecipes: background operation done", "what", what)
				return
			}
			if c.closed() || !(retry.IsRetriable(err) || errors.Is(err, ErrOutcomeUnknown) || errors.Is(err, context.DeadlineExceeded)) {
				c.log.Warn("zkrecipes: background operation abandoned", "what", what, "err", err)
				return
			}
			if c.sleep(c.life, time.Duration(min(round+1, 5))*time.Second) != nil {
				return
			}
		}
	}()
}
