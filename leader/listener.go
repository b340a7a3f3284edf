package leader

import "sync"

// Listener is told when its latch gains and loses leadership (Curator's
// LeaderLatchListener). Calls come from one goroutine per latch, only on
// transitions, strictly alternating, starting with IsLeader. They run after
// the fact: by the time IsLeader runs the latch may have stepped down again,
// in which case NotLeader follows. A slow listener delays the listeners and
// events after it, never the latch's reaction to the connection: the latch's
// HasLeadership is always current.
type Listener interface {
	// IsLeader is called when the latch becomes leader.
	IsLeader()
	// NotLeader is called when the latch stops being leader.
	NotLeader()
}

// ListenerFuncs adapts two plain functions to a Listener; a nil function is
// skipped.
type ListenerFuncs struct {
	OnIsLeader  func()
	OnNotLeader func()
}

// IsLeader calls OnIsLeader if it is set.
func (f ListenerFuncs) IsLeader() {
	if f.OnIsLeader != nil {
		f.OnIsLeader()
	}
}

// NotLeader calls OnNotLeader if it is set.
func (f ListenerFuncs) NotLeader() {
	if f.OnNotLeader != nil {
		f.OnNotLeader()
	}
}

// Event is one change of leadership, as sent to a WithEvents channel.
type Event struct {
	// Leader is true when the latch became leader, false when it stopped.
	Leader bool
	// Term is the term that began; the zero Term when Leader is false.
	Term Term
}

// dispatcher delivers events to listeners and channels from its own
// goroutine, so that user code never runs on the latch's state machine and a
// slow listener cannot keep a deposed leader from noticing it was deposed.
type dispatcher struct {
	listeners []Listener
	chans     []chan<- Event

	mu      sync.Mutex
	queue   []pending
	closing bool
	wake    chan struct{} // capacity 1: "the queue changed"
	abort   chan struct{} // closed to drop what is left (Close ran out of time)
	done    chan struct{} // closed when the goroutine has returned
	once    sync.Once
}

type pending struct {
	ev        Event
	delivered chan struct{} // closed after every listener and channel got ev
}

func newDispatcher(listeners []Listener, chans []chan<- Event) *dispatcher {
	return &dispatcher{
		listeners: listeners,
		chans:     chans,
		wake:      make(chan struct{}, 1),
		abort:     make(chan struct{}),
		done:      make(chan struct{}),
	}
}

// push queues ev and returns a channel that is closed once it was delivered.
// It never blocks.
func (d *dispatcher) push(ev Event) <-chan struct{} {
	p := pending{ev: ev, delivered: make(chan struct{})}
	d.mu.Lock()
	d.queue = append(d.queue, p)
	d.mu.Unlock()
	d.signal()
	return p.delivered
}

func (d *dispatcher) signal() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// finish makes the goroutine return once the queue is empty.
func (d *dispatcher) finish() {
	d.mu.Lock()
	d.closing = true
	d.mu.Unlock()
	d.signal()
}

// drop makes the goroutine return without delivering what is still queued;
// a listener that is running is not interrupted.
func (d *dispatcher) drop() {
	d.once.Do(func() { close(d.abort) })
	d.finish()
}

func (d *dispatcher) run() {
	defer close(d.done)
	for {
		d.mu.Lock()
		var next *pending
		if len(d.queue) > 0 {
			p := d.queue[0]
			d.queue[0] = pending{}
			d.queue = d.queue[1:]
			next = &p
		}
		closing := d.closing
		d.mu.Unlock()

		if next != nil {
			select {
			case <-d.abort:
				return
			default:
			}
			d.deliver(next.ev)
			close(next.delivered)
			continue
		}
		if closing {
			return
		}
		select {
		case <-d.wake:
		case <-d.abort:
			return
		}
	}
}

func (d *dispatcher) deliver(ev Event) {
	for _, l := range d.listeners {
		if ev.Leader {
			l.IsLeader()
		} else {
			l.NotLeader()
		}
	}
	for _, ch := range d.chans {
		select {
		case ch <- ev:
		case <-d.abort:
			return
		}
	}
}
