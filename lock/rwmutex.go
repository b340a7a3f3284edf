package lock

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/zkrecipes/zkrecipes"
	"github.com/zkrecipes/zkrecipes/internal/queue"
)

// The markers of InterProcessReadWriteLock's nodes; both are 8 characters.
const (
	readMarker  = "__READ__"
	writeMarker = "__WRIT__"
)

// rwOrder cuts after the last "__READ__", then after the last "__WRIT__": what is left is
// the sequence number, so readers and writers form one queue.
var rwOrder = queue.NewOrder(readMarker, writeMarker)

// readRule: a reader holds when no writer sorts before it, and otherwise waits for the
// first writer (not its predecessor: the readers between it and that writer hold or wait
// for the same writer).
func readRule(sorted []string, idx int) (bool, string) {
	for i := 0; i < idx; i++ {
		if strings.Contains(sorted[i], writeMarker) {
			return false, sorted[i]
		}
	}
	return true, ""
}

// RWMutex is Curator's InterProcessReadWriteLock, on the wire and in behaviour: readers
// and writers of a path, in Go or in Java, queue in one directory, readers as
// _c_<uuid>-__READ__<seq> nodes and writers as _c_<uuid>-__WRIT__<seq> nodes, ordered by
// their sequence numbers. A writer holds the lock when its node is first, and waits for
// the node just before it; a reader holds it when no writer's node is before its own, and
// waits for the first such writer. Readers share the lock; a writer excludes everyone.
//
// Like Mutex, an RWMutex describes the lock and holds nothing itself; it is safe for
// concurrent use and not reentrant: each acquisition is a contender with a node of its
// own. In particular a process that holds the write lock and asks for the read lock waits
// behind its own writer; use Lock.Downgrade instead.
type RWMutex struct {
	client *zkrecipes.Client
	path   string
	q      *queue.Queue
	cfg    config
	data   []byte

	counters queue.Counters // for tests (internal/probe)
}

// NewRWMutex returns the read/write lock at path (relative to the client's namespace). It
// checks its arguments and options and reports every problem at once: errors wrap
// ErrInvalidOption, and a client that is already closed gives an error wrapping
// zkrecipes.ErrClosed. Options: WithData, WithErrorPolicy, WithRevocable (both kinds of
// node).
func NewRWMutex(client *zkrecipes.Client, path string, opts ...Option) (*RWMutex, error) {
	cfg := newConfig(opts)
	if err := checkArgs(client, path, &cfg); err != nil {
		return nil, err
	}
	return &RWMutex{client: client, path: path, q: queue.New(client, path, rwOrder), cfg: cfg, data: cfg.nodeData()}, nil
}

// Path returns the lock path (relative to the client's namespace).
func (rw *RWMutex) Path() string { return rw.path }

// AcquireWrite waits until this process holds the write lock and returns it, with a
// fence for Lock.Multi. Failure behaviour is Mutex.Acquire's: ctx ending leaves no node
// behind, connection trouble is retried until ctx ends, a node of an older session is
// never counted as held.
func (rw *RWMutex) AcquireWrite(ctx context.Context) (*Lock, error) {
	return rw.acquire(ctx, "write", false)
}

// TryAcquireWrite is AcquireWrite without the waiting: unless its node holds at once, it
// deletes the node and returns an error wrapping ErrLocked.
func (rw *RWMutex) TryAcquireWrite(ctx context.Context) (*Lock, error) {
	return rw.acquire(ctx, "write", true)
}

// AcquireRead waits until this process holds a read lock (shared with other readers)
// and returns it. Failure behaviour is Mutex.Acquire's. A read Lock has a token, which
// orders it against writers, but no fence: Multi on it fails.
func (rw *RWMutex) AcquireRead(ctx context.Context) (*Lock, error) {
	return rw.acquire(ctx, "read", false)
}

// TryAcquireRead is AcquireRead without the waiting: unless no writer is queued before
// its node, it deletes the node and returns an error wrapping ErrLocked.
func (rw *RWMutex) TryAcquireRead(ctx context.Context) (*Lock, error) {
	return rw.acquire(ctx, "read", true)
}

