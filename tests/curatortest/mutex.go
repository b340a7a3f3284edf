package curatortest

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// MutexNew makes an InterProcessMutex handle called name on path, with a thread of its own
// (Curator's mutex belongs to the thread that acquired it). With revocable, the handle
// calls makeRevocable: a revoke request emits "mutex <name> revoke", and with autoRelease
// the listener also releases the lock (on the handle's thread).
func (p *Peer) MutexNew(ctx context.Context, name, path string, revocable, autoRelease bool) error {
	if err := word(name); err != nil {
		return err
	}
	if err := word(path); err != nil {
		return err
	}
	line := "mutex-new " + name + " " + path
	if revocable {
		line += " revocable"
	}
	if autoRelease {
		line += " autorelease"
	}
	_, err := p.Cmd(ctx, line)
	return err
}

// RWNew makes a handle called name on the read or the write half (kind "read" or
// "write") of an InterProcessReadWriteLock of its own on path, driven like a mutex handle
// (MutexAcquire, MutexRelease, MutexHeld, WaitMutex), on a thread of its own.
func (p *Peer) RWNew(ctx context.Context, name, path, kind string) error {
	if err := word(name); err != nil {
		return err
	}
	if err := word(path); err != nil {
		return err
	}
	if kind != "read" && kind != "write" {
		return fmt.Errorf("curatortest: RWNew: kind %q", kind)
	}
	_, err := p.Cmd(ctx, "rw-new "+name+" "+path+" "+kind)
	return err
}

// MutexAcquire starts an acquire of the handle on its thread (timeout < 0: acquire();
// otherwise acquire(timeout)) and returns once the acquire's node exists, with the node's
// name, without its path ("" when a timed acquire gave up before the peer saw its node). The outcome comes
// as an event: see WaitMutex.
func (p *Peer) MutexAcquire(ctx context.Context, name string, timeout time.Duration) (string, error) {
	if err := word(name); err != nil {
		return "", err
	}
	ms := int64(-1)
	if timeout >= 0 {
		ms = timeout.Milliseconds()
	}
	var node *string
	if err := p.cmdJSON(ctx, fmt.Sprintf("mutex-acquire %s %d", name, ms), &node); err != nil || node == nil {
		return "", err
	}
	return *node, nil
}

// MutexRelease releases the handle's lock on its thread (nothing if it does not hold it)
// and returns once release() returned.
func (p *Peer) MutexRelease(ctx context.Context, name string) error {
	if err := word(name); err != nil {
		return err
	}
	_, err := p.Cmd(ctx, "mutex-release "+name)
	return err
}

// MutexHeld returns the handle's isAcquiredInThisProcess().
func (p *Peer) MutexHeld(ctx context.Context, name string) (bool, error) {
	if err := word(name); err != nil {
		return false, err
	}
	var held bool
	err := p.cmdJSON(ctx, "mutex-held "+name, &held)
	return held, err
}

// MutexNodes returns getParticipantNodes() of an InterProcessMutex on path: the node
// names (without the path) in Curator's order, the holder first.
func (p *Peer) MutexNodes(ctx context.Context, path string) ([]string, error) {
	if err := word(path); err != nil {
		return nil, err
	}
	var nodes []string
	err := p.cmdJSON(ctx, "mutex-nodes "+path, &nodes)
	return nodes, err
}

// RWNodes returns getParticipantNodes() of both halves of an InterProcessReadWriteLock on
// path: Curator lists each half's own kind of node only, each in the lock's order.
func (p *Peer) RWNodes(ctx context.Context, path string) (readers, writers []string, err error) {
	if err := word(path); err != nil {
		return nil, nil, err
	}
	var nodes struct {
		Read  []string `json:"read"`
		Write []string `json:"write"`
	}
	err = p.cmdJSON(ctx, "rw-nodes "+path, &nodes)
	return nodes.Read, nodes.Write, err
}

// Revoke runs Revoker.attemptRevoke on the lock node at path.
func (p *Peer) Revoke(ctx context.Context, path string) error {
	if err := word(path); err != nil {
		return err
	}
	_, err := p.Cmd(ctx, "revoke "+path)
	return err
}

// MutexBench runs n uncontended acquire+release cycles of one InterProcessMutex on path
// and returns the duration of each cycle.
func (p *Peer) MutexBench(ctx context.Context, path string, n int) ([]time.Duration, error) {
	if err := word(path); err != nil {
		return nil, err
	}
	var nanos []int64
	if err := p.cmdJSON(ctx, fmt.Sprintf("mutex-bench %s %d", path, n), &nanos); err != nil {
		return nil, err
	}
	out := make([]time.Duration, len(nanos))
	for i, n := range nanos {
		out[i] = time.Duration(n)
	}
	return out, nil
}

// WaitMutex waits for the handle's next event of the given kind ("acquired", "timeout",
// "released", "revoke") after the one the previous WaitMutex for the handle returned; an
// "error" event of the handle fails the wait.
func (p *Peer) WaitMutex(ctx context.Context, name, kind string) error {
	stream := "mutex " + name + " "
	ev, err := p.waitEvent(ctx,
		func(ev string) bool { return ev == stream+kind || strings.HasPrefix(ev, stream+"error ") },
		func(ev string) bool { return strings.HasPrefix(ev, stream) && !strings.HasSuffix(ev, " revoke") })
	if err != nil {
		return err
	}
	if msg, ok := strings.CutPrefix(ev, stream+"error "); ok {
		return fmt.Errorf("curatortest: mutex %s: %s", name, msg)
	}
	return nil
}

// MutexHandoffBench hands one InterProcessMutex back and forth between two sessions of
// the peer (its own and an extra one, kept for later benchmark calls) warm+n times and returns the last n samples: each from the start of the
// holder's release() to the return of the waiting session's acquire() (the waiter waits
// with its node in place and, after a 20 ms pause, its watch armed).
func (p *Peer) MutexHandoffBench(ctx context.Context, path string, warm, n int) ([]time.Duration, error) {
	if err := word(path); err != nil {
		return nil, err
	}
	var nanos []int64
	if err := p.cmdJSON(ctx, fmt.Sprintf("mutex-handoff-bench %s %d %d", path, warm, n), &nanos); err != nil {
		return nil, err
	}
	out := make([]time.Duration, len(nanos))
	for i, n := range nanos {
		out[i] = time.Duration(n)
	}
	return out, nil
}

// MutexContendBench makes k extra sessions of the peer (one thread each; the sessions are
// kept for later benchmark calls) acquire and release one InterProcessMutex on path until
// n cycles are done in all, and returns the time it took.
func (p *Peer) MutexContendBench(ctx context.Context, path string, k, n int) (time.Duration, error) {
	if err := word(path); err != nil {
		return 0, err
	}
	var nanos int64
	err := p.cmdJSON(ctx, fmt.Sprintf("mutex-contend-bench %s %d %d", path, k, n), &nanos)
	return time.Duration(nanos), err
}
