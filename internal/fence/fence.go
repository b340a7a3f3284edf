// Package fence makes ZooKeeper transactions conditional on holding something (a term of
// leadership, a lock), and makes them commit at most once even when a reply is lost: the
// machinery under leader.Term.Multi and lock.Lock.Multi.
//
// A guarded transaction is [guard, fence write, ops...]. The guard is a version check of
// the holder's node, which fails once the node is gone. The fence write rewrites the
// holder's parent path (the latch path, the lock path) with its own data, unchanged, at
// the version last seen, so that every commit moves that version by one and a replay of a
// committed transaction fails on it. After a lost reply the Fence waits until the attempt
// has returned (zkrecipes.Settled), reads the version back after a sync, and so tells
// "committed" from "not committed"; it sends the transaction again only in the second
// case. Only the holder writes the parent, one transaction at a time, so a version that
// moved by exactly one since the attempt is that attempt's commit.
package fence

import (
	"context"
	"errors"
	"fmt"

	"github.com/go-zookeeper/zk"

	"github.com/zkrecipes/zkrecipes"
)

// Fence is what the guarded transactions of one holding share: the parent's data and
// version. Make one per held node and keep it for as long as the node is held (a holding
// resumed after SUSPENDED shares it with the transactions its earlier claim may still have
// in flight).
type Fence struct {
	path string        // the parent path, relative to the namespace
	sem  chan struct{} // capacity 1: one transaction at a time

	// Guarded by sem.
	known    bool
	data     []byte // the parent's data, written back unchanged
	version  int32
	inflight <-chan struct{} // an abandoned transaction that has not returned yet
}

// New returns the fence of a holder whose parent path is path.
func New(path string) *Fence {
	return &Fence{path: path, sem: make(chan struct{}, 1)}
}

// Path returns the parent path the fence writes.
func (f *Fence) Path() string { return f.path }

// Spec names the holding a Multi guards, for its errors.
type Spec struct {
	Client *zkrecipes.Client
	// Guard is the check that the holding still stands (see the package doc).
	Guard *zk.CheckVersionRequest
	// Prefix starts messages ("leader", "lock"); Holder describes the holding ("term(...)");
	// PathWord names the parent ("latch path", "lock path").
	Prefix, Holder, PathWord string
	// NotHeld is wrapped by the errors that say the holding no longer stands.
	NotHeld error
}

// Multi runs ops (what zkrecipes.Client.Multi takes) as one transaction that commits only
// while the holding stands, and at most once. It returns the responses of ops and:
//   - nil when the transaction committed exactly once. If the reply was lost and Multi
//     found out afterwards that it had committed, the responses cannot be known: they come
//     back as zero values, one per op;
//   - an error wrapping s.NotHeld (and zk.ErrNoNode or zk.ErrBadVersion) when the holding
//     no longer stands: nothing was written;
//   - an error matching zkrecipes.ErrOutcomeUnknown when Multi could not find out whether
//     it committed (ctx ended while the transaction was in flight or before its outcome was
//     read back, reading the parent back failed, or its version moved in a way only an
//     outside writer explains). The next Multi waits for that transaction's attempt to
//     return and reads the version again;
//   - other errors from zkrecipes.Client.Multi (an op of ops failed: nothing was written).
//
// Calls are serialized: a second Multi waits for the first (or for its ctx).
func (f *Fence) Multi(ctx context.Context, s Spec, ops ...any) ([]zk.MultiResponse, error) {
	select {
	case f.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-f.sem }()

	var lastUnknown error // set once an attempt of this call had an unknown outcome
	for round := 0; ; round++ {
		if round >= 10 {
			err := fmt.Errorf("%s: %s: the %s's version keeps moving; giving up", s.Prefix, s.Holder, s.PathWord)
			if lastUnknown != nil {
				f.known = false
				return nil, fmt.Errorf("%w (%w)", lastUnknown, err)
			}
			return nil, err
		}
		if f.inflight != nil {
			// An earlier transaction of this holding may still land: wait, or every
			// version read below could be overtaken by it.
			select {
			case <-f.inflight:
				f.inflight = nil
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		if !f.known {
			data, st, err := f.read(ctx, s.Client)
			if errors.Is(err, zk.ErrNoNode) {
				return nil, fmt.Errorf("%w: %s: the %s is gone: %w", s.NotHeld, s.Holder, s.PathWord, err)
			}
			if err != nil {
				return nil, err
			}
			f.data, f.version, f.known = data, st.Version, true
		}
		all := make([]any, 0, len(ops)+2)
		all = append(all, s.Guard, &zk.SetDataRequest{Path: f.path, Data: f.data, Version: f.version})
		all = append(all, ops...)
		resp, err := s.Client.Multi(ctx, all...)
		switch {
		case err == nil:
			f.version++
			return resp[2:], nil
		case len(resp) > 0 && guardFailed(resp[0].Error):
			return nil, fmt.Errorf("%w: %s no longer holds at %s: %w", s.NotHeld, s.Holder, s.Guard.Path, resp[0].Error)
		case len(resp) > 1 && errors.Is(resp[1].Error, zk.ErrBadVersion) && lastUnknown == nil:
			f.known = false // the version read was stale: read it again, synced
			continue
		case len(resp) > 1 && errors.Is(resp[1].Error, zk.ErrBadVersion):
			// An earlier attempt of this call moved the version after all: only this
			// holding writes the parent, one transaction at a time.
			applied, rerr := f.resolve(ctx, s.Client, lastUnknown)
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
			applied, rerr := f.resolve(ctx, s.Client, err)
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

// read reads the parent after a sync, so that the server the client is connected to has
// applied every committed transaction first: a lagging follower would otherwise serve an
// old version.
func (f *Fence) read(ctx context.Context, c *zkrecipes.Client) ([]byte, *zk.Stat, error) {
	if err := c.Sync(ctx, f.path); err != nil {
		return nil, nil, err
	}
	return c.Get(ctx, f.path)
}

// resolve finds out whether the transaction that failed with the unknown outcome err
// committed: once its attempt has returned, the parent's version tells.
func (f *Fence) resolve(ctx context.Context, c *zkrecipes.Client, err error) (applied bool, _ error) {
	f.inflight = zkrecipes.Settled(err)
	select {
	case <-f.inflight:
		f.inflight = nil
	case <-ctx.Done():
		f.known = false
		return false, err
	}
	_, st, gerr := f.read(ctx, c)
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
