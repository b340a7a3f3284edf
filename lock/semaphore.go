package lock

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/zkrecipes/zkrecipes"
	"github.com/zkrecipes/zkrecipes/internal/queue"
	"github.com/zkrecipes/zkrecipes/internal/watchhub"
)

const leaseMarker = "lease-"

var leaseOrder = queue.NewOrder(leaseMarker)

// Semaphore is Curator's InterProcessSemaphoreV2, on the wire and in behaviour: at most
// maxLeases leases of a path are held at a time, by Go and Java processes together. Under
// the path P, P/locks is a Mutex (InterProcessMutex nodes) that every acquisition holds
// while it creates its lease and, if no lease is free, while it waits; each lease is a
// node P/leases/_c_<uuid>-lease-<seq>, EPHEMERAL_SEQUENTIAL, with the data WithData gives
// (Curator's setNodeData; otherwise the host's address). Every child of P/leases counts as
// a lease, whatever its name. A lease is held when, its node created, P/leases has at
// most maxLeases children; otherwise the acquisition waits (a child watch on P/leases)
// until one goes.
//
// The lease count is not stored anywhere unless it comes from a shared count node
// (NewSharedSemaphore): each process applies its own number, so give every participant,
// Go or Java, the same one. A Semaphore holds nothing itself and is safe for concurrent
// use; each Acquire is a participant of its own (not reentrant).
type Semaphore struct {
	client *zkrecipes.Client
	path   string
	kind   string // "semaphore" or "semaphore-mutex"
	locks  *Mutex
	leases *queue.Queue
	max    int32  // the local count
	count  string // the shared count node, "" for a local count
	cfg    config
	data   []byte
}

// NewSemaphore returns the semaphore at path (relative to the client's namespace) with
// maxLeases leases, counted locally (maxLeases < 1 is an error). Errors wrap
// ErrInvalidOption, or zkrecipes.ErrClosed for a closed client. Options: WithData (the
// lease nodes' data), WithErrorPolicy (when a lease's Context ends). WithRevocable is an
// error: Curator's semaphore has no revocation.
func NewSemaphore(client *zkrecipes.Client, path string, maxLeases int, opts ...Option) (*Semaphore, error) {
	var extra []error
	if maxLeases < 1 || maxLeases > 1<<31-1 {
		extra = append(extra, fmt.Errorf("%w: %d leases", ErrInvalidOption, maxLeases))
	}
	return newSemaphore(client, path, "semaphore", int32(maxLeases), "", opts, extra)
}

// NewSharedSemaphore returns the semaphore at path whose lease count is read from the
// node countPath, as Curator's SharedCount writes it: the first 4 bytes, a big-endian
// two's-complement int32 (see EncodeSharedCount). The node must exist (Java's SharedCount
// creates it with its seed when started; Create it with EncodeSharedCount otherwise): an
// acquisition fails with an error wrapping zk.ErrNoNode when it does not, or when its
// data has fewer than 4 bytes. A change of the count wakes the waiting acquisition; a
// count below 1 lets no lease be held. Errors and options are NewSemaphore's.
func NewSharedSemaphore(client *zkrecipes.Client, path, countPath string, opts ...Option) (*Semaphore, error) {
	var extra []error
	if err := zkrecipes.ValidatePath(countPath); err != nil {
		extra = append(extra, fmt.Errorf("%w: count path: %w", ErrInvalidOption, err))
	}
	return newSemaphore(client, path, "semaphore", 0, countPath, opts, extra)
}

// NewSemaphoreMutex returns Curator's InterProcessSemaphoreMutex at path: a Semaphore of
// one lease, so a mutex that is not reentrant, in the semaphore's layout (P/locks and
// P/leases). Its Locks are exclusive, so unlike other leases they fence: Lock.Multi works
// (the fence is P's data). Errors and options are NewSemaphore's.
func NewSemaphoreMutex(client *zkrecipes.Client, path string, opts ...Option) (*Semaphore, error) {
	return newSemaphore(client, path, "semaphore-mutex", 1, "", opts, nil)
}

