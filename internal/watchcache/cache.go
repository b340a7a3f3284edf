package watchcache

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/zkrecipes/zkrecipes"
)

// ChildError is a child that could not be read (for lack of permission) and is left out,
// as reported through OnError.
type ChildError struct {
	Path string // the child's path, relative to the Client's namespace
	Err  error
}

// Error names the child and the cause.
func (e *ChildError) Error() string { return fmt.Sprintf("watchcache: %s: %v", e.Path, e.Err) }

// Unwrap returns the cause.
func (e *ChildError) Unwrap() error { return e.Err }

// Item is one child as last read.
type Item[V any] struct {
	Name  string
	Value V
	Stat  zk.Stat
}

// Change is what one event changed. All is every valid child afterwards, sorted by name.
type Change[V any] struct {
	// Initial marks the result of the initial load (Added is empty then).
	Initial                 bool
	Added, Updated, Removed []Item[V]
	All                     []Item[V]
}

// Empty reports whether nothing was added, updated or removed.
func (c Change[V]) Empty() bool { return len(c.Added)+len(c.Updated)+len(c.Removed) == 0 }

// Config describes what to cache and where to report.
type Config[V any] struct {
	// Path is the parent whose children are cached, relative to the Client's namespace.
	Path string
	// Decode turns a child's data into a value; a child that fails, or that the client
	// may not read, is left out (and reported through OnError) until its data changes.
	Decode func(name string, data []byte) (V, error)
	// OnChange receives the initial load, then every non-empty change, on the cache's
	// goroutine, in order. It must not block for long.
	OnChange func(Change[V])
	// OnState receives the Client's state changes, in order with the changes.
	OnState func(zkrecipes.StateChange)
	// OnError receives read failures, undecodable children and unreadable ones (a
	// *ChildError wrapping zk.ErrNoAuth), never nil errors.
	OnError func(error)
	// Parallel bounds concurrent reads when many children are new (default 16).
	Parallel int
}

// Cache is a running children cache. Create it with New, then Start and Close it.
type Cache[V any] struct {
	client *zkrecipes.Client
	cfg    Config[V]
	reads  atomic.Int64
	live   atomic.Int64 // watch forwarder goroutines running
	mbox   *mailbox

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	ready  chan struct{}

	startOnce, closeOnce sync.Once
	stopListen           func()
	lastErr              atomic.Pointer[error]

	// Owned by the loop goroutine.
	entries     map[string]*entry[V]
	listing     map[string]bool // names of the latest children listing
	childWatch  uint64          // id of the pending children watch, 0 when none
	existsWatch uint64          // id of the pending exists watch on the parent, 0 when none
	nextID      uint64
	resync      bool // watches may be missing: reload at the next chance
	retryTimer  *time.Timer
	retryDelay  time.Duration
	initialized bool
	pending     Change[V]
}

type entry[V any] struct {
	item  Item[V]
	valid bool   // the data decoded
	watch uint64 // id of the pending data watch, 0 when none
}

