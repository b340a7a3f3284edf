package cache

import (
	"fmt"
	"sync"

	"github.com/go-zookeeper/zk"
	"github.com/zkrecipes/zkrecipes"
)

// opKind is what a read does; the data-channel kinds are ordered by strength (a stronger
// one does everything a weaker one does).
type opKind uint8

const (
	opCheck opKind = iota // exists: re-arm the data watch; read the data only if the stat moved
	opRoot                // exists on the missing root: watch for its creation
	opData                // get the data (and arm the data watch)
	opKids                // list the children (and arm the child watch)
)

// op is one read the loop asks for. gen ties it to the incarnation of its path that asked
// (see loop.onResult); wave to the load or resync it belongs to (0: none).
type op struct {
	kind   opKind
	resync bool // opKids: re-arm every listed child already cached
	path   string
	gen    uint64
	wave   uint32
	tries  uint8 // failed attempts so far (see loop.failed)
}

// result is an op's outcome, decoded by the worker that ran it.
type result[T any] struct {
	op
	data   []byte
	stat   *zk.Stat
	names  []string
	exists bool
	value  T
	decErr error
	err    error
}

// input is one thing for the loop: a watch event, a read's result, a state change, or a
// retry tick.
type input[T any] struct {
	kind inputKind
	ev   zk.Event
	res  *result[T]
	sc   zkrecipes.StateChange
	done chan struct{} // inBarrier: closed once nothing is outstanding
}

type inputKind uint8

const (
	inWatch inputKind = iota
	inResult
	inState
	inRetry
	inBarrier   // from Sync
	inAuthRetry // time to read the unreadable znodes again
)

// mailbox is the loop's only input queue. Posting never blocks (the hub posts from go-zk's
// receive goroutine). It is bounded without a limit of its own: each one-shot watch fires
// once, each read posts one result, states and retry ticks are few.
type mailbox[T any] struct {
	mu     sync.Mutex
	in     []input[T]
	signal chan struct{}
}

func (m *mailbox[T]) post(x input[T]) {
	m.mu.Lock()
	m.in = append(m.in, x)
	m.mu.Unlock()
	select {
	case m.signal <- struct{}{}:
	default:
	}
}

// trim drops the buffer being posted into if it is empty and big (see loop.trim).
func (m *mailbox[T]) trim() {
	m.mu.Lock()
	if len(m.in) == 0 && cap(m.in) > keepCap {
		m.in = nil
	}
	m.mu.Unlock()
}

// take returns what was posted and leaves buf (emptied) to post into.
func (m *mailbox[T]) take(buf []input[T]) []input[T] {
	clear(buf)
	m.mu.Lock()
	out := m.in
	m.in = buf[:0]
	m.mu.Unlock()
	return out
}

// pool runs ops on at most max transient goroutines: go-zk's calls block, so each read in
// flight needs one, and the worker is that goroutine (its reads are watchhub.Inline: the
// Client starts none of its own). Workers start when ops are queued and exit when the
// queue is empty, so an idle cache has none.
type pool[T any] struct {
	c       *Cache[T]
	mu      sync.Mutex
	q       []op
	head    int
	running int
	max     int
	paused  bool
}

// submit queues ops and starts the workers they need.
func (p *pool[T]) submit(ops []op) {
	p.mu.Lock()
	if p.head > 0 && p.head*2 >= len(p.q) {
		n := copy(p.q, p.q[p.head:])
		clear(p.q[n:])
		p.q, p.head = p.q[:n], 0
	}
	p.q = append(p.q, ops...)
	n := 0
	if !p.paused {
		n = min(p.max-p.running, len(p.q)-p.head)
	}
	p.running += n
	p.mu.Unlock()
	for range n {
		p.c.wg.Add(1)
		go p.work()
	}
}

// pause stops handing out ops (workers finish the read they are in and exit) and returns
// the ops not started.
func (p *pool[T]) pause() []op {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.paused = true
	rest := append([]op(nil), p.q[p.head:]...)
	clear(p.q)
	p.q, p.head = p.q[:0], 0
	return rest
}

// trim drops a big queue buffer once it is empty (see loop.trim).
func (p *pool[T]) trim() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.head == len(p.q) && cap(p.q) > keepCap {
		p.q, p.head = nil, 0
	}
}

func (p *pool[T]) resume() {
	p.mu.Lock()
	p.paused = false
	p.mu.Unlock()
}

func (p *pool[T]) work() {
	defer p.c.wg.Done()
	for {
		p.mu.Lock()
		if p.paused || p.head == len(p.q) || p.c.ctx.Err() != nil {
			p.running--
			p.mu.Unlock()
			return
		}
		o := p.q[p.head]
		p.q[p.head] = op{}
		p.head++
		p.mu.Unlock()
		p.c.mbox.post(input[T]{kind: inResult, res: p.c.run(o)})
	}
}

// run does one op on the calling worker.
func (c *Cache[T]) run(o op) *result[T] {
	r := &result[T]{op: o}
	switch o.kind {
	case opData:
		r.data, r.stat, r.err = c.w.data(c.opCtx, o.path)
		if r.err == nil {
			r.value, r.decErr = c.decodeSafely(o.path, r.data)
		}
	case opKids:
		r.names, r.stat, r.err = c.w.children(c.opCtx, o.path)
	default:
		r.exists, r.stat, r.err = c.w.exists(c.opCtx, o.path)
	}
	return r
}

// decodeSafely runs the decoder, turning a panic into an error.
func (c *Cache[T]) decodeSafely(path string, data []byte) (v T, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = &decodeError{fmt.Errorf("decoder panicked: %v", p)}
		}
	}()
	v, err = c.decode(path, data)
	if err != nil {
		err = &decodeError{err}
	}
	return v, err
}