func newSemaphore(client *zkrecipes.Client, path, kind string, maxLeases int32, countPath string, opts []Option, extra []error) (*Semaphore, error) {
	cfg := newConfig(opts)
	if cfg.revocable {
		cfg.fail("WithRevocable does not apply to a semaphore")
	}
	cfg.errs = append(cfg.errs, extra...)
	if err := checkArgs(client, path, &cfg); err != nil {
		return nil, err
	}
	locksPath := zkrecipes.JoinPath(path, "locks")
	// The acquisition's hold on P/locks lasts only while it waits, and only the loss of
	// its node (with the session) ends it: a SUSPENDED that the session survives must not
	// start the acquisition over.
	lockCfg := config{policy: SessionPolicy}
	locks := &Mutex{client: client, path: locksPath, q: queue.New(client, locksPath, mutexOrder),
		cfg: lockCfg, data: defaultData(), quiet: true}
	return &Semaphore{
		client: client, path: path, kind: kind, locks: locks,
		leases: queue.New(client, zkrecipes.JoinPath(path, "leases"), leaseOrder),
		max:    maxLeases, count: countPath, cfg: cfg, data: cfg.nodeData(),
	}, nil
}

// EncodeSharedCount returns n as Curator's SharedCount stores it: 4 bytes, big-endian.
func EncodeSharedCount(n int32) []byte {
	return binary.BigEndian.AppendUint32(nil, uint32(n))
}

// Path returns the semaphore path (relative to the client's namespace).
func (s *Semaphore) Path() string { return s.path }

// Acquire waits until this process holds a lease and returns it as a Lock: its Context
// ends as a Mutex's does (SUSPENDED under StandardPolicy, a lost or replaced session,
// the lease node deleted, Release), Token is the lease node's czxid, and Release returns
// the lease (a guaranteed delete of its node only). Only the Locks of NewSemaphoreMutex
// fence (Multi); other leases are shared.
//
// It follows Curator's steps, which a peer must follow for the count to hold: take the
// P/locks mutex; create the lease node; list P/leases (with a child watch): held if it
// has at most the lease count of children, otherwise wait for a change of P/leases (or of
// the shared count) and list again; release the P/locks mutex. If the lease node vanishes
// or belongs to an older session, or the P/locks node is lost with the session, it starts
// over. When ctx ends, or an error that retrying cannot fix occurs, Acquire returns it
// and leaves no node behind (the lease node and the P/locks node are deleted, in the
// background when ctx is over). Connection trouble is retried until ctx ends.
func (s *Semaphore) Acquire(ctx context.Context) (*Lock, error) {
	return s.acquireLease(ctx, false)
}

// TryAcquire is Acquire without the waiting, like Curator's acquire with a zero timeout:
// it returns a held lease, or an error wrapping ErrLocked as soon as it finds that no
// lease is free. That is when, its lease node created, P/leases has more children than
// the lease count (the count read once, for a shared one), and also when another
// participant holds P/locks at that moment: that participant either waits for a lease (so
// none is free) or is creating its own. Before it returns ErrLocked, TryAcquire deletes
// what it created, its lease node and its P/locks node, each by its exact name, with a
// guaranteed delete (which the Client finishes in the background if the connection drops
// meanwhile), so a failed try never blocks anyone nor counts as a lease.
//
// Other failures are Acquire's. Connection trouble is retried until ctx ends (use a ctx
// with a deadline to bound it), and so is a restart (the lease node vanished, or the
// session changed, before the count). When ctx ends, TryAcquire returns ctx.Err()
// (wrapped) and leaves no node: a node whose create returned is deleted, in the
// background when ctx is over, and a create whose outcome is unknown (its reply lost, or
// ctx ended while it was in flight) is cleaned up by the Client by its protected uuid,
// once that create has returned, so only a node of this acquisition is ever deleted.
func (s *Semaphore) TryAcquire(ctx context.Context) (*Lock, error) {
	return s.acquireLease(ctx, true)
}

func (s *Semaphore) acquireLease(ctx context.Context, try bool) (*Lock, error) {
	start := time.Now()
	l, err := s.acquire(ctx, try)
	if err != nil {
		err = acquireError(s.path, err)
		hookAcquired(ctx, s.client, s.path, s.kind, "", false, time.Since(start), err)
		return nil, err
	}
	hookAcquired(ctx, s.client, s.path, s.kind, l.Node(), true, time.Since(start), nil)
	return l, nil
}

// AcquireN acquires n leases one after another (Curator's acquire(qty)) and returns them
// all, or, when one acquisition fails, releases those it had and returns the error.
// n < 1 is an error wrapping ErrInvalidOption.
func (s *Semaphore) AcquireN(ctx context.Context, n int) ([]*Lock, error) {
	if n < 1 {
		return nil, fmt.Errorf("%w: %d leases", ErrInvalidOption, n)
	}
	out := make([]*Lock, 0, n)
	for len(out) < n {
		l, err := s.Acquire(ctx)
		if err != nil {
			for _, h := range out {
				_ = h.Release(ctx)
			}
			return nil, err
		}
		out = append(out, l)
	}
	return out, nil
}