// New returns a cache for cfg.Path; nothing happens before Start.
func New[V any](client *zkrecipes.Client, cfg Config[V]) *Cache[V] {
	if cfg.Parallel <= 0 {
		cfg.Parallel = 16
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Cache[V]{
		client: client, cfg: cfg, mbox: newMailbox(), ctx: ctx, cancel: cancel,
		ready: make(chan struct{}), entries: map[string]*entry[V]{}, listing: map[string]bool{},
	}
}

// Reads returns how many read operations (get, children, exists) the cache has issued.
func (c *Cache[V]) Reads() int64 { return c.reads.Load() }

// Watches returns how many watch forwarders run: one per watch the cache set that has
// neither fired nor been dropped with the session.
func (c *Cache[V]) Watches() int { return int(c.live.Load()) }

// Ready is closed when the initial load is done.
func (c *Cache[V]) Ready() <-chan struct{} { return c.ready }

// Start begins caching and waits for the initial load. When ctx ends first, the cache
// is closed and the error says why, with the last read error if there was one.
func (c *Cache[V]) Start(ctx context.Context) error {
	started := false
	c.startOnce.Do(func() {
		started = true
		c.stopListen = c.client.Listen(func(sc zkrecipes.StateChange) {
			c.mbox.post(event{kind: evState, state: sc})
		})
		c.wg.Add(1)
		go c.loop()
	})
	if !started {
		return errors.New("watchcache: Start called twice")
	}
	select {
	case <-c.ready:
		return nil
	case <-c.ctx.Done():
		return fmt.Errorf("watchcache %s: closed before the initial load", c.cfg.Path)
	case <-ctx.Done():
		c.Close()
		if p := c.lastErr.Load(); p != nil {
			return fmt.Errorf("watchcache %s: initial load: %w (last error: %w)", c.cfg.Path, ctx.Err(), *p)
		}
		return fmt.Errorf("watchcache %s: initial load: %w", c.cfg.Path, ctx.Err())
	}
}

// Close stops the cache and waits for its goroutines. It is idempotent.
func (c *Cache[V]) Close() {
	c.closeOnce.Do(func() {
		c.cancel()
		if c.stopListen != nil {
			c.stopListen()
		}
	})
	c.wg.Wait()
}

func (c *Cache[V]) loop() {
	defer c.wg.Done()
	defer func() {
		if c.retryTimer != nil {
			c.retryTimer.Stop()
		}
	}()
	c.refresh(true)
	c.maybeInitialize()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-c.mbox.signal:
		}
		for _, ev := range c.mbox.take() {
			if c.ctx.Err() != nil {
				return
			}
			c.handle(ev)
		}
		if c.resync && c.retryTimer == nil && c.client.State().IsConnected() {
			c.scheduleRetry()
		}
	}
}

// maybeInitialize reports the initial load once it succeeded.
func (c *Cache[V]) maybeInitialize() {
	if c.initialized || c.resync {
		if !c.initialized {
			c.scheduleRetry()
		}
		return
	}
	c.initialized = true
	c.pending = Change[V]{}
	if c.cfg.OnChange != nil {
		c.cfg.OnChange(Change[V]{Initial: true, All: c.all()})
	}
	close(c.ready)
}

func (c *Cache[V]) handle(ev event) {
	switch ev.kind {
	case evState:
		if c.cfg.OnState != nil {
			c.cfg.OnState(ev.state)
		}
		if ev.state.State == zkrecipes.StateReconnected {
			// Watches are lost only with the session; otherwise a listing is cheap
			// insurance, and reads what lacks a watch after failed reads.
			c.refresh(ev.state.NewSession)
		}
	case evRetry:
		c.retryTimer = nil
		if c.resync {
			// Only what lacks a watch is read again: a failed read left its child (or
			// the listing) without one, while every other watch is still armed.
			c.refresh(false)
		}
	case evWatch:
		c.handleWatch(ev)
	}
	if !c.initialized {
		c.maybeInitialize()
		return
	}
	c.flush()
}

func (c *Cache[V]) handleWatch(ev event) {
	if ev.name == "" {
		switch ev.id {
		case c.childWatch:
			c.childWatch = 0
		case c.existsWatch:
			c.existsWatch = 0
		default:
			return // a watch from before a reload
		}
		if ev.zev.Type == zk.EventNotWatching {
			c.resync = true // the session ended; reload when it is back
			return
		}
		c.refresh(false)
		return
	}
	e := c.entries[ev.name]
	if e == nil || e.watch != ev.id {
		return
	}
	e.watch = 0
	switch ev.zev.Type {
	case zk.EventNotWatching:
		c.resync = true
	case zk.EventNodeDeleted:
		if !c.listing[ev.name] {
			c.remove(ev.name)
			return
		}
		// The latest listing still has the child: either the children watch has yet
		// to report the delete, or the child was created again since. One read tells.
		c.read([]string{ev.name})
	default:
		c.read([]string{ev.name})
	}
}

