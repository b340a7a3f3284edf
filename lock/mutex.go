package lock

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/zkrecipes/zkrecipes"
	"github.com/zkrecipes/zkrecipes/internal/queue"
)

// mutexMarker is the text before the sequence number in InterProcessMutex's nodes (and
// LeaderSelector's, and a semaphore's locks).
const mutexMarker = "lock-"

// mutexOrder is InterProcessMutex's order: by the text after the last "lock-".
var mutexOrder = queue.NewOrder(mutexMarker)

// Mutex is Curator's InterProcessMutex, on the wire and in behaviour: every process that
// wants the lock at a path, in Go or in Java, owns one ephemeral sequential node under
// it, and the first node in Curator's order holds the lock. A Mutex is a description of
// the lock (a client, a path, options); it holds nothing itself and is safe for
// concurrent use. Each Acquire returns a *Lock.
//
// A Mutex is not reentrant: Go has no thread identity, so every Acquire is a separate
// contender with a node of its own, also on the goroutine that already holds a Lock of
// the same Mutex, where it waits (until its ctx ends) as a second sync.Mutex.Lock would.
// Code that needs the lock again while it holds it should be handed the *Lock. Java peers
// cannot tell the difference: Curator's reentrancy is client-side.
type Mutex struct {
	client *zkrecipes.Client
	path   string
	q      *queue.Queue
	cfg    config
	data   []byte
	quiet  bool // a recipe's inner mutex (a semaphore's P/locks): no hook events

	counters queue.Counters // for tests (internal/probe)
}

// NewMutex returns the mutex at path (relative to the client's namespace). It checks its
// arguments and options and reports every problem at once: errors wrap ErrInvalidOption,
// and a client that is already closed gives an error wrapping zkrecipes.ErrClosed.
// Options: WithData, WithErrorPolicy, WithRevocable.
func NewMutex(client *zkrecipes.Client, path string, opts ...Option) (*Mutex, error) {
	cfg := newConfig(opts)
	if err := checkArgs(client, path, &cfg); err != nil {
		return nil, err
	}
	return &Mutex{client: client, path: path, q: queue.New(client, path, mutexOrder), cfg: cfg, data: cfg.nodeData()}, nil
}

func checkArgs(client *zkrecipes.Client, path string, cfg *config) error {
	var errs []error
	if client == nil {
		errs = append(errs, fmt.Errorf("%w: nil client", ErrInvalidOption))
	} else if client.State() == zkrecipes.StateClosed {
		errs = append(errs, errClientGone)
	}
	if err := zkrecipes.ValidatePath(path); err != nil {
		errs = append(errs, fmt.Errorf("%w: lock path: %w", ErrInvalidOption, err))
	} else if path == "/" {
		// The root's children include /zookeeper, which would take part.
		errs = append(errs, fmt.Errorf("%w: lock path must not be the root", ErrInvalidOption))
	}
	errs = append(errs, cfg.errs...)
	return errors.Join(errs...)
}

// Path returns the lock path (relative to the client's namespace).
func (m *Mutex) Path() string { return m.path }

// Acquire waits until this process holds the lock, and returns it held. It creates a node
// <path>/_c_<uuid>-lock-<seq> (and the path as containers if needed), then waits behind
// the node ordered just before it, watching only that node, until its own node is first.
// It keeps waiting through disconnections (the node stays, and counts again once the
// connection is back on the same session) and new sessions (the old session's node is
// never counted as held: it is deleted and a new node joins the queue at the back).
//
// When ctx ends first, Acquire returns ctx.Err() (wrapped) and leaves no node behind: its
// node is deleted at once in the background, and a create whose reply was still on its
// way is cleaned up by the Client as soon as it returns. Errors that retrying cannot fix
// (no permission, a closed client) end Acquire the same way; connection trouble does not:
// Acquire retries after a backoff until ctx ends.
func (m *Mutex) Acquire(ctx context.Context) (*Lock, error) {
	return m.acquire(ctx, false)
}

// TryAcquire is Acquire without the waiting: it creates its node and, unless the node is
// first at once, deletes it (before returning) and returns an error wrapping ErrLocked,
// like Curator's acquire with a zero timeout. Connection trouble is still retried until
// ctx ends; use a ctx with a deadline to bound it.
func (m *Mutex) TryAcquire(ctx context.Context) (*Lock, error) {
	return m.acquire(ctx, true)
}

func (m *Mutex) acquire(ctx context.Context, try bool) (*Lock, error) {
	return m.acquireWith(ctx, queue.Request{Marker: mutexMarker, Data: m.data, Rule: queue.Exclusive, Try: try, Fast: true})
}

func (m *Mutex) acquireWith(ctx context.Context, req queue.Request) (*Lock, error) {
	start := time.Now()
	mem, err := m.q.Acquire(ctx, req, &m.counters)
	if err != nil {
		if m.quiet {
			return nil, err
		}
		err = acquireError(m.path, err)
		hookAcquired(ctx, m.client, m.path, "mutex", "", false, time.Since(start), err)
		return nil, err
	}
	kind := "mutex"
	if m.quiet {
		kind = "" // no hook events
	} else {
		hookAcquired(ctx, m.client, m.path, kind, mem.Path, true, time.Since(start), nil)
	}
	return newLock(m.client, m.path, kind, mem, m.cfg, true), nil
}

func acquireError(path string, err error) error {
	switch {
	case errors.Is(err, queue.ErrBusy):
		return fmt.Errorf("%w: %s", ErrLocked, path)
	case errors.Is(err, zkrecipes.ErrClosed):
		return fmt.Errorf("lock: acquire %s: %w", path, errClientGone)
	}
	return fmt.Errorf("lock: acquire %s: %w", path, err)
}

// Nodes returns the names of the nodes under the lock path in Curator's order, the
// holder first (Curator's getParticipantNodes); a missing path gives none. The answer
// may be stale when it arrives.
func (m *Mutex) Nodes(ctx context.Context) ([]string, error) {
	sorted, _, err := m.q.List(ctx)
	if errors.Is(err, zk.ErrNoNode) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("lock: nodes of %s: %w", m.path, err)
	}
	return sorted, nil
}