// Leases returns the names of the lease nodes (held or waited for by their creator) in
// sequence order; a missing path gives none.
func (s *Semaphore) Leases(ctx context.Context) ([]string, error) {
	sorted, _, err := s.leases.List(ctx)
	if errors.Is(err, zk.ErrNoNode) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("lock: leases of %s: %w", s.path, err)
	}
	return sorted, nil
}

// errBadCount: the shared count node is missing or holds fewer than 4 bytes.
var errBadCount = errors.New("lock: shared count unusable")

// errRestart: the acquisition must start over from taking P/locks.
var errRestart = errors.New("lock: semaphore acquisition starts over")

func (s *Semaphore) acquire(ctx context.Context, try bool) (*Lock, error) {
	for failures := 0; ; failures++ {
		lk, err := s.locks.acquire(ctx, try)
		if err != nil {
			return nil, err
		}
		l, err := s.lease(ctx, lk, try)
		// As Curator does, the P/locks node goes whatever happened (in the background when
		// ctx is over).
		_ = lk.Release(ctx)
		if !errors.Is(err, errRestart) {
			return l, err
		}
		if err := pause(ctx, failures); err != nil {
			return nil, err
		}
	}
}

// pause paces the restarts of an acquisition.
func pause(ctx context.Context, failures int) error {
	t := time.NewTimer(queue.Backoff(failures))
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// lease creates the lease node and waits until it is held, holding lk (P/locks); with
// try it gives up with queue.ErrBusy instead of waiting.
func (s *Semaphore) lease(ctx context.Context, lk *Lock, try bool) (*Lock, error) {
	node, err := s.leases.Join(ctx, leaseMarker, s.data)
	if err != nil {
		return nil, err
	}
	held := false
	defer func() {
		if !held {
			// Ours by its exact name, from a create that returned.
			_ = s.leases.Leave(ctx, node)
		}
	}()
	_, name := zkrecipes.SplitPath(node)
	for failures := 0; ; {
		// Taken before the watches are set: it closes when the Client replaces its go-zk
		// connection, after which they never fire.
		lost := watchhub.Of(s.client).Lost()
		maxLeases, countW, err := s.leaseCount(ctx)
		var kids []string
		var kidsW <-chan zk.Event
		if err == nil {
			kids, _, kidsW, err = s.leases.ListW(ctx)
		}
		switch {
		case err != nil && ctx.Err() != nil:
			return nil, ctx.Err()
		case errors.Is(err, errBadCount):
			return nil, err
		case errors.Is(err, zk.ErrNoNode):
			return nil, errRestart // P/leases is gone, and the lease with it
		case err != nil && queue.Retriable(err):
			failures++
			if err := s.client.BlockUntilConnected(ctx); err != nil {
				return nil, err
			}
			if err := pause(ctx, failures); err != nil {
				return nil, err
			}
			continue
		case err != nil:
			return nil, err
		}
		if !slices.Contains(kids, name) {
			return nil, errRestart
		}
		if int64(len(kids)) <= int64(maxLeases) {
			mem, err := s.leases.Claim(ctx, node)
			if err != nil {
				if ctx.Err() != nil {
					return nil, ctx.Err()
				}
				return nil, errRestart // an older session's node, or gone
			}
			held = true
			return newLock(s.client, s.path, s.kind, mem, s.cfg, s.kind == "semaphore-mutex"), nil
		}
		if try {
			return nil, queue.ErrBusy
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-kidsW:
		case <-countW:
		case <-lost:
		case <-lk.Context().Done():
			// P/locks was lost (with the session, or deleted): another acquisition may be
			// waiting now; this one must take it again.
			return nil, errRestart
		}
	}
}

// leaseCount returns the lease count and, for a shared count, a watch on its node.
func (s *Semaphore) leaseCount(ctx context.Context) (int32, <-chan zk.Event, error) {
	if s.count == "" {
		return s.max, nil, nil
	}
	data, _, w, err := s.client.GetW(ctx, s.count)
	if errors.Is(err, zk.ErrNoNode) {
		return 0, nil, fmt.Errorf("%w: %s: %w", errBadCount, s.count, err)
	}
	if err != nil {
		return 0, nil, err
	}
	if len(data) < 4 {
		return 0, nil, fmt.Errorf("%w: %s holds %d bytes, want 4", errBadCount, s.count, len(data))
	}
	return int32(binary.BigEndian.Uint32(data)), w, nil
}
