package cache

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/go-zookeeper/zk"
	"github.com/zkrecipes/zkrecipes"
	"github.com/zkrecipes/zkrecipes/internal/watchhub"
)

// ErrClosed is returned by Start after Close, and (wrapped together with
// zkrecipes.ErrClosed) when the Client closes before the initial load is done.
var ErrClosed = errors.New("cache: closed")

// Cache keeps a local copy of a ZooKeeper subtree (see the package documentation). Create
// it with New, add listeners with Listen, then Start it; Close it when done. Its methods
// are safe for concurrent use.
type Cache[T any] struct {
	client     *zkrecipes.Client
	root       string // relative to the namespace
	serverRoot string // the same on the server
	ns         string
	decode     Decoder[T]
	opts       options
	w          watcher
	hub        *watchhub.Hub

	snap      atomic.Pointer[snapshot[T]]
	q         *queue[T]
	mbox      mailbox[T]
	lmu       sync.Mutex
	listeners atomic.Pointer[[]*listener[T]]

	ctx     context.Context // cancelled by Close
	opCtx   context.Context // ctx, for reads run on the workers themselves (watchhub.Inline)
	cancel  context.CancelFunc
	core    sync.WaitGroup // the loop and the delivery goroutine
	wg      sync.WaitGroup // the read workers
	ready   chan struct{}  // closed when the initial load is done
	stopped chan struct{}  // closed when the loop has returned
	lastErr atomic.Pointer[error]

	mu         sync.Mutex
	phase      int // 0 new, 1 started, 2 closed
	unsub      func()
	stopListen func()
	closeOnce  sync.Once
}

type listener[T any] struct{ fn func(Event[T]) }

// New returns a cache of the subtree at root (a path relative to the Client's namespace),
// whose znodes' data decode turns into values; nothing is read before Start. It fails with
// an error matching zkrecipes.ErrInvalidPath for a bad root and
// zkrecipes.ErrInvalidArgument for a nil client or decoder or a bad option. The root need
// not exist: the cache is empty until it is created, and never creates it.
func New[T any](client *zkrecipes.Client, root string, decode Decoder[T], opts ...Option) (*Cache[T], error) {
	if err := zkrecipes.ValidatePath(root); err != nil {
		return nil, fmt.Errorf("cache: root: %w", err)
	}
	o := defaultOptions()
	for _, opt := range opts {
		opt(&o)
	}
	if client == nil {
		o.badf("nil client")
	}
	if decode == nil {
		o.badf("nil decoder")
	}
	if len(o.errs) > 0 {
		return nil, errors.Join(o.errs...)
	}
	hub := watchhub.Of(client)
	if hub == nil {
		return nil, fmt.Errorf("%w: cache: the Client has no watch hub", zkrecipes.ErrInvalidArgument)
	}
	c := &Cache[T]{
		client: client, root: root, ns: client.Namespace(), decode: decode, opts: o,
		w: oneShot{client}, hub: hub, q: newQueue[T](),
		ready: make(chan struct{}), stopped: make(chan struct{}),
	}
	c.serverRoot = root
	if c.ns != "" {
		c.serverRoot = c.ns
		if root != "/" {
			c.serverRoot += root
		}
	}
	c.mbox.signal = make(chan struct{}, 1)
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.opCtx = watchhub.Inline(c.ctx)
	c.snap.Store(&snapshot[T]{rootPath: root})
	return c, nil
}

// Root returns the path of the cache's root znode.
func (c *Cache[T]) Root() string { return c.root }

