package shared

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/zkrecipes/zkrecipes"
)

// Versioned is a value with the version (zk.Stat.Version) of the node it was read from.
// Pass it back to TrySet: the write applies only if the node still has that version.
type Versioned[T any] struct {
	Value   T
	Version int32
}

// Value is Curator's SharedValue: bytes in a PERSISTENT node at its path that many
// processes read and write, with a local copy kept current by a data watch. Make one with
// NewValue, then Start it; it is safe for concurrent use.
//
// The local copy (Get) follows the node: a data watch is re-armed after every change and
// the node is read again after every (re)connection, also after a new session. While the
// connection is down (SUSPENDED, LOST) the copy keeps the last value read, which may be
// stale; nothing is reported. When the node is deleted the copy keeps its last value and
// writes fail with zk.ErrNoNode until someone creates the node again (Value does not
// re-create it, like Curator). Reads are ordered by the node's modification zxid, so an
// older read never replaces a newer one (Curator 5.4 compared versions and stalled after
// the version wrapped past 2^31-1). Start starts one goroutine, which Close waits for; it
// also returns by itself once the Client is closed (the copy then stops changing).
type Value struct {
	client *zkrecipes.Client
	path   string
	seed   []byte

	mu        sync.Mutex
	cur       Versioned[[]byte]
	mzxid     int64 // of cur; 0 before the first read
	missing   bool  // the last read found no node
	started   bool
	closed    bool
	listeners map[int]func(Versioned[[]byte])
	nextID    int

	changed chan struct{} // 1-buffered: the local copy changed, the loop tells listeners
	wake    chan struct{} // 1-buffered: read again (a reconnect, a write that may have landed)
	cancel  context.CancelFunc
	done    chan struct{} // closed when the loop has returned
	stopSt  func()
}

// NewValue returns a Value for the node at path (relative to the Client's namespace)
// that Start creates holding seed when it does not exist. A bad path gives an error
// matching ErrInvalidArgument. Nothing is sent before Start.
func NewValue(client *zkrecipes.Client, path string, seed []byte) (*Value, error) {
	if client == nil {
		return nil, fmt.Errorf("%w: nil client", ErrInvalidArgument)
	}
	if err := zkrecipes.ValidatePath(path); err != nil || path == "/" {
		return nil, fmt.Errorf("%w: path %q: %v", ErrInvalidArgument, path, err)
	}
	return &Value{
		client:    client,
		path:      path,
		seed:      bytes.Clone(seed),
		listeners: map[int]func(Versioned[[]byte]){},
		changed:   make(chan struct{}, 1),
		wake:      make(chan struct{}, 1),
		done:      make(chan struct{}),
	}, nil
}

// Path returns the node's path, relative to the Client's namespace.
func (v *Value) Path() string { return v.path }

