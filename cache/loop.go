package cache

import (
	"context"
	"errors"
	"math"
	"slices"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/zkrecipes/zkrecipes"
	"github.com/zkrecipes/zkrecipes/retry"
)

// The loop owns the cache's state and is the only goroutine that changes it. Its inputs
// (watch events from the hub, read results from the workers, state changes from the
// Client, retry ticks) arrive through one mailbox; it handles them in batches and, after
// each batch, hands the reads it decided on to the workers, publishes the new version of
// the tree and queues the events for the listeners.
//
// Reads are the truth and events only say what to read: a watch event leads to a read of
// the znode (a deletion, when no read of it is outstanding, is applied at once). Two rules
// make results arrive in an order that can be trusted:
//
//   - At most one data read (get or exists) and one child listing per path are
//     outstanding; one asked for meanwhile is noted (flight.redo*) and issued when the
//     outstanding one returns. A watch event that arrives while a read of its path is
//     outstanding may have been sent before or after that read's reply (the hub posts
//     events from go-zk's receive goroutine at once, a worker posts its result later), so
//     it is always followed by a new read, never applied on its own. An event that arrives
//     when none is outstanding was sent after every reply the loop has applied.
//   - A read carries the incarnation (gen) of its path it was issued for; a path removed
//     from the cache and added again gets a new gen, and results for the old one are
//     dropped. A child listing removes a cached child it does not list only if the child
//     was created at or before the listing's pzxid (a child created later is simply newer
//     than the listing).
//
// Loads are waves: the initial load is wave 1 and each resync after a new session the
// next. Reads issued by a wave, and those its results lead to, count for it; Initialized
// or Resynced is reported when none is left. Reads caused by watch events count for no
// wave, so a busy tree never holds Start back.
type loop[T any] struct {
	c           *Cache[T]
	tr          tree[T]
	rootPath    string
	maxDepth    int
	count       int    // visible znodes
	gen         uint64 // last incarnation number handed out
	flights     map[string]*flight
	free        []*flight
	submit      []op // reads decided in this batch
	backlog     []op // reads waiting for the connection, or to be retried
	pool        *pool[T]
	connected   bool
	rootMissing bool // the root does not exist; an exists watch waits for it
	wave        uint32
	pending     int // reads of the current wave not done
	initialized bool
	resyncing   bool
	waveStart   time.Time // when the initial load or the current resync began (for the hooks)
	sizeTold    int       // the size last told the CacheSize hook (-1: none yet)
	out         []item[T] // events of this batch
	changed     bool      // the tree changed in this batch
	retryTimer  *time.Timer
	retryDelay  time.Duration
	peak        int             // most flights outstanding since the map was made
	trimInput   bool            // drop the mailbox buffer if it is big (see trim)
	barriers    []chan struct{} // Sync calls waiting for nothing to be outstanding
	stop        bool            // the Client is closed

	// Znodes the Client may not read, read again every authDelay (see refused).
	unreadable map[string]struct{}
	authTimer  *time.Timer
	authDelay  time.Duration
}

// flight is the outstanding reads of one path.
type flight struct {
	data, kids     bool // a data read, a child listing outstanding
	redoData       bool
	redoKids       bool
	redoDataKind   opKind
	redoKidsResync bool
	redoDataWave   uint32
	redoKidsWave   uint32
}

func newLoop[T any](c *Cache[T]) *loop[T] {
	l := &loop[T]{
		c: c, rootPath: c.root, flights: map[string]*flight{}, unreadable: map[string]struct{}{},
		pool:      &pool[T]{c: c, max: c.opts.parallel},
		connected: c.client.State().IsConnected(),
		maxDepth:  c.opts.depth,
	}
	if l.maxDepth == Unlimited {
		l.maxDepth = math.MaxInt
	}
	l.gen++
	l.tr.root = l.tr.newNode(c.root, l.gen)
	return l
}