// Listen registers fn for every event that happens after it is added (register listeners
// before Start to hear the initial load). Every listener of a cache is called from one
// goroutine, one event at a time, in order: a slow listener delays the others, never the
// cache, whose undelivered events coalesce (see the package documentation) so that memory
// stays bounded. fn may read the cache (it sees the content as of the event or later) but
// must not call Close: Close waits for the call in progress. The returned stop unregisters
// fn (a call in progress goes on); it may be called from fn.
func (c *Cache[T]) Listen(fn func(Event[T])) (stop func()) {
	l := &listener[T]{fn: fn}
	c.lmu.Lock()
	old := c.listenersNow()
	next := append(old[:len(old):len(old)], l)
	c.listeners.Store(&next)
	c.lmu.Unlock()
	return func() {
		c.lmu.Lock()
		defer c.lmu.Unlock()
		old := c.listenersNow()
		out := make([]*listener[T], 0, len(old))
		for _, x := range old {
			if x != l {
				out = append(out, x)
			}
		}
		c.listeners.Store(&out)
	}
}

func (c *Cache[T]) listenersNow() []*listener[T] {
	if p := c.listeners.Load(); p != nil {
		return *p
	}
	return nil
}

// Start loads the subtree and returns once the initial load is done: every znode found
// is in the cache (and is reported, to the listeners, as NodeCreated followed by
// Initialized), with its watches set. Then the cache follows every change until Close.
//
// While the connection is down Start keeps waiting (reads resume when it is back). When
// ctx ends first, Start closes the cache and returns ctx's error, with the last read error
// if there was one, once the cache's event loop and delivery goroutine have returned; a
// read then in flight is finished by its worker when go-zk answers or fails it (at once on
// a healthy connection, within about the session timeout if the connection has just gone
// silent), after which nothing of the cache runs. It fails at once, with ErrClosed, after
// Close; with an error when called twice; and with an error matching ErrClosed and
// zkrecipes.ErrClosed when the Client is or gets closed before the load is done.
func (c *Cache[T]) Start(ctx context.Context) error {
	c.mu.Lock()
	switch c.phase {
	case 1:
		c.mu.Unlock()
		return fmt.Errorf("cache %s: Start called twice", c.root)
	case 2:
		c.mu.Unlock()
		return fmt.Errorf("cache %s: start: %w", c.root, ErrClosed)
	}
	if c.client.State() == zkrecipes.StateClosed {
		c.mu.Unlock()
		return fmt.Errorf("cache %s: start: %w", c.root, zkrecipes.ErrClosed)
	}
	c.phase = 1
	c.unsub = c.hub.Subscribe(c.serverRoot, c.onWatch)
	c.stopListen = c.client.Listen(func(sc zkrecipes.StateChange) {
		c.mbox.post(input[T]{kind: inState, sc: sc})
	}, zkrecipes.WithCurrentState())
	l := newLoop(c)
	c.core.Add(2)
	go l.run()
	go c.deliver()
	c.mu.Unlock()

	select {
	case <-c.ready:
		return nil
	case <-c.stopped:
		if c.ctx.Err() != nil {
			return fmt.Errorf("cache %s: start: %w", c.root, ErrClosed)
		}
		return fmt.Errorf("cache %s: start: %w: %w", c.root, ErrClosed, zkrecipes.ErrClosed)
	case <-ctx.Done():
		c.shutdown()
		c.core.Wait()
		if p := c.lastErr.Load(); p != nil {
			return fmt.Errorf("cache %s: initial load: %w (last error: %w)", c.root, ctx.Err(), *p)
		}
		return fmt.Errorf("cache %s: initial load: %w", c.root, ctx.Err())
	}
}

// onWatch runs on go-zk's receive goroutine (through the hub): it only posts.
func (c *Cache[T]) onWatch(ev zk.Event) { c.mbox.post(input[T]{kind: inWatch, ev: ev}) }