// refresh lists the children (setting the children watch if none is pending), drops
// the ones gone, and reads the new ones and those without a data watch. With all, every
// watch is considered lost and every child is read again.
func (c *Cache[V]) refresh(all bool) {
	if all {
		c.childWatch, c.existsWatch = 0, 0
		for _, e := range c.entries {
			e.watch = 0
		}
	}
	c.resync = false
	for attempt := 0; attempt < 3; attempt++ {
		names, ok := c.list()
		if !ok {
			return
		}
		if names == nil {
			// The parent is missing: everything is gone; watch for its creation.
			c.listing = map[string]bool{}
			for name := range c.entries {
				c.remove(name)
			}
			if c.existsWatch != 0 {
				return
			}
			exists, ok := c.watchParentExists()
			if !ok || !exists {
				return
			}
			continue // created in between: list again
		}
		c.listing = make(map[string]bool, len(names))
		var toRead []string
		for _, n := range names {
			c.listing[n] = true
			if e := c.entries[n]; e == nil || e.watch == 0 {
				toRead = append(toRead, n)
			}
		}
		for name := range c.entries {
			if !c.listing[name] {
				c.remove(name)
			}
		}
		c.read(toRead)
		return
	}
}

// list returns the children; nil (and ok) when the parent does not exist.
func (c *Cache[V]) list() (names []string, ok bool) {
	c.reads.Add(1)
	var err error
	if c.childWatch != 0 {
		names, _, err = c.client.Children(c.ctx, c.cfg.Path)
	} else {
		var ch <-chan zk.Event
		names, _, ch, err = c.client.ChildrenW(c.ctx, c.cfg.Path)
		if err == nil {
			c.childWatch = c.watch("", ch)
		}
	}
	switch {
	case err == nil:
		if names == nil {
			names = []string{}
		}
		return names, true
	case errors.Is(err, zk.ErrNoNode):
		return nil, true
	}
	c.fail(err)
	return nil, false
}

func (c *Cache[V]) watchParentExists() (exists, ok bool) {
	c.reads.Add(1)
	exists, _, ch, err := c.client.ExistsW(c.ctx, c.cfg.Path)
	if err != nil {
		c.fail(err)
		return false, false
	}
	c.existsWatch = c.watch("", ch)
	return exists, true
}

type readResult struct {
	name string
	data []byte
	stat *zk.Stat
	ch   <-chan zk.Event
	err  error
}

// read gets the named children with data watches, several at a time, and applies what
// it finds.
func (c *Cache[V]) read(names []string) {
	if len(names) == 0 {
		return
	}
	results := make([]readResult, len(names))
	work := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < min(c.cfg.Parallel, len(names)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				c.reads.Add(1)
				r := &results[i]
				r.name = names[i]
				r.data, r.stat, r.ch, r.err = c.client.GetW(c.ctx, c.cfg.Path+"/"+names[i])
			}
		}()
	}
	for i := range names {
		work <- i
	}
	close(work)
	wg.Wait()
	for _, r := range results {
		switch {
		case r.err == nil:
			c.apply(r)
		case errors.Is(r.err, zk.ErrNoNode):
			// Deleted since the listing; the children watch reports it.
			c.remove(r.name)
		case errors.Is(r.err, zk.ErrNoAuth):
			c.unreadable(r.name, r.err)
		default:
			c.fail(r.err)
		}
	}
}

// apply records a child just read.
func (c *Cache[V]) apply(r readResult) {
	e := c.entries[r.name]
	if e == nil {
		e = &entry[V]{item: Item[V]{Name: r.name}}
		c.entries[r.name] = e
	}
	e.watch = c.watch(r.name, r.ch)
	if e.item.Stat.Mzxid == r.stat.Mzxid && e.item.Stat.Czxid == r.stat.Czxid && e.item.Stat.Mzxid != 0 {
		return // re-read after a reload, unchanged (and, if bad, already reported)
	}
	v, err := c.cfg.Decode(r.name, r.data)
	if err != nil {
		if e.valid {
			c.pending.Removed = append(c.pending.Removed, e.item)
		}
		e.valid = false
		e.item.Stat = *r.stat
		c.report(err)
		return
	}
	wasValid := e.valid
	e.item = Item[V]{Name: r.name, Value: v, Stat: *r.stat}
	e.valid = true
	if !c.initialized {
		return
	}
	if wasValid {
		c.pending.Updated = append(c.pending.Updated, e.item)
	} else {
		c.pending.Added = append(c.pending.Added, e.item)
	}
}