func (l *loop[T]) run() {
	defer l.c.core.Done()
	defer close(l.c.stopped)
	defer func() {
		if l.retryTimer != nil {
			l.retryTimer.Stop()
		}
		if l.authTimer != nil {
			l.authTimer.Stop()
		}
	}()
	l.wave = 1
	l.waveStart, l.sizeTold = time.Now(), -1
	if err := l.c.w.arm(l.c.ctx, l.rootPath); err != nil {
		l.c.client.Logger().Warn("cache: arming the root's watch failed", "root", l.rootPath, "err", err)
	}
	l.loadNode(l.tr.root, "", l.wave)
	l.flush()
	var buf []input[T]
	gather := time.NewTimer(time.Hour)
	gather.Stop()
	defer gather.Stop()
	for !l.stop {
		select {
		case <-l.c.ctx.Done():
			return
		case <-l.c.mbox.signal:
		}
		if len(l.flights) >= gatherAt {
			// A load or resync: results arrive one by one from many workers, and waking
			// for each costs more than applying it. Let some gather first.
			gather.Reset(gatherFor)
			select {
			case <-l.c.ctx.Done():
				return
			case <-gather.C:
			}
		}
		in := l.c.mbox.take(buf)
		for i := range in {
			if l.c.ctx.Err() != nil {
				return
			}
			l.handle(&in[i])
		}
		buf = in
		l.flush()
		if l.trimInput {
			l.trimInput = false
			if cap(buf) > keepCap {
				buf = nil
			} else {
				clear(buf)
			}
			l.c.mbox.trim()
		}
	}
}

// While at least gatherAt reads are outstanding, the loop waits gatherFor after a wake-up
// before it takes what was posted.
const (
	gatherAt  = 32
	gatherFor = time.Millisecond
)

func (l *loop[T]) handle(in *input[T]) {
	switch in.kind {
	case inWatch:
		l.onWatch(in.ev)
	case inResult:
		l.onResult(in.res)
	case inState:
		l.onState(in.sc)
	case inRetry:
		l.retryTimer = nil
		if l.connected {
			l.submit = append(l.submit, l.backlog...)
			l.backlog = nil
		}
	case inBarrier:
		l.barriers = append(l.barriers, in.done)
	case inAuthRetry:
		l.authTimer = nil
		for path := range l.unreadable {
			if n, _ := l.find(path); n != nil && n.bad == unreadable {
				l.issue(op{kind: opData, path: path, gen: n.gen}, false)
			}
		}
		l.authDelay = min(2*l.authDelay, maxAuthDelay)
		l.scheduleAuth()
	}
}

// The first and the longest delay between reads of a znode the Client may not read.
const (
	minAuthDelay = 2 * time.Second
	maxAuthDelay = 2 * time.Minute
)

func (l *loop[T]) scheduleAuth() {
	if l.authTimer != nil || len(l.unreadable) == 0 {
		return
	}
	l.authDelay = max(l.authDelay, minAuthDelay)
	l.authTimer = time.AfterFunc(l.authDelay, func() { l.c.mbox.post(input[T]{kind: inAuthRetry}) })
}

// flush ends a batch: it starts the reads decided, publishes the tree, reports a wave
// that is done, and queues the events.
func (l *loop[T]) flush() {
	if len(l.submit) > 0 {
		if l.connected {
			l.pool.submit(l.submit)
		} else {
			l.backlog = append(l.backlog, l.submit...)
		}
		clear(l.submit)
		l.submit = l.submit[:0]
	}
	if len(l.backlog) == 0 {
		l.retryDelay = 0
	}
	// During the initial load nothing is published: the tree is built in place and
	// appears whole once the load is done.
	publish := func() {
		if l.changed {
			l.c.snap.Store(&snapshot[T]{root: l.tr.root, rootPath: l.rootPath, count: l.count})
			l.tr.seal()
			l.changed = false
		}
	}
	if l.initialized {
		publish()
	}
	if l.pending == 0 && !l.stop {
		switch {
		case !l.initialized:
			l.initialized, l.resyncing = true, false
			publish()
			if l.listening() {
				// The initial load in tree order, then Initialized.
				preorder(l.tr.root, func(t *tnode[T]) bool {
					if v := t.visible(); v != nil {
						l.out = append(l.out, item[T]{kind: slotNode, path: t.path, new: v})
					}
					return true
				})
			}
			l.mark(Initialized)
			l.hookResync("start")
			defer close(l.c.ready) // after the events are queued
		case l.resyncing:
			l.resyncing = false
			l.mark(Resynced)
			l.hookResync("session")
		}
	}
	if l.initialized && l.count != l.sizeTold && !l.c.opts.noSizeHook {
		l.sizeTold = l.count
		if h := l.c.client.Hooks().CacheSize; h != nil {
			h(context.Background(), zkrecipes.CacheSizeEvent{Path: l.rootPath, Kind: l.kind(), Size: l.count, Time: time.Now()})
		}
	}
	if len(l.out) > 0 {
		if len(l.c.listenersNow()) > 0 {
			l.c.q.push(l.out)
		}
		clear(l.out)
		l.out = l.out[:0]
	}
	if len(l.flights) == 0 {
		l.trim()
	}
	if len(l.flights) == 0 && len(l.barriers) > 0 {
		// Released once the listeners have had every event before it.
		if l.listening() {
			l.c.q.barrier(l.barriers)
		} else {
			for _, b := range l.barriers {
				close(b)
			}
		}
		l.barriers = nil
	}
}

