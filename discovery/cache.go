package discovery

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/zkrecipes/zkrecipes"
	"github.com/zkrecipes/zkrecipes/cache"
	"github.com/zkrecipes/zkrecipes/internal/cacheopt"
)

// Cache keeps the instances of one service in memory, like Curator's ServiceCache, and
// tells listeners what changed.
//
// It is a cache.Cache of depth 1 on the service's znode (see package cache): one data
// watch per instance znode and one child watch on the service, dispatched by path with no
// goroutine per watch, so a change of one instance costs one read of that instance and the
// same CPU in the cache with 10 or 10,000 instances (the instance list that Instances and
// each delivered event carry is built once per change, O(instances), and only when a
// listener or a caller asks for it). A znode whose data is not a valid instance, or
// that the Client may not read (its ACL denies READ: a *NodeError wrapping zk.ErrNoAuth),
// is left out and reported, never fatal; it comes back with its next version that is
// valid. The cache is not cleared when the connection is SUSPENDED or LOST: it serves the
// last known instances until it can check. After a reconnect that kept the session the
// server reports what changed meanwhile; after a new session (all watches lost) the cache
// lists the service again and re-reads only the instances whose version moved, and
// reports the differences it found as one CacheChanged event.
//
// A started Cache runs three goroutines whatever the number of instances (those of its
// cache.Cache, whose delivery goroutine also calls this Cache's listeners), plus
// transient read workers during the initial load and a resync.
type Cache[T any] struct {
	name string
	path string // the service's znode, relative to the namespace
	d    *Discovery[T]
	opts options
	cc   *cache.Cache[Instance[T]]
	memo atomic.Pointer[instancesMemo[T]]

	decodes atomic.Int64      // instance znodes read (decoded), for the tests' probe
	count   int               // instances held, as told the CacheSize hook; owned by onEvent
	initial bool              // the initial load is done; owned by onEvent
	held    *pendingChange[T] // the changes a resync found so far, queued at Resynced; owned by onEvent

	mu        sync.Mutex
	listeners []*cacheListener[T]
	done      chan struct{}
	loaded    chan struct{} // closed once Start has loaded the service
	heard     chan struct{} // closed by onEvent at Initialized: the load's errors are reported
	startOnce sync.Once
	closeOnce sync.Once
	started   atomic.Bool
}

// instancesMemo is the instance list built from one snapshot of the cache, shared by every
// Instances call and event until the next change.
type instancesMemo[T any] struct {
	snap  cache.Snapshot[Instance[T]]
	insts []Instance[T]
}

// CacheEventKind tells what a CacheEvent reports.
type CacheEventKind int

const (
	// CacheChanged: instances were added, updated or removed.
	CacheChanged CacheEventKind = iota
	// ConnectionStateChanged: the Client's connection state changed.
	ConnectionStateChanged
)

// CacheEvent is one change of a Cache, or a connection state change, in the order they
// happened.
type CacheEvent[T any] struct {
	Kind CacheEventKind
	// Added, Updated and Removed are set for CacheChanged. Removed holds the last delivered
	// copy of each instance. An instance whose data became unreadable counts as removed.
	Added, Updated, Removed []Instance[T]
	// Instances is the cache's content when the event is delivered (for every kind): it
	// includes the change, and may include later ones whose events are still to come. It
	// is the slice Cache.Instances returns: do not modify it.
	Instances []Instance[T]
	// State is set for ConnectionStateChanged.
	State zkrecipes.StateChange
}

type cacheListener[T any] struct{ fn func(CacheEvent[T]) }

// Cache returns a cache of the named service, not started. opts override the
// Discovery's logger and error handler. It fails with ErrInvalidInstance for a bad name
// and with zkrecipes.ErrClosed when the Client is closed.
func (d *Discovery[T]) Cache(name string, opts ...Option) (*Cache[T], error) {
	if err := validNodeName("name", name); err != nil {
		return nil, err
	}
	if d.client.State() == zkrecipes.StateClosed {
		return nil, fmt.Errorf("discovery: cache %s: %w", name, zkrecipes.ErrClosed)
	}
	o := d.opts
	o.serializer, o.errs = nil, nil
	for _, opt := range opts {
		opt(&o)
	}
	if o.serializer != nil {
		o.errs = append(o.errs, fmt.Errorf("%w: a Cache uses its Discovery's serializer", ErrInvalidOption))
	}
	if len(o.errs) > 0 {
		return nil, errors.Join(o.errs...)
	}
	c := &Cache[T]{
		name: name, path: d.servicePath(name), d: d, opts: o,
		done: make(chan struct{}), loaded: make(chan struct{}), heard: make(chan struct{}),
	}
	cc, err := cache.New(d.client, c.path, c.decode, cache.WithDepth(1), cacheopt.NoSizeHook().(cache.Option))
	if err != nil {
		return nil, fmt.Errorf("discovery: cache %s: %w", name, err)
	}
	c.cc = cc
	cc.Listen(c.onEvent)
	return c, nil
}

