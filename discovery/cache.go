package discovery

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zkrecipes/zkrecipes"
	"github.com/zkrecipes/zkrecipes/internal/watchcache"
)

// Cache keeps the instances of one service in memory, like Curator's ServiceCache, and
// tells listeners what changed.
//
// It uses ZooKeeper's one-shot watches: a change of one instance costs a read of that
// instance only (plus the re-listing of the service that re-arms the children watch when
// instances come or go), whatever the number of instances. A znode whose data is not a
// valid instance, or that the Client may not read (its ACL denies READ: a *NodeError
// wrapping zk.ErrNoAuth), is left out and reported, never fatal. The cache is not cleared when the
// connection is SUSPENDED or LOST: it serves the last known instances until it can check.
// After a reconnect it re-lists the service in case a change was missed; after a new
// session (all watches lost) it reads everything again.
type Cache[T any] struct {
	name string
	d    *Discovery[T]
	opts options
	wc   *watchcache.Cache[Instance[T]]
	snap atomic.Pointer[[]Instance[T]]

	mu        sync.Mutex
	listeners []*cacheListener[T]
	queue     []queued[T] // events not yet delivered; see pendingChange
	highWater int         // the most entries queue has held
	signal    chan struct{}
	done      chan struct{}
	wg        sync.WaitGroup
	startOnce sync.Once
	closeOnce sync.Once
	started   atomic.Bool
	size      int // instances held, as last told the CacheSize hook (-1 before); owned by the watch cache's goroutine
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
	// Added, Updated and Removed are set for CacheChanged. Removed holds the last known
	// copy of each instance. An instance whose data became unreadable counts as removed.
	Added, Updated, Removed []Instance[T]
	// Instances is the cache's content after the change (for every kind).
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
	c := &Cache[T]{name: name, d: d, opts: o, signal: make(chan struct{}, 1), done: make(chan struct{}), size: -1}
	path := d.servicePath(name)
	c.wc = watchcache.New(d.client, watchcache.Config[Instance[T]]{
		Path: path,
		Decode: func(child string, data []byte) (Instance[T], error) {
			inst, err := d.ser.Deserialize(data)
			if err != nil {
				return inst, &NodeError{Path: path + "/" + child, Err: err}
			}
			return inst, nil
		},
		OnChange: c.onChange,
		OnState:  c.onState,
		OnError: func(err error) {
			var ne *NodeError
			var ce *watchcache.ChildError
			if errors.As(err, &ce) {
				c.opts.report("cache "+name+": skipping a znode this client may not read", &NodeError{Path: ce.Path, Err: ce.Err})
			} else if errors.As(err, &ne) {
				c.opts.report("cache "+name+": skipping a znode that is not a valid instance", err)
			} else {
				c.opts.report("cache "+name+": read failed; will reload", err)
			}
		},
	})
	empty := []Instance[T]{}
	c.snap.Store(&empty)
	return c, nil
}

// Name returns the service name.
func (c *Cache[T]) Name() string { return c.name }

// Start loads the service's instances and returns once they are in the cache (an absent
// service is simply empty), then keeps the cache current until Close. When ctx ends
// first, the cache is closed and the error says why. It fails with ErrClosed after Close
// and with an error when called twice.
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
		c.wg.Add(1)
		go c.deliver()
	})
	if !started {
		return fmt.Errorf("discovery: cache %s: Start called twice", c.name)
	}
	if err := c.wc.Start(ctx); err != nil {
		c.Close(context.Background())
		return fmt.Errorf("discovery: cache %s: %w", c.name, err)
	}
	return nil
}

// Instances returns the cached instances, sorted by znode name. The slice is shared by
// every caller until the next change: do not modify it. It is empty before Start.
func (c *Cache[T]) Instances() []Instance[T] { return *c.snap.Load() }

// Listen registers fn for every change after the initial load and every connection state
// change. Calls come from one goroutine per Cache, in order; a slow fn delays the other
// listeners of this Cache, never the cache itself. Changes that happen while the
// listeners are busy are folded into one event (each instance appears once, as Added,
// Updated or Removed relative to the last event delivered, with its latest copy), so
// memory stays bounded however slow fn is; connection state events are never folded and
// keep their order relative to the changes. stop unregisters fn; it may be called from fn.
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
// and waits for its goroutines, or until ctx ends. It is idempotent.
func (c *Cache[T]) Close(ctx context.Context) error {
	c.closeOnce.Do(func() {
		c.wc.Close()
		close(c.done)
	})
	done := make(chan struct{})
	go func() {
		c.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("discovery: cache %s: close: %w", c.name, ctx.Err())
	}
}