// keepCap is the capacity of a buffer worth keeping between loads; a bigger one (left by
// a load or resync of many znodes) is dropped once the cache is idle, so that the memory
// of a cache at rest is its content.
const keepCap = 256

// trim drops the buffers a big load left behind; it runs when nothing is outstanding.
func (l *loop[T]) trim() {
	if l.peak > keepCap {
		l.flights = map[string]*flight{} // a map keeps the buckets of its peak size
		l.peak = 0
	}
	if len(l.free) > keepCap {
		clear(l.free[keepCap:])
		l.free = l.free[:keepCap:keepCap]
	}
	if cap(l.submit) > keepCap {
		l.submit = nil
	}
	if cap(l.backlog) > keepCap {
		l.backlog = nil
	}
	if cap(l.out) > keepCap {
		l.out = nil
	}
	l.pool.trim()
	l.trimInput = true
}

func (l *loop[T]) listening() bool { return len(l.c.listenersNow()) > 0 }

// emit queues the change of path from old to new (nil: not visible) for the listeners.
// During the initial load nothing is queued: its result is reported when it is done.
func (l *loop[T]) emit(path string, old, new *Node[T]) {
	if old != new && l.initialized && l.listening() {
		l.out = append(l.out, item[T]{kind: slotNode, path: path, old: old, new: new})
	}
}

// report queues a NodeError for path, which listeners see as cur.
func (l *loop[T]) report(path string, err error, cur *Node[T]) {
	err = &NodeError{Path: path, Err: err}
	l.c.lastErr.Store(&err)
	l.c.client.Logger().Warn("cache: leaving a znode out", "path", path, "err", err)
	if l.listening() {
		l.out = append(l.out, item[T]{kind: slotNode, path: path, err: err, old: cur})
	}
}

func (l *loop[T]) mark(m EventType) {
	if l.listening() {
		l.out = append(l.out, item[T]{kind: slotMarker, marker: m})
	}
}

// wantsKids reports whether the znode at rest is above the depth limit, so its children
// are cached (and it carries a child watch).
func (l *loop[T]) wantsKids(rest string) bool { return depthOf(rest) < l.maxDepth }

func (l *loop[T]) find(path string) (n *tnode[T], rest string) {
	rest, ok := relative(l.rootPath, path)
	if !ok {
		return nil, ""
	}
	return lookup(l.tr.root, rest), rest
}

// issue asks for a read, unless one of the same channel is outstanding for the path:
// then it is noted and issued when that one returns. counted says the wave count already
// includes it.
func (l *loop[T]) issue(o op, counted bool) {
	f := l.flights[o.path]
	if f == nil {
		if n := len(l.free); n > 0 {
			f, l.free = l.free[n-1], l.free[:n-1]
		} else {
			f = &flight{}
		}
		l.flights[o.path] = f
		l.peak = max(l.peak, len(l.flights))
	}
	if o.kind == opKids {
		if f.kids {
			if !f.redoKids {
				f.redoKids, f.redoKidsResync, f.redoKidsWave = true, false, 0
			}
			f.redoKidsResync = f.redoKidsResync || o.resync
			l.countRedo(&f.redoKidsWave, o.wave)
			return
		}
		f.kids = true
	} else {
		if f.data {
			if !f.redoData {
				f.redoData, f.redoDataKind, f.redoDataWave = true, o.kind, 0
			}
			f.redoDataKind = max(f.redoDataKind, o.kind)
			l.countRedo(&f.redoDataWave, o.wave)
			return
		}
		f.data = true
	}
	if !counted && o.wave != 0 && o.wave == l.wave {
		l.pending++
	}
	l.submit = append(l.submit, o)
}