// Start creates the node holding the seed if it does not exist (a node that exists keeps
// its data: a later starter's seed never overwrites), with missing parents as
// containers, reads it and starts the one goroutine that keeps the local copy current.
// If ctx ends or the create or read fails, Start returns the error and the Value stays
// unstarted (Start may be called again); a create whose outcome was unknown may have made
// the node holding the seed, which is what a later Start would make anyway.
func (v *Value) Start(ctx context.Context) error {
	v.mu.Lock()
	switch {
	case v.closed:
		v.mu.Unlock()
		return ErrClosed
	case v.started:
		v.mu.Unlock()
		return ErrStarted
	}
	v.mu.Unlock()
	_, err := v.client.Create(ctx, v.path, v.seed, zkrecipes.ModePersistent, zkrecipes.WithParents())
	if err != nil && !errors.Is(err, zk.ErrNodeExists) {
		return fmt.Errorf("shared: start %s: %w", v.path, err)
	}
	data, st, ch, err := v.client.GetW(ctx, v.path)
	if err != nil {
		return fmt.Errorf("shared: start %s: %w", v.path, err)
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.closed {
		return ErrClosed
	}
	if v.started {
		return ErrStarted
	}
	v.started = true
	v.accept(data, st)
	select {
	case <-v.changed: // the first read is not a change
	default:
	}
	lctx, cancel := context.WithCancel(context.Background())
	v.cancel = cancel
	v.stopSt = v.client.Listen(func(sc zkrecipes.StateChange) {
		if sc.State.IsConnected() {
			signal(v.wake)
		}
	})
	go v.loop(lctx, ch, v.mzxid)
	return nil
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// accept takes a read into the local copy unless the copy already holds a later one.
// v.mu must be held.
func (v *Value) accept(data []byte, st *zk.Stat) {
	if st == nil || (st.Mzxid < v.mzxid && !v.missing) {
		return
	}
	if st.Mzxid == v.mzxid && !v.missing {
		return
	}
	v.missing = false
	v.mzxid = st.Mzxid
	v.cur = Versioned[[]byte]{Value: bytes.Clone(data), Version: st.Version}
	signal(v.changed)
}

// loop keeps a data watch on the node and tells listeners about changes, in order, one
// call at a time. A slow listener delays only later notifications, which then carry the
// latest value (intermediate values are skipped).
func (v *Value) loop(ctx context.Context, watch <-chan zk.Event, delivered int64) {
	defer close(v.done)
	var pause <-chan time.Time
	read := false
	for {
		if read {
			read = false
			var ok bool
			if watch, ok = v.rearm(ctx); !ok {
				if v.client.State() == zkrecipes.StateClosed {
					return // the Client is closed: nothing more to read
				}
				pause = time.After(time.Second)
			}
		}
		select {
		case <-ctx.Done():
			return
		case ev := <-watch:
			watch = nil
			// After EventNotWatching (the session ended) the next connection's wake-up
			// reads again; after any other event, read now.
			read = ev.Type != zk.EventNotWatching
		case <-pause:
			pause, read = nil, true
		case <-v.wake:
			pause, read = nil, true
		case <-v.changed:
			v.mu.Lock()
			cur, z := v.cur, v.mzxid
			fns := make([]func(Versioned[[]byte]), 0, len(v.listeners))
			for _, fn := range v.listeners {
				fns = append(fns, fn)
			}
			v.mu.Unlock()
			if z == delivered {
				continue
			}
			delivered = z
			for _, fn := range fns {
				fn(Versioned[[]byte]{Value: bytes.Clone(cur.Value), Version: cur.Version})
			}
		}
	}
}

// rearm reads the node with a watch (an exists watch when it is missing). It reports
// false after a failure; the loop then reads again at the next (re)connection or after a
// pause.
func (v *Value) rearm(ctx context.Context) (<-chan zk.Event, bool) {
	data, st, ch, err := v.client.GetW(ctx, v.path)
	if err == nil {
		v.mu.Lock()
		v.accept(data, st)
		v.mu.Unlock()
		return ch, true
	}
	if errors.Is(err, zk.ErrNoNode) {
		var ok bool
		ok, _, ch, err = v.client.ExistsW(ctx, v.path)
		if err == nil {
			if ok {
				signal(v.wake) // created in between: read it
			} else {
				v.mu.Lock()
				v.missing = true
				v.mu.Unlock()
			}
			return ch, true
		}
	}
	if ctx.Err() == nil {
		v.client.Logger().Debug("shared: reading value failed; retrying", "path", v.path, "err", err)
	}
	return nil, false
}

// Get returns the local copy of the value and its version: the latest value read, which
// may lag behind the node (changes arrive by watch) and is stale while the connection is
// down. Before Start it is the zero Versioned (nil, version 0).
func (v *Value) Get() Versioned[[]byte] {
	v.mu.Lock()
	defer v.mu.Unlock()
	return Versioned[[]byte]{Value: bytes.Clone(v.cur.Value), Version: v.cur.Version}
}

// Listen registers fn to be called with the new value after every later change of the
// local copy (not with the value read by Start), from the Value's goroutine, one call at a time and in order; a slow fn makes
// changes coalesce (fn sees the latest value, not every one). The returned stop function
// unregisters fn; it does not wait for a call in progress. Close waits for a call in
// progress to return, so fn must not call Close.
func (v *Value) Listen(fn func(Versioned[[]byte])) (stop func()) {
	v.mu.Lock()
	defer v.mu.Unlock()
	id := v.nextID
	v.nextID++
	v.listeners[id] = fn
	return func() {
		v.mu.Lock()
		defer v.mu.Unlock()
		delete(v.listeners, id)
	}
}

func (v *Value) usable() error {
	v.mu.Lock()
	defer v.mu.Unlock()
	switch {
	case v.closed:
		return ErrClosed
	case !v.started:
		return ErrNotStarted
	}
	return nil
}

// Set writes data unconditionally (Curator's setValue) and updates the local copy. A
// connection loss is retried under the Client's policy (writing the same bytes twice is
// harmless); when retries run out or ctx ends while the write is in flight, the error
// matches zkrecipes.ErrOutcomeUnknown: the node may hold data or its previous value, and
// the watch brings the local copy up to date either way. A deleted node gives
// zk.ErrNoNode.
func (v *Value) Set(ctx context.Context, data []byte) error {
	if err := v.usable(); err != nil {
		return err
	}
	st, err := v.client.Set(ctx, v.path, data, -1)
	if err != nil {
		signal(v.wake)
		return fmt.Errorf("shared: set %s: %w", v.path, err)
	}
	v.mu.Lock()
	v.accept(data, st)
	v.mu.Unlock()
	return nil
}

// TrySet writes data only if the node still holds prev: it returns false, without
// writing, when prev (its version and its bytes) differs from the local copy, and false
// when the node's version has moved on since (zk.ErrBadVersion), after reading the node
// again so that the next Get returns the newer value. It returns true once data is
// written, with the local copy updated.
//
// A write whose reply was lost is never reported as success: when the connection failed
// with the write in flight (and a retry cannot tell whether it landed), or ctx ended
// first, TrySet returns false and an error matching zkrecipes.ErrOutcomeUnknown. To learn
// the outcome, wait for zkrecipes.Settled(err) and read the value: a version that is
// still prev.Version means not applied; a newer version whose data differs from data
// means not applied (another write took that version); data at version prev.Version+1
// means this write or an identical write of another process was applied, which the node
// cannot tell apart. Any other failure (zk.ErrNoNode when the node was deleted, ErrClosed)
// is returned with false and means not applied.
func (v *Value) TrySet(ctx context.Context, prev Versioned[[]byte], data []byte) (bool, error) {
	if err := v.usable(); err != nil {
		return false, err
	}
	v.mu.Lock()
	same := !v.missing && v.cur.Version == prev.Version && bytes.Equal(v.cur.Value, prev.Value)
	v.mu.Unlock()
	if !same {
		return false, nil
	}
	st, err := v.client.Set(ctx, v.path, data, prev.Version)
	switch {
	case err == nil:
		v.mu.Lock()
		v.accept(data, st)
		v.mu.Unlock()
		return true, nil
	case errors.Is(err, zkrecipes.ErrOutcomeUnknown):
		signal(v.wake)
		return false, fmt.Errorf("shared: try set %s: %w", v.path, err)
	case errors.Is(err, zk.ErrBadVersion):
		v.refresh(ctx)
		return false, nil
	}
	signal(v.wake)
	return false, fmt.Errorf("shared: try set %s: %w", v.path, err)
}

// refresh reads the node into the local copy (without a watch: the loop keeps its own);
// on failure the loop's next read catches up.
func (v *Value) refresh(ctx context.Context) {
	data, st, err := v.client.Get(ctx, v.path)
	if err != nil {
		signal(v.wake)
		return
	}
	v.mu.Lock()
	v.accept(data, st)
	v.mu.Unlock()
}

// Close stops keeping the local copy current and waits for the Value's goroutine (and a
// listener call in progress) to return, or for ctx to end (then ctx.Err() is returned and
// the goroutine still ends on its own shortly). It deletes nothing, like Curator. It is
// idempotent; a Value that was never started has nothing to wait for.
func (v *Value) Close(ctx context.Context) error {
	v.mu.Lock()
	started := v.started
	if !v.closed {
		v.closed = true
		if v.cancel != nil {
			v.cancel()
			v.stopSt()
		}
	}
	v.mu.Unlock()
	if !started {
		return nil
	}
	select {
	case <-v.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