// ready waits for the initial load; it fails at once for a cache never started.
func (c *Cache[T]) ready(ctx context.Context) error {
	select {
	case <-c.wc.Ready():
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
	case <-c.wc.Ready():
		return nil
	case <-c.done:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
}

// watches is the number of watch forwarders the cache runs (one per watch it set that
// has not fired).
func (c *Cache[T]) watches() int { return c.wc.Watches() }

// reads is the number of ZooKeeper reads the cache has issued.
func (c *Cache[T]) reads() int64 { return c.wc.Reads() }

func values[T any](items []watchcache.Item[Instance[T]]) []Instance[T] {
	out := make([]Instance[T], len(items))
	for i, it := range items {
		out[i] = it.Value
	}
	return out
}

// onChange runs on the watch cache's goroutine. It tells the Client's CacheSize hook,
// with kind "discovery", whenever the number of instances changes (first with the
// initial load).
func (c *Cache[T]) onChange(ch watchcache.Change[Instance[T]]) {
	all := values(ch.All)
	c.snap.Store(&all)
	if len(all) != c.size {
		c.size = len(all)
		if h := c.d.client.Hooks().CacheSize; h != nil {
			h(context.Background(), zkrecipes.CacheSizeEvent{Path: c.d.servicePath(c.name), Kind: "discovery", Size: c.size, Time: time.Now()})
		}
	}
	if ch.Initial {
		return
	}
	c.mu.Lock()
	var p *pendingChange[T]
	if n := len(c.queue); n > 0 && c.queue[n-1].change != nil {
		p = c.queue[n-1].change // not delivered yet: fold this change into it
	} else {
		p = &pendingChange[T]{byName: map[string]*pendingInstance[T]{}}
		c.queue = append(c.queue, queued[T]{change: p})
		c.highWater = max(c.highWater, len(c.queue))
	}
	for _, it := range ch.Added {
		p.note(it, false, true)
	}
	for _, it := range ch.Updated {
		p.note(it, true, true)
	}
	for _, it := range ch.Removed {
		p.note(it, true, false)
	}
	p.all = all
	c.mu.Unlock()
	c.wake()
}

func (c *Cache[T]) onState(sc zkrecipes.StateChange) {
	c.mu.Lock()
	c.queue = append(c.queue, queued[T]{state: &CacheEvent[T]{Kind: ConnectionStateChanged, State: sc, Instances: c.Instances()}})
	c.highWater = max(c.highWater, len(c.queue))
	c.mu.Unlock()
	c.wake()
}

// queued is one entry of a Cache's event queue: a connection state change, or the
// changes that happened since the previous entry, folded together.
type queued[T any] struct {
	state  *CacheEvent[T]
	change *pendingChange[T]
}

// pendingChange is the net effect of the changes not yet delivered, per znode: so the
// queue holds at most one entry per state change plus one, however slow the listeners.
type pendingChange[T any] struct {
	names  []string // first-seen order
	byName map[string]*pendingInstance[T]
	all    []Instance[T]
}

type pendingInstance[T any] struct {
	before, now bool        // present before the first folded change; present now
	last        Instance[T] // the latest copy
}

// note folds one change of a znode in: before tells whether it was present just before
// this change, after whether it is now.
func (p *pendingChange[T]) note(it watchcache.Item[Instance[T]], before, after bool) {
	pi := p.byName[it.Name]
	if pi == nil {
		pi = &pendingInstance[T]{before: before}
		p.byName[it.Name] = pi
		p.names = append(p.names, it.Name)
	}
	pi.now, pi.last = after, it.Value
}

// event is the CacheEvent for the folded changes; ok is false when they cancel out.
func (p *pendingChange[T]) event() (ev CacheEvent[T], ok bool) {
	ev = CacheEvent[T]{Kind: CacheChanged, Instances: p.all}
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

func (c *Cache[T]) wake() {
	select {
	case c.signal <- struct{}{}:
	default:
	}
}

// deliver calls the listeners, one event at a time, in order. An event leaves the queue
// only when its delivery starts, so changes keep folding into the last entry for as long
// as the listeners are busy.
func (c *Cache[T]) deliver() {
	defer c.wg.Done()
	for {
		select {
		case <-c.done:
			return
		case <-c.signal:
		}
		for {
			c.mu.Lock()
			if len(c.queue) == 0 {
				c.mu.Unlock()
				break
			}
			q := c.queue[0]
			c.queue[0] = queued[T]{}
			c.queue = c.queue[1:]
			ls := append([]*cacheListener[T](nil), c.listeners...)
			c.mu.Unlock()
			var ev CacheEvent[T]
			if q.state != nil {
				ev = *q.state
			} else if e, ok := q.change.event(); ok {
				ev = e
			} else {
				continue
			}
			for _, l := range ls {
				select {
				case <-c.done:
					return
				default:
				}
				l.fn(ev)
			}
		}
	}
}

// queueHighWater is the largest number of entries the event queue has held.
func (c *Cache[T]) queueHighWater() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.highWater
}