// Close stops the cache: it unsubscribes from the Client's watch events and state changes,
// drops the events not yet delivered, and waits until every goroutine of the cache has
// returned: the event loop and the delivery goroutine at once (after a listener call in
// progress), the read workers once go-zk has answered or failed the read each may have in
// flight (at once on a healthy connection, within about the session timeout if the
// connection has just gone silent). When ctx ends first it returns ctx's error, and they
// return on their own. The watches the cache set stay on the server until they fire or the
// session ends (go-zk cannot remove watches), and nothing is written or deleted. The
// content stays readable (Get, Snapshot) as it was. Close is idempotent; do not call it
// from a listener (it would wait for itself until ctx ends).
func (c *Cache[T]) Close(ctx context.Context) error {
	c.shutdown()
	done := make(chan struct{})
	go func() {
		c.core.Wait()
		c.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("cache %s: close: %w", c.root, ctx.Err())
	}
}

// Sync waits until the cache holds every change ZooKeeper committed before the call and
// the listeners have been called for them: it makes the Client's server catch up with the
// leader (zkrecipes.Client.Sync), after which the server has sent every watch event for
// those changes, then waits until the cache has applied them, has no read outstanding,
// and has delivered the events that came before. Do not call it from a listener (it would
// wait for itself until ctx ends). Under a constant stream of changes it may wait longer. It
// returns the sync's error when the Client's retries give up (the connection stayed
// down), ctx's error when ctx ends first, ErrClosed when the cache is closed or stops,
// and an error when the cache was not started.
func (c *Cache[T]) Sync(ctx context.Context) error {
	c.mu.Lock()
	phase := c.phase
	c.mu.Unlock()
	switch phase {
	case 0:
		return fmt.Errorf("cache %s: sync: not started", c.root)
	case 2:
		return fmt.Errorf("cache %s: sync: %w", c.root, ErrClosed)
	}
	if err := c.client.Sync(ctx, c.root); err != nil {
		return fmt.Errorf("cache %s: sync: %w", c.root, err)
	}
	done := make(chan struct{})
	c.mbox.post(input[T]{kind: inBarrier, done: done})
	select {
	case <-done:
		return nil
	case <-c.stopped:
		return fmt.Errorf("cache %s: sync: %w", c.root, ErrClosed)
	case <-ctx.Done():
		return fmt.Errorf("cache %s: sync: %w", c.root, ctx.Err())
	}
}

// shutdown starts closing the cache (see Close) without waiting.
func (c *Cache[T]) shutdown() {
	c.closeOnce.Do(func() {
		c.mu.Lock()
		c.phase = 2
		unsub, stop := c.unsub, c.stopListen
		c.mu.Unlock()
		c.cancel()
		if unsub != nil {
			unsub()
		}
		if stop != nil {
			stop()
		}
	})
}

// Snapshot returns the cache's current content (see Snapshot); it costs a pointer load.
// Before Start it is empty; after Close it stays as it was.
func (c *Cache[T]) Snapshot() Snapshot[T] { return Snapshot[T]{c.snap.Load()} }

// Get returns the cached znode at path (see Snapshot.Get).
func (c *Cache[T]) Get(path string) (Node[T], bool) { return c.Snapshot().Get(path) }

// Children returns the cached children of the znode at path, sorted by name (see
// Snapshot.Children).
func (c *Cache[T]) Children(path string) []Node[T] { return c.Snapshot().Children(path) }

// Len returns the number of znodes in the cache.
func (c *Cache[T]) Len() int { return c.Snapshot().Len() }

// deliver calls the listeners, one event at a time, in order. An entry leaves the queue
// only when its delivery starts, so changes keep folding into it while listeners are busy.
// After the loop has stopped because the Client closed, it delivers what is left (the
// CLOSED state last) and returns.
func (c *Cache[T]) deliver() {
	defer c.core.Done()
	var evs []Event[T]
	stopped := c.stopped
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-c.q.signal:
		case <-stopped:
			stopped = nil
		}
		for {
			s := c.q.pop()
			if s == nil {
				break
			}
			evs = s.events(evs[:0])
			for _, ev := range evs {
				for _, l := range c.listenersNow() {
					if c.ctx.Err() != nil {
						return
					}
					l.fn(ev)
				}
			}
			clear(evs)
		}
		if stopped == nil {
			return
		}
	}
}
