package zkrecipes

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/zkrecipes/zkrecipes/retry"
)

// result carries one attempt's outcome out of the goroutine that ran it.
type result[T any] struct {
	v   T
	err error
}

// call runs fn, returning early when ctx ends. go-zk calls cannot be cancelled, so an
// abandoned call finishes in a goroutine the Client tracks (go-zk fails every pending
// call when the connection closes, so it cannot outlive Close).
func call[T any](c *Client, ctx context.Context, fn func() (T, error)) (T, error) {
	if ctx.Done() == nil {
		return fn()
	}
	if err := ctx.Err(); err != nil {
		var zero T
		return zero, err
	}
	ch := make(chan result[T], 1)
	c.bg.Add(1)
	go func() {
		defer c.bg.Done()
		v, err := fn()
		ch <- result[T]{v, err}
	}()
	select {
	case r := <-ch:
		return r.v, r.err
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err()
	}
}

// do runs one logical operation: attempts of fn, retried per the Client's policy while
// the failure is connection-class, wrapped in an OpError naming op and path.
// before runs ahead of every retry (not the first attempt) and may end the loop with a
// value; protected creates use it to look for the node a lost reply created.
func do[T any](c *Client, ctx context.Context, op, path string, fn func() (T, error)) (T, error) {
	v, attempts, err := doRetry(c, ctx, op, path, nil, fn)
	return v, wrapOp(op, path, attempts, err)
}

func doRetry[T any](c *Client, ctx context.Context, op, path string,
	before func(attempt int) (T, bool, error), fn func() (T, error)) (v T, attempts int, err error) {
	start := time.Now()
	defer func() {
		if h := c.cfg.hooks.Operation; h != nil {
			h(OperationEvent{Op: op, Path: path, Duration: time.Since(start), Attempts: attempts, Err: err})
		}
	}()
	if c.closed() {
		return v, 0, ErrClosed
	}
	for retries := 0; ; retries++ {
		if retries > 0 && before != nil {
			var done bool
			v, done, err = before(retries)
			if done || (err != nil && !retry.Retriable(c.cfg.policy, err)) {
				return v, attempts, err
			}
		}
		attempts++
		v, err = call(c, ctx, fn)
		if err == nil || !retry.Retriable(c.cfg.policy, err) {
			return v, attempts, err
		}
		if ctx.Err() != nil {
			return v, attempts, ctx.Err()
		}
		sleep, ok := c.cfg.policy.Next(retries, time.Since(start))
		if !ok {
			return v, attempts, err
		}
		if h := c.cfg.hooks.Retry; h != nil {
			h(RetryEvent{Op: op, Path: path, Attempt: retries, Err: err, Sleep: sleep})
		}
		c.log.Debug("zkrecipes: retrying", "op", op, "path", path, "attempt", retries+1, "sleep", sleep, "err", err)
		if serr := c.sleep(ctx, sleep); serr != nil {
			return v, attempts, errors.Join(serr, err)
		}
	}
}

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

func wrapOp(op, path string, attempts int, err error) error {
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
	return &OpError{Op: op, Path: path, Attempts: attempts, Err: err}
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
	res, err := do(c, ctx, "get", path, func() (r, error) {
		d, st, err := c.conn.Get(c.fullPath(path))
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
	res, err := do(c, ctx, "getw", path, func() (r, error) {
		d, st, ch, err := c.conn.GetW(c.fullPath(path))
		return r{d, st, ch}, err
	})
	return res.data, res.st, res.ch, err
}

// Set writes data to the node at path if its version matches (-1 matches any version).
func (c *Client) Set(ctx context.Context, path string, data []byte, version int32) (*zk.Stat, error) {
	if err := c.checkPath("set", path); err != nil {
		return nil, err
	}
	if err := c.checkData("set", path, data); err != nil {
		return nil, err
	}
	return do(c, ctx, "set", path, func() (*zk.Stat, error) {
		return c.conn.Set(c.fullPath(path), data, version)
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
	res, err := do(c, ctx, "exists", path, func() (r, error) {
		ok, st, err := c.conn.Exists(c.fullPath(path))
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
	res, err := do(c, ctx, "existsw", path, func() (r, error) {
		ok, st, ch, err := c.conn.ExistsW(c.fullPath(path))
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
	res, err := do(c, ctx, "children", path, func() (r, error) {
		n, st, err := c.conn.Children(c.fullPath(path))
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
	res, err := do(c, ctx, "childrenw", path, func() (r, error) {
		n, st, ch, err := c.conn.ChildrenW(c.fullPath(path))
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
	_, err := do(c, ctx, "sync", path, func() (string, error) {
		return c.conn.Sync(c.fullPath(path))
	})
	return err
}

// Delete removes the node at path if its version matches (-1 matches any version). A
// retry after a connection loss that finds the node already gone reports success,
// because the lost attempt may have deleted it.
func (c *Client) Delete(ctx context.Context, path string, version int32) error {
	if err := c.checkPath("delete", path); err != nil {
		return err
	}
	var retried atomic.Bool
	_, err := do(c, ctx, "delete", path, func() (struct{}, error) {
		err := c.conn.Delete(c.fullPath(path), version)
		if errors.Is(err, zk.ErrNoNode) && retried.Load() {
			return struct{}{}, nil
		}
		if retry.IsRetriable(err) {
			retried.Store(true)
		}
		return struct{}{}, err
	})
	return err
}

// DeleteGuaranteed is Curator's guaranteed delete: it deletes the node at path like
// Delete (a missing node counts as deleted), and when that fails for a connection-class
// reason or ctx ends mid-way, it keeps retrying in the background until the node is gone,
// the failure is final, or the Client closes. The error returned is the foreground
// attempt's; background progress is logged.
func (c *Client) DeleteGuaranteed(ctx context.Context, path string, version int32) error {
	err := c.Delete(ctx, path, version)
	if err == nil || errors.Is(err, zk.ErrNoNode) {
		return nil
	}
	if retry.IsRetriable(err) || ctx.Err() != nil {
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
	c.bg.Add(1)
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
			if c.closed() || !(retry.IsRetriable(err) || errors.Is(err, context.DeadlineExceeded)) {
				c.log.Warn("zkrecipes: background operation abandoned", "what", what, "err", err)
				return
			}
			if c.sleep(c.life, time.Duration(min(round+1, 5))*time.Second) != nil {
				return
			}
		}
	}()
}