func (l *loop[T]) countRedo(w *uint32, wave uint32) {
	if wave != 0 && wave == l.wave && *w != wave {
		l.pending++
		*w = wave
	}
}

// finish closes the read r was the result of, issues a read noted meanwhile, and counts
// r off its wave.
func (l *loop[T]) finish(r *result[T]) {
	f := l.flights[r.path]
	var n *tnode[T]
	var rest string
	if f.redoData || f.redoKids {
		n, rest = l.find(r.path)
	}
	if r.kind == opKids {
		f.kids = false
		if f.redoKids {
			f.redoKids = false
			o := op{kind: opKids, resync: f.redoKidsResync, path: r.path, wave: f.redoKidsWave}
			if n != nil && l.wantsKids(rest) && !(rest == "" && l.rootMissing) {
				o.gen = n.gen
				l.issue(o, true)
			} else {
				l.uncount(o.wave)
			}
		}
	} else {
		f.data = false
		if f.redoData {
			f.redoData = false
			o := op{kind: f.redoDataKind, path: r.path, wave: f.redoDataWave}
			if rest == "" && n != nil {
				if l.rootMissing {
					o.kind = opRoot
				} else if o.kind == opRoot {
					o.kind = opData
				}
			}
			if n != nil {
				o.gen = n.gen
				l.issue(o, true)
			} else {
				l.uncount(o.wave)
			}
		}
	}
	if !f.data && !f.kids {
		delete(l.flights, r.path)
		*f = flight{}
		l.free = append(l.free, f)
	}
	l.uncount(r.wave)
}

func (l *loop[T]) uncount(wave uint32) {
	if wave != 0 && wave == l.wave {
		l.pending--
	}
}

// loadNode reads a znode the cache has not read yet, with its children above the depth.
func (l *loop[T]) loadNode(n *tnode[T], rest string, wave uint32) {
	l.issue(op{kind: opData, path: n.path, gen: n.gen, wave: wave}, false)
	if l.wantsKids(rest) {
		l.issue(op{kind: opKids, path: n.path, gen: n.gen, wave: wave}, false)
	}
}

func (l *loop[T]) onWatch(ev zk.Event) {
	rest, ok := relative(l.c.serverRoot, ev.Path)
	if !ok || depthOf(rest) > l.maxDepth {
		return
	}
	n := lookup(l.tr.root, rest)
	switch ev.Type {
	case zk.EventNodeDataChanged:
		if n != nil {
			l.issue(op{kind: opData, path: n.path, gen: n.gen}, false)
		}
	case zk.EventNodeChildrenChanged:
		if n != nil && l.wantsKids(rest) && !(rest == "" && l.rootMissing) {
			l.issue(op{kind: opKids, path: n.path, gen: n.gen}, false)
		}
	case zk.EventNodeCreated:
		switch {
		case rest == "" && l.rootMissing:
			l.rootMissing = false
			l.loadNode(n, rest, 0)
		case n != nil:
			l.issue(op{kind: opData, path: n.path, gen: n.gen}, false)
		default:
			// A znode the cache has not listed (a persistent recursive watch reports these;
			// with one-shot watches, only an exists watch left on a path that was deleted).
			parentRest, name := parentOf(rest)
			p := lookup(l.tr.root, parentRest)
			if p == nil || !l.wantsKids(parentRest) || (parentRest == "" && l.rootMissing) {
				return
			}
			l.gen++
			c := l.tr.newNode(join(p.path, name), l.gen)
			l.tr.update(parentRest, func(p *tnode[T]) *tnode[T] {
				p = l.tr.own(p)
				p.kids = l.tr.put(p.kids, c)
				return p
			})
			l.changed = true
			l.loadNode(c, rest, 0)
		}
	case zk.EventNodeDeleted:
		if n == nil || (rest == "" && l.rootMissing) {
			return
		}
		if f := l.flights[n.path]; f != nil && (f.data || f.kids) {
			// A read is outstanding: it may have been answered after the deletion (and
			// show a znode created again since), so read once more after it.
			l.issue(op{kind: opData, path: n.path, gen: n.gen}, false)
			if l.wantsKids(rest) {
				l.issue(op{kind: opKids, path: n.path, gen: n.gen}, false)
			}
			return
		}
		l.gone(n, rest, 0)
	}
	// EventNotWatching: the session ended (or the Client closed); the state change that
	// follows decides what to do.
}