// decode turns an instance znode's data into an instance; it runs on the cache's read
// workers, concurrently. The service's own znode holds no instance.
func (c *Cache[T]) decode(path string, data []byte) (Instance[T], error) {
	if path == c.path {
		return Instance[T]{}, nil
	}
	c.decodes.Add(1)
	inst, err := c.d.ser.Deserialize(data)
	if err != nil {
		return inst, &NodeError{Path: path, Err: err}
	}
	return inst, nil
}

// Name returns the service name.
func (c *Cache[T]) Name() string { return c.name }

// Start loads the service's instances and returns once they are in the cache (an absent
// service is simply empty), then keeps the cache current until Close. When ctx ends
// first, the cache is closed and the error says why. It fails with ErrClosed after Close
// (and, also matching zkrecipes.ErrClosed, when the Client closes first) and with an error
// when called twice.
func (c *Cache[T]) Start(ctx context.Context) error {
	select {
	case <-c.done:
		return fmt.Errorf("discovery: cache %s: start: %w", c.name, ErrClosed)
	default:
	}
	started := false
	c.startOnce.Do(func() {
		c.started.Store(true)
		started = true
	})
	if !started {
		return fmt.Errorf("discovery: cache %s: Start called twice", c.name)
	}
	if err := c.cc.Start(ctx); err != nil {
		c.abort()
		if errors.Is(err, cache.ErrClosed) {
			return fmt.Errorf("discovery: cache %s: %w: %w", c.name, ErrClosed, err)
		}
		return fmt.Errorf("discovery: cache %s: %w", c.name, err)
	}
	// Loaded: a Provider may read now (also from a listener or the error handler, which
	// run on the goroutine that delivers the load's events).
	close(c.loaded)
	// The znodes the load left out are reported (to the error handler) before Start
	// returns: their Error events come before Initialized.
	select {
	case <-c.heard:
	case <-c.done:
		return fmt.Errorf("discovery: cache %s: start: %w", c.name, ErrClosed)
	case <-ctx.Done():
		c.abort()
		return fmt.Errorf("discovery: cache %s: initial load: %w", c.name, ctx.Err())
	}
	return nil
}

// abort closes the cache for a Start that failed, without waiting for a read still in
// flight (Close waits for it).
func (c *Cache[T]) abort() {
	c.closeOnce.Do(func() { close(c.done) })
	gone, cancel := context.WithCancel(context.Background())
	cancel()
	_ = c.cc.Close(gone)
}

// Instances returns the cached instances, sorted by znode name. The slice is shared by
// every caller until the next change: do not modify it. It is empty before Start. Its
// cost is one pointer load while nothing changed; the first call after a change builds
// the list, O(instances).
func (c *Cache[T]) Instances() []Instance[T] {
	snap := c.cc.Snapshot()
	if m := c.memo.Load(); m != nil && m.snap == snap {
		return m.insts
	}
	// Depth 1: the service's znode (when it exists) and its children, in name order.
	n := snap.Len()
	if _, ok := snap.Get(c.path); ok {
		n--
	}
	insts := make([]Instance[T], 0, n)
	for node := range snap.All() {
		if node.Path != c.path {
			insts = append(insts, node.Value)
		}
	}
	c.memo.Store(&instancesMemo[T]{snap: snap, insts: insts})
	return insts
}