func (rw *RWMutex) acquire(ctx context.Context, kind string, try bool) (*Lock, error) {
	start := time.Now()
	// A writer must read the children again after the node it waits for goes: that node's
	// holder may have downgraded, leaving a read node in its place.
	req := queue.Request{Marker: writeMarker, Data: rw.data, Rule: queue.Exclusive, Try: try}
	if kind == "read" {
		req.Marker, req.Rule, req.Fast = readMarker, readRule, true
	}
	mem, err := rw.q.Acquire(ctx, req, &rw.counters)
	if err != nil {
		err = acquireError(rw.path, err)
		hookAcquired(ctx, rw.client, rw.path, kind, "", false, time.Since(start), err)
		return nil, err
	}
	hookAcquired(ctx, rw.client, rw.path, kind, mem.Path, true, time.Since(start), nil)
	l := newLock(rw.client, rw.path, kind, mem, rw.cfg, kind == "write")
	l.rw = rw
	return l, nil
}

// Nodes returns the names of the nodes under the lock path in Curator's order (readers
// and writers together); a missing path gives none.
func (rw *RWMutex) Nodes(ctx context.Context) ([]string, error) {
	sorted, _, err := rw.q.List(ctx)
	if errors.Is(err, zk.ErrNoNode) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("lock: nodes of %s: %w", rw.path, err)
	}
	return sorted, nil
}

// Downgrade turns a held write lock into a read lock without letting any writer in
// between, the way Curator 5.5+ does it: it creates a read node
// _c_<uuid>-__READ__<the write node's sequence>, EPHEMERAL, which sorts together with the
// write node and so before every node queued behind it, in one transaction with a check
// that the write node still exists; then it releases the write lock. Readers queued
// behind the writer get the lock with it; writers keep waiting for the read lock.
//
// It returns the read lock, held. When the read node cannot be made (the write node is
// gone: ErrNotHeld; ctx ended; connection trouble) it returns the error and the write
// lock is still held as before (a read node whose create's outcome is unknown is deleted
// once that create has returned). When releasing the write lock fails, Downgrade still
// returns the read lock and a nil error: the write node is deleted in the background (as
// by a failed Release) and a later Release of the write Lock retries in the foreground.
// Only a write Lock of an RWMutex can be downgraded.
func (l *Lock) Downgrade(ctx context.Context) (*Lock, error) {
	if l.rw == nil || l.kind != "write" {
		return nil, fmt.Errorf("%w: only a write lock can be downgraded, not a %s lock", ErrInvalidOption, l.kind)
	}
	l.mu.Lock()
	stopped := l.stopped
	l.mu.Unlock()
	if stopped {
		return nil, fmt.Errorf("%w: %s was released", ErrNotHeld, l.member.Path)
	}
	rw := l.rw
	name := l.member.Name
	seq := name[strings.LastIndex(name, writeMarker)+len(writeMarker):]
	node := zkrecipes.JoinPath(rw.path, "_c_"+zkrecipes.NewUUID()+"-"+readMarker+seq)
	start := time.Now()
	_, err := rw.client.Multi(ctx,
		&zk.CheckVersionRequest{Path: l.member.Path, Version: -1},
		&zk.CreateRequest{Path: node, Data: rw.data, Flags: zk.FlagEphemeral})
	switch {
	case errors.Is(err, zkrecipes.ErrOutcomeUnknown):
		// The node may exist: delete it, ours by its uuid, once the attempt has returned.
		settled := zkrecipes.Settled(err)
		go func() {
			<-settled
			_ = rw.q.Leave(rw.client.SessionContext(), node)
		}()
		return nil, fmt.Errorf("lock: downgrade %s: %w", l.member.Path, err)
	case errors.Is(err, zk.ErrNoNode):
		return nil, fmt.Errorf("%w: downgrade %s: the write node is gone: %w", ErrNotHeld, l.member.Path, err)
	case err != nil:
		return nil, fmt.Errorf("lock: downgrade %s: %w", l.member.Path, err)
	}
	mem, err := rw.q.Claim(ctx, node)
	if err != nil {
		_ = rw.q.Leave(ctx, node)
		return nil, fmt.Errorf("lock: downgrade %s: %w", l.member.Path, err)
	}
	hookAcquired(ctx, rw.client, rw.path, "read", mem.Path, true, time.Since(start), nil)
	read := newLock(rw.client, rw.path, "read", mem, rw.cfg, false)
	read.rw = rw
	_ = l.Release(ctx)
	return read, nil
}