func parentOf(rest string) (parent, name string) {
	for i := len(rest) - 1; i >= 0; i-- {
		if rest[i] == '/' {
			return rest[:i], rest[i+1:]
		}
	}
	return "", rest
}

func (l *loop[T]) onResult(r *result[T]) {
	if r.err != nil && l.failed(r) {
		return
	}
	defer l.finish(r)
	n, rest := l.find(r.path)
	if n == nil || n.gen != r.gen {
		return // removed (and maybe added again) since the read was issued
	}
	if r.kind == opKids {
		l.onKids(r, n, rest)
	} else {
		l.onData(r, n, rest)
	}
}

// failed handles a read that failed for a reason other than NoNode and NoAuth, and
// reports whether it did: the read goes back to the backlog, retried at the next
// reconnect or, while connected, after a growing delay.
func (l *loop[T]) failed(r *result[T]) bool {
	err := r.err
	switch {
	case errors.Is(err, zk.ErrNoNode), errors.Is(err, zk.ErrNoAuth):
		return false
	case l.c.ctx.Err() != nil:
		return true // closing
	case errors.Is(err, zkrecipes.ErrClosed), errors.Is(err, zk.ErrClosing):
		l.stop = true
		return true
	case !retry.IsRetriable(err):
		// Not a connection problem, nor one of the answers the cache expects: report it
		// once and keep trying, more and more slowly.
		if r.tries == 0 {
			n, _ := l.find(r.path)
			l.report(r.path, err, n.visible())
		}
	}
	l.c.lastErr.Store(&err)
	l.c.client.Logger().Debug("cache: read failed; will retry", "path", r.path, "err", err)
	o := r.op
	if o.tries < math.MaxUint8 {
		o.tries++
	}
	l.backlog = append(l.backlog, o)
	if l.connected && l.retryTimer == nil {
		l.retryDelay = min(max(2*l.retryDelay, 100*time.Millisecond), 10*time.Second)
		l.retryTimer = time.AfterFunc(l.retryDelay, func() { l.c.mbox.post(input[T]{kind: inRetry}) })
	}
	return true
}

func (l *loop[T]) onData(r *result[T], n *tnode[T], rest string) {
	switch {
	case errors.Is(r.err, zk.ErrNoNode):
		l.gone(n, rest, r.wave)
		return
	case errors.Is(r.err, zk.ErrNoAuth):
		l.refused(r, n, rest)
		return
	}
	switch r.kind {
	case opRoot:
		if r.exists && l.rootMissing {
			l.rootMissing = false
			l.loadNode(n, rest, r.wave)
		}
	case opCheck:
		switch {
		case !r.exists:
			l.gone(n, rest, r.wave)
		case n.n != nil && sameVersion(&n.n.Stat, r.stat):
			l.refreshStat(n, rest, r.stat)
		default:
			l.issue(op{kind: opData, path: n.path, gen: n.gen, wave: r.wave}, false)
		}
	case opData:
		l.applyData(r, n, rest)
	}
}

func sameVersion(a, b *zk.Stat) bool { return a.Czxid == b.Czxid && a.Mzxid == b.Mzxid }

// replace puts node in place of the node at rest, quietly.
func (l *loop[T]) replace(rest string, node *Node[T], bad badness) {
	l.tr.update(rest, func(c *tnode[T]) *tnode[T] {
		c = l.tr.own(c)
		c.n, c.bad = node, bad
		return c
	})
	l.changed = true
}

// refreshStat takes the child fields of a newer stat of the same data version, quietly.
func (l *loop[T]) refreshStat(n *tnode[T], rest string, st *zk.Stat) {
	if n.n == nil || n.n.Stat == *st || !sameVersion(&n.n.Stat, st) {
		return
	}
	cp := *n.n
	cp.Stat = *st
	l.replace(rest, &cp, n.bad)
}