// Listen registers fn for every change after the initial load (which Start reports as
// the cache's content, not as events) and every connection state change, those during the
// initial load included. Calls come from one goroutine per Cache, in order; a slow fn
// delays the other listeners of this Cache (and the CacheSize hook, and a Start waiting to
// report the load's errors), never the cache's content: Instances and Providers stay
// current. Changes that happen while the
// listeners are busy are folded (as package cache folds its events: each instance
// pending once, as Added, Updated or Removed relative to the last event delivered, with
// its latest copy), so memory stays bounded by the number of instances however slow fn
// is; connection state events are not folded into changes and keep their order relative
// to them (of a burst of states that the listeners had no time for, the first and the
// last are delivered). The differences a resync finds after a new session come as one
// event. fn must not call Close (Close waits for the call in progress). stop unregisters
// fn; it may be called from fn.
func (c *Cache[T]) Listen(fn func(CacheEvent[T])) (stop func()) {
	l := &cacheListener[T]{fn: fn}
	c.mu.Lock()
	c.listeners = append(c.listeners, l)
	c.mu.Unlock()
	return func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		for i, x := range c.listeners {
			if x == l {
				c.listeners = append(c.listeners[:i:i], c.listeners[i+1:]...)
				return
			}
		}
	}
}

// Close stops the cache and its listener calls (events not yet delivered are dropped)
// and waits for its goroutines (after a listener call in progress, and for a read in
// flight until go-zk answers or fails it), or until ctx ends. It is idempotent.
func (c *Cache[T]) Close(ctx context.Context) error {
	c.closeOnce.Do(func() { close(c.done) })
	if err := c.cc.Close(ctx); err != nil {
		return fmt.Errorf("discovery: cache %s: close: %w", c.name, err)
	}
	return nil
}