// unreadable records a child the client may not read (its ACL denies READ): it is left
// out and reported like undecodable data, never retried in a loop. An exists watch, which
// needs no permission, tells when its data changes or it goes, and then it is read again.
// (A change of its ACL alone fires no watch; a new session or a reload re-reads it.)
func (c *Cache[V]) unreadable(name string, err error) {
	e := c.entries[name]
	if e == nil {
		e = &entry[V]{item: Item[V]{Name: name}}
		c.entries[name] = e
	}
	if e.valid && c.initialized {
		c.pending.Removed = append(c.pending.Removed, e.item)
	}
	e.valid = false
	e.item.Stat = zk.Stat{}
	c.report(&ChildError{Path: c.cfg.Path + "/" + name, Err: err})
	c.reads.Add(1)
	exists, _, ch, xerr := c.client.ExistsW(c.ctx, c.cfg.Path+"/"+name)
	switch {
	case xerr != nil:
		c.fail(xerr)
	case !exists:
		// Gone since; the exists watch reports a re-creation, the children watch a delete.
		c.remove(name)
		c.watch(name, ch) // fires at a re-creation, ignored: no entry waits for it
	default:
		e.watch = c.watch(name, ch)
	}
}

func (c *Cache[V]) remove(name string) {
	e := c.entries[name]
	if e == nil {
		return
	}
	delete(c.entries, name)
	if e.valid && c.initialized {
		c.pending.Removed = append(c.pending.Removed, e.item)
	}
}

// watch hands a one-shot watch channel to a goroutine that posts its event, and returns
// the id that tells this watch from older ones on the same node.
func (c *Cache[V]) watch(name string, ch <-chan zk.Event) uint64 {
	c.nextID++
	id := c.nextID
	c.wg.Add(1)
	c.live.Add(1)
	go func() {
		defer c.wg.Done()
		defer c.live.Add(-1)
		select {
		case ev, ok := <-ch:
			if !ok {
				ev = zk.Event{Type: zk.EventNotWatching}
			}
			c.mbox.post(event{kind: evWatch, id: id, name: name, zev: ev})
		case <-c.ctx.Done():
		}
	}()
	return id
}

// fail records a read that failed for good (after the Client's retries): the cache may
// now lack watches, so it reloads at the next reconnect or retry.
func (c *Cache[V]) fail(err error) {
	if c.ctx.Err() != nil {
		return
	}
	c.resync = true
	c.lastErr.Store(&err)
	c.report(err)
}

func (c *Cache[V]) report(err error) {
	if c.cfg.OnError != nil {
		c.cfg.OnError(err)
	}
}

// scheduleRetry reloads after a growing delay (up to 30 s) when a read failed while the
// connection looked fine, e.g. for lack of permission.
func (c *Cache[V]) scheduleRetry() {
	if c.retryTimer != nil {
		return
	}
	c.retryDelay = min(max(2*c.retryDelay, 250*time.Millisecond), 30*time.Second)
	c.retryTimer = time.AfterFunc(c.retryDelay, func() { c.mbox.post(event{kind: evRetry}) })
}

// flush reports the pending change, if any.
func (c *Cache[V]) flush() {
	if !c.resync {
		c.retryDelay = 0
	}
	if c.pending.Empty() {
		return
	}
	ch := c.pending
	c.pending = Change[V]{}
	ch.All = c.all()
	if c.cfg.OnChange != nil {
		c.cfg.OnChange(ch)
	}
}

func (c *Cache[V]) all() []Item[V] {
	out := make([]Item[V], 0, len(c.entries))
	for _, e := range c.entries {
		if e.valid {
			out = append(out, e.item)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