func (l *loop[T]) applyData(r *result[T], n *tnode[T], rest string) {
	if n.n != nil && n.bad != unreadable && sameVersion(&n.n.Stat, r.stat) {
		l.refreshStat(n, rest, r.stat)
		return
	}
	node := &Node[T]{Path: n.path, Stat: *r.stat, Data: r.data, Value: r.value}
	bad := good
	if r.decErr != nil {
		bad = undecoded
	}
	old, was := n.visible(), n.bad
	l.replace(rest, node, bad)
	var now *Node[T]
	if bad == good {
		now = node
		l.count++
	}
	if old != nil {
		l.count--
	}
	l.emit(n.path, old, now)
	if bad != good {
		l.report(n.path, r.decErr, nil)
	}
	if was == unreadable {
		delete(l.unreadable, n.path)
		if l.wantsKids(rest) {
			// Its children could not be listed while it was unreadable.
			l.issue(op{kind: opKids, path: n.path, gen: n.gen, wave: r.wave}, false)
		}
	}
}

// refused handles NoAuth: the znode is left out, reported when it becomes unreadable, and
// read again every authDelay (2 s, doubling up to 2 min): a change of its ACL fires no
// watch, and servers that check READ before notifying (ZooKeeper 3.8.4+, 3.9.2+ and
// patched builds) never tell a session without it about its changes, so no watch is set
// on it. Its deletion shows in its parent's listing.
func (l *loop[T]) refused(r *result[T], n *tnode[T], rest string) {
	if r.kind == opKids {
		return // its data read reports it
	}
	old, was := n.visible(), n.bad
	l.tr.update(rest, func(c *tnode[T]) *tnode[T] {
		c = l.tr.own(c)
		c.bad = unreadable
		return c
	})
	l.changed = true
	if old != nil {
		l.count--
	}
	l.emit(n.path, old, nil)
	if was != unreadable {
		l.report(n.path, r.err, nil)
	}
	l.unreadable[n.path] = struct{}{}
	l.scheduleAuth()
}

// gone removes the znode at rest and its subtree: the listeners hear the deletions
// children first. A removed root stays as an empty placeholder with an exists watch.
func (l *loop[T]) gone(n *tnode[T], rest string, wave uint32) {
	postorder(n, func(t *tnode[T]) {
		if t.bad == unreadable {
			delete(l.unreadable, t.path)
		}
		if v := t.visible(); v != nil {
			l.count--
			l.emit(t.path, v, nil)
		}
	})
	l.changed = true
	if rest != "" {
		l.tr.update(rest, func(*tnode[T]) *tnode[T] { return nil })
		return
	}
	l.gen++
	l.tr.root = l.tr.newNode(l.rootPath, l.gen)
	l.count = 0
	l.rootMissing = true
	l.issue(op{kind: opRoot, path: l.rootPath, gen: l.gen, wave: wave}, false)
}

func (l *loop[T]) onKids(r *result[T], n *tnode[T], rest string) {
	switch {
	case errors.Is(r.err, zk.ErrNoNode):
		l.gone(n, rest, r.wave)
		return
	case errors.Is(r.err, zk.ErrNoAuth):
		return // its data read reports it
	}
	l.refreshStat(n, rest, r.stat)
	names := r.names
	slices.Sort(names)
	kidsToo := l.wantsKids(rest) && depthOf(rest)+1 < l.maxDepth
	var adds []string
	var gone []*tnode[T]
	i := 0
	each(n.kids, func(k *tnode[T]) bool {
		name := k.name()
		for i < len(names) && names[i] < name {
			adds = append(adds, names[i])
			i++
		}
		switch {
		case i < len(names) && names[i] == name:
			i++
			if r.resync {
				l.rearm(k, kidsToo, r.wave)
			}
		case k.n == nil || k.n.Stat.Czxid <= r.stat.Pzxid:
			gone = append(gone, k)
		}
		return true
	})
	adds = append(adds, names[i:]...)
	for _, k := range gone {
		kr, _ := relative(l.rootPath, k.path)
		l.gone(k, kr, r.wave)
	}
	if len(adds) == 0 {
		return
	}
	l.tr.update(rest, func(p *tnode[T]) *tnode[T] {
		p = l.tr.own(p)
		for _, name := range adds {
			l.gen++
			c := l.tr.newNode(join(p.path, name), l.gen)
			p.kids = l.tr.put(p.kids, c)
			l.issue(op{kind: opData, path: c.path, gen: c.gen, wave: r.wave}, false)
			if kidsToo {
				l.issue(op{kind: opKids, path: c.path, gen: c.gen, wave: r.wave}, false)
			}
		}
		return p
	})
	l.changed = true
}