// ready waits for the initial load; it fails at once for a cache never started.
func (c *Cache[T]) ready(ctx context.Context) error {
	select {
	case <-c.loaded:
		return nil
	default:
	}
	if !c.started.Load() {
		select {
		case <-c.done:
			return ErrClosed
		default:
			return fmt.Errorf("%w: cache %s: call Start first", ErrNotStarted, c.name)
		}
	}
	select {
	case <-c.loaded:
		return nil
	case <-c.done:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
}

// watches is the number of goroutines the cache runs per watch: none (watch events are
// dispatched by path).
func (c *Cache[T]) watches() int { return 0 }

// reads is the number of instance znodes the cache has read.
func (c *Cache[T]) reads() int64 { return c.decodes.Load() }

// onEvent runs on the cache.Cache's delivery goroutine, one event at a time: it folds the
// event into the queue of this Cache's listeners and returns at once. It tells the
// Client's CacheSize hook, with kind "discovery", whenever the number of instances
// changes (first with the initial load).
func (c *Cache[T]) onEvent(ev cache.Event[Instance[T]]) {
	switch ev.Type {
	case cache.Initialized:
		c.initial = true
		c.tellSize()
		close(c.heard)
		return
	case cache.Resynced:
		c.release()
		return
	case cache.ConnectionStateChanged:
		c.release()
		c.onState(ev.State)
		if ev.State.State == zkrecipes.StateReconnected && ev.State.WatchesLost && c.initial {
			// The differences the resync finds go out as one event, at Resynced.
			c.held = &pendingChange[T]{byName: map[string]*pendingInstance[T]{}}
		}
		return
	case cache.Error:
		// A read that keeps failing may hold up the resync's end: what it found so far
		// goes out now rather than never.
		c.release()
		c.reportError(ev.Err)
		return
	case cache.NodeCreated, cache.NodeChanged, cache.NodeDeleted:
		if ev.Path == c.path {
			return // the service's own znode
		}
	default:
		return
	}
	name := ev.New.Name()
	switch ev.Type {
	case cache.NodeCreated:
		c.count++
		c.tellSize()
	case cache.NodeDeleted:
		c.count--
		c.tellSize()
		name = ev.Old.Name()
	}
	if !c.initial {
		return // the initial load, which Start reports
	}
	if c.held != nil {
		c.held.fold(ev, name)
		return
	}
	// One change: its event as it is (pendingChange is for the folds of a resync).
	switch ev.Type {
	case cache.NodeCreated:
		c.deliver(CacheEvent[T]{Kind: CacheChanged, Added: []Instance[T]{ev.New.Value}})
	case cache.NodeChanged:
		c.deliver(CacheEvent[T]{Kind: CacheChanged, Updated: []Instance[T]{ev.New.Value}})
	case cache.NodeDeleted:
		c.deliver(CacheEvent[T]{Kind: CacheChanged, Removed: []Instance[T]{ev.Old.Value}})
	}
}

// release queues the changes held during a resync, if any.
func (c *Cache[T]) release() {
	p := c.held
	if p == nil {
		return
	}
	c.held = nil
	c.deliverChange(p)
}

func (c *Cache[T]) tellSize() {
	if !c.initial {
		return
	}
	if h := c.d.client.Hooks().CacheSize; h != nil {
		h(context.Background(), zkrecipes.CacheSizeEvent{Path: c.path, Kind: "discovery", Size: c.count, Time: time.Now()})
	}
}

// reportError hands the error handler a znode the cache leaves out, or a failed read.
func (c *Cache[T]) reportError(err error) {
	var ce *cache.NodeError
	var ne *NodeError
	switch {
	case errors.As(err, &ne):
		c.opts.report("cache "+c.name+": skipping a znode that is not a valid instance", ne)
	case errors.As(err, &ce) && errors.Is(err, zk.ErrNoAuth):
		c.opts.report("cache "+c.name+": skipping a znode this client may not read", &NodeError{Path: ce.Path, Err: zk.ErrNoAuth})
	default:
		c.opts.report("cache "+c.name+": read failed; will retry", err)
	}
}

func (c *Cache[T]) onState(sc zkrecipes.StateChange) {
	c.deliver(CacheEvent[T]{Kind: ConnectionStateChanged, State: sc})
}

// deliverChange delivers the folded changes p, unless they cancel out.
func (c *Cache[T]) deliverChange(p *pendingChange[T]) {
	if ev, ok := p.event(); ok {
		c.deliver(ev)
	}
}

// deliver calls the listeners with ev (and the current instances), on the cache.Cache's
// delivery goroutine, unless the Cache is closed.
func (c *Cache[T]) deliver(ev CacheEvent[T]) {
	c.mu.Lock()
	ls := c.listeners
	c.mu.Unlock()
	if len(ls) == 0 {
		return
	}
	ev.Instances = c.Instances()
	for _, l := range ls {
		select {
		case <-c.done:
			return
		default:
		}
		l.fn(ev)
	}
}

// pendingChange is the net effect of changes, per znode: one change, or those a resync
// found.
type pendingChange[T any] struct {
	names  []string // first-seen order
	byName map[string]*pendingInstance[T]
}

type pendingInstance[T any] struct {
	before, now bool        // present before the first folded change; present now
	last        Instance[T] // the latest copy
}

// note folds one change of a znode in: before tells whether it was present just before
// this change, after whether it is now.
func (p *pendingChange[T]) note(name string, inst Instance[T], before, after bool) {
	pi := p.byName[name]
	if pi == nil {
		if p.byName == nil {
			p.byName = map[string]*pendingInstance[T]{}
		}
		pi = &pendingInstance[T]{before: before}
		p.byName[name] = pi
		p.names = append(p.names, name)
	}
	pi.now, pi.last = after, inst
}

// fold folds one node event of the instance znode name in.
func (p *pendingChange[T]) fold(ev cache.Event[Instance[T]], name string) {
	switch ev.Type {
	case cache.NodeCreated:
		p.note(name, ev.New.Value, false, true)
	case cache.NodeChanged:
		p.note(name, ev.New.Value, true, true)
	case cache.NodeDeleted:
		p.note(name, ev.Old.Value, true, false)
	}
}

// event is the CacheEvent for the folded changes; ok is false when they cancel out.
func (p *pendingChange[T]) event() (ev CacheEvent[T], ok bool) {
	ev = CacheEvent[T]{Kind: CacheChanged}
	for _, name := range p.names {
		pi := p.byName[name]
		switch {
		case !pi.before && pi.now:
			ev.Added = append(ev.Added, pi.last)
		case pi.before && pi.now:
			ev.Updated = append(ev.Updated, pi.last)
		case pi.before && !pi.now:
			ev.Removed = append(ev.Removed, pi.last)
		}
	}
	return ev, len(ev.Added)+len(ev.Updated)+len(ev.Removed) > 0
}

// queueHighWater is the most events the underlying cache has held undelivered at once.
func (c *Cache[T]) queueHighWater() int { return cacheopt.QueueHighWater(c.cc) }