// rearm sets the watches of a cached znode again after a new session: an exists call
// re-arms its data watch and tells from the stat whether the data changed (only then is it
// read), and a listing re-arms its child watch.
func (l *loop[T]) rearm(k *tnode[T], kidsToo bool, wave uint32) {
	kind := opCheck
	if k.n == nil || k.bad == unreadable {
		kind = opData // an unreadable znode gets no watch, only a read
	}
	l.issue(op{kind: kind, path: k.path, gen: k.gen, wave: wave}, false)
	if kidsToo && k.bad != unreadable {
		l.issue(op{kind: opKids, resync: true, path: k.path, gen: k.gen, wave: wave}, false)
	}
}

func (l *loop[T]) onState(sc zkrecipes.StateChange) {
	if sc.Initial {
		l.connected = sc.State.IsConnected()
		return
	}
	if l.listening() {
		l.out = append(l.out, item[T]{kind: slotState, state: sc})
	}
	switch sc.State {
	case zkrecipes.StateConnected, zkrecipes.StateReconnected:
		l.connected = true
		l.pool.resume()
		if sc.WatchesLost {
			l.resync()
		}
		if l.retryTimer != nil {
			l.retryTimer.Stop()
			l.retryTimer = nil
		}
		l.retryDelay = 0
		l.submit = append(l.submit, l.backlog...)
		l.backlog = nil
	case zkrecipes.StateSuspended, zkrecipes.StateLost:
		l.connected = false
		l.backlog = append(l.backlog, l.pool.pause()...)
	case zkrecipes.StateClosed:
		l.stop = true
	}
}

// resync starts a wave that re-arms every watch after a new session or a replaced go-zk
// connection (the old watches are gone) and re-reads what may have changed: top-down, so that a znode deleted
// meanwhile is dropped by its parent's listing before anything is asked of it.
func (l *loop[T]) resync() {
	l.wave++
	l.pending = 0
	if l.initialized {
		l.resyncing = true
		l.waveStart = time.Now()
	}
	w := l.wave
	if err := l.c.w.arm(l.c.ctx, l.rootPath); err != nil {
		l.c.client.Logger().Warn("cache: arming the root's watch failed", "root", l.rootPath, "err", err)
	}
	// A read outstanding now may have run on the old session: it is read again after.
	for path, f := range l.flights {
		n, rest := l.find(path)
		if n == nil {
			continue
		}
		if f.data {
			kind := opCheck
			switch {
			case rest == "" && l.rootMissing:
				kind = opRoot
			case n.n == nil || n.bad == unreadable:
				kind = opData
			}
			l.issue(op{kind: kind, path: path, gen: n.gen, wave: w}, false)
		}
		if f.kids {
			l.issue(op{kind: opKids, resync: true, path: path, gen: n.gen, wave: w}, false)
		}
	}
	root := l.tr.root
	switch {
	case l.rootMissing:
		l.issue(op{kind: opRoot, path: root.path, gen: root.gen, wave: w}, false)
		return
	case root.n == nil || root.bad == unreadable:
		l.issue(op{kind: opData, path: root.path, gen: root.gen, wave: w}, false)
	default:
		l.issue(op{kind: opCheck, path: root.path, gen: root.gen, wave: w}, false)
	}
	if l.wantsKids("") && root.bad != unreadable {
		l.issue(op{kind: opKids, resync: true, path: root.path, gen: root.gen, wave: w}, false)
	}
}

// kind names the cache for the hooks: "node", "children" or "tree".
func (l *loop[T]) kind() string {
	switch l.maxDepth {
	case 0:
		return "node"
	case 1:
		return "children"
	}
	return "tree"
}

// hookResync tells the Client's CacheResync hook that a full read (the initial load, or
// the resync after a new session) is done; it runs on the loop's goroutine.
func (l *loop[T]) hookResync(reason string) {
	if h := l.c.client.Hooks().CacheResync; h != nil {
		now := time.Now()
		h(context.Background(), zkrecipes.CacheResyncEvent{Path: l.rootPath, Kind: l.kind(), Reason: reason,
			Duration: now.Sub(l.waveStart), Size: l.count, Time: now})
	}
}
