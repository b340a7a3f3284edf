package leader

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/go-zookeeper/zk"

	"github.com/zkrecipes/zkrecipes"
	"github.com/zkrecipes/zkrecipes/internal/fence"
	"github.com/zkrecipes/zkrecipes/internal/queue"
)

// Latch is one participant in a leader election: Curator's LeaderLatch, on
// the wire and in behaviour. Every participant of a latch path, in Go or in
// Java, owns one ephemeral sequential node under it; the first node in
// Curator's order leads. A Latch is safe for concurrent use.
//
// The latch reacts to the Client's connection states: on SUSPENDED it stops
// leading at once but keeps its node (StandardPolicy), on LOST it stops
// leading, on RECONNECTED it reads the children again and leads again if its
// node is still first and still belongs to the current session. If its node
// or the latch path disappears, it joins again with a new node. Unlike
// Curator's latch it also watches its own node, so a leader whose node is
// deleted by someone else steps down.
type Latch struct {
	client *zkrecipes.Client
	path   string
	q      *queue.Queue // the latch's nodes: join, read, order, watch, leave
	cfg    config
	log    *slog.Logger
	disp   *dispatcher // nil when nobody listens

	// mu guards what the loop publishes and the lifecycle flags.
	mu       sync.Mutex
	started  bool
	closing  bool
	closeCtx context.Context
	leading  bool
	term     Term
	termCtx  context.Context
	gained   chan struct{} // closed when leadership is gained, then replaced
	nodePath string
	closeErr error

	hasLeader atomic.Bool

	// Inputs of the loop. inMu is never held while calling out.
	inMu     sync.Mutex
	states   []zkrecipes.StateChange
	opCancel context.CancelFunc // cuts the loop's current call short
	wake     chan struct{}      // capacity 1
	quit     chan struct{}      // closed by Close
	done     chan struct{}      // closed when the loop has returned
	joined   chan struct{}      // closed when the first placement ended, well or not
	joinErr  error
	gone     chan struct{} // closed by the loop when the client is closed

	// Owned by the loop goroutine.
	stopListen func()
	connected  bool
	dirty      bool
	node       string // our node, relative to the namespace; "" when we have none
	owner      int64  // session that created node
	czxid      int64
	version    int32
	fence      *fence.Fence // shared by the terms of node
	ownWatch   <-chan zk.Event
	predWatch  <-chan zk.Event
	pred       string
	// predHead: the listing that armed predWatch had pred first and our
	// node second, and proved that later nodes sort after ours
	// (sequenceOrdered); predGen is stateGen when that round began.
	predHead     bool
	predGen      uint64
	failures     int
	joinedOnce   bool
	warnedMixing bool
	clientClosed bool
	termCancel   context.CancelCauseFunc

	// predWakeups counts notifications received from a predecessor's watch;
	// tests use it to show that a leadership change wakes one participant.
	predWakeups atomic.Int64
	// fastHandovers counts claims made straight from the head's deletion,
	// without reading the children again (see fastHandover).
	fastHandovers atomic.Int64
	// stateGen counts the connection state changes handed to the latch.
	stateGen atomic.Uint64
	// stateHeard, if set (by tests, before Start), runs after each state change was
	// handed to the loop, on the Client's listener goroutine.
	stateHeard func(zkrecipes.StateChange)
	// settled, if set (by tests, before Start), runs on the loop after every
	// round that left the latch placed and watching.
	settled func()
}

// New returns a latch for latchPath (relative to the client's namespace) that
// joins the election when started. It checks its arguments and options and
// reports every problem at once: errors wrap ErrInvalidOption, and a client
// that is already closed gives an error wrapping zkrecipes.ErrClosed. Options:
// WithID, WithCloseMode, WithErrorPolicy, WithListener, WithEvents,
// WithLogger.
func New(client *zkrecipes.Client, latchPath string, opts ...Option) (*Latch, error) {
	cfg := newConfig(opts)
	if err := checkArgs(client, latchPath, &cfg, false); err != nil {
		return nil, err
	}
	return newLatch(client, latchPath, cfg), nil
}

func checkArgs(client *zkrecipes.Client, latchPath string, cfg *config, forRun bool) error {
	var errs []error
	if client == nil {
		errs = append(errs, fmt.Errorf("%w: nil client", ErrInvalidOption))
	} else if client.State() == zkrecipes.StateClosed {
		errs = append(errs, errClientGone)
	}
	if err := zkrecipes.ValidatePath(latchPath); err != nil {
		errs = append(errs, fmt.Errorf("%w: latch path: %w", ErrInvalidOption, err))
	} else if latchPath == "/" {
		// The root's children include /zookeeper, which would take part.
		errs = append(errs, fmt.Errorf("%w: latch path must not be the root", ErrInvalidOption))
	}
	if err := cfg.validate(forRun); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func newLatch(client *zkrecipes.Client, latchPath string, cfg config) *Latch {
	l := &Latch{
		client: client,
		path:   latchPath,
		q:      queue.New(client, latchPath, latchOrder),
		cfg:    cfg,
		log:    cfg.logger,
		gained: make(chan struct{}),
		wake:   make(chan struct{}, 1),
		quit:   make(chan struct{}),
		done:   make(chan struct{}),
		joined: make(chan struct{}),
		gone:   make(chan struct{}),
	}
	if l.log == nil {
		l.log = client.Logger()
	}
	if l.log == nil {
		l.log = slog.New(slog.DiscardHandler)
	}
	l.log = l.log.With("latch", latchPath)
	if len(cfg.listeners) > 0 || len(cfg.events) > 0 {
		l.disp = newDispatcher(cfg.listeners, cfg.events)
	}
	return l
}

// ID returns the participant id the latch writes into its node.
func (l *Latch) ID() string { return l.cfg.id }

// Path returns the latch path (relative to the client's namespace).
func (l *Latch) Path() string { return l.path }

// Node returns the path of the latch's current node (relative to the
// client's namespace), or "" while it has none (Curator's getOurPath).
func (l *Latch) Node() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.nodePath
}

// HasLeadership reports whether the latch leads now. It changes before the
// listeners hear of it.
func (l *Latch) HasLeadership() bool { return l.hasLeader.Load() }

// Term returns the current term and true while the latch leads, or the zero
// Term and false.
func (l *Latch) Term() (Term, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.term, l.leading
}

// currentTerm returns the term and a context that is cancelled, with a cause
// wrapping ErrLeadershipLost, the moment it ends.
func (l *Latch) currentTerm() (Term, context.Context, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.term, l.termCtx, l.leading
}

// Start joins the election: it creates the latch's node (and the latch path
// as containers if needed), reads the children, and returns once the latch
// knows whether it leads. From then on a goroutine keeps the latch in the
// election, through disconnections, until Close.
//
// If ctx ends first, or joining fails with an error that retrying cannot
// fix (no permission, for example), Start closes the latch, leaves no node
// behind, and returns the error. A latch can be started once.
func (l *Latch) Start(ctx context.Context) error {
	l.mu.Lock()
	switch {
	case l.closing:
		l.mu.Unlock()
		return ErrClosed
	case l.started:
		l.mu.Unlock()
		return ErrStarted
	}
	if l.client.State() == zkrecipes.StateClosed {
		l.mu.Unlock()
		return errClientGone
	}
	l.started = true
	l.mu.Unlock()

	// Listen before reading the state, so that no transition falls between.
	l.stopListen = l.client.Listen(l.onState)
	l.connected = l.client.State().IsConnected()
	l.dirty = true
	if l.disp != nil {
		go l.disp.run()
	}
	go l.loop()

	select {
	case <-l.joined:
	case <-ctx.Done():
		select {
		case <-l.joined: // both happened: the latch did join
		default:
			l.abort()
			return fmt.Errorf("leader: start %s: %w", l.path, ctx.Err())
		}
	}
	if l.joinErr != nil {
		l.abort()
		return l.joinErr
	}
	return nil
}

// abort closes a latch whose Start failed, without waiting on the network:
// whatever node exists is deleted in the background by the Client. It waits
// for the loop, which runs no user code, but not for a listener that may be
// running.
func (l *Latch) abort() {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_ = l.Close(ctx)
	<-l.done
}

// Close leaves the election: it stops leading (telling the listeners first
// with CloseNotifyLeader), deletes the latch's node with a guaranteed delete,
// and waits until the latch's goroutines have returned and every pending
// event was delivered. If ctx ends first, Close returns its error; the node
// is then still deleted in the background (by the Client, while it is open),
// undelivered events are dropped, and the goroutines return as soon as a
// listener that is running returns. Close is idempotent; a latch that was
// never started just becomes unusable. Do not call Close from a listener or
// while holding up a WithEvents channel: Close waits for the delivery of
// events, so it would wait for itself until ctx ends; call it from another
// goroutine instead.
func (l *Latch) Close(ctx context.Context) error {
	l.mu.Lock()
	if !l.closing {
		l.closing = true
		l.closeCtx = ctx
		close(l.quit)
	}
	started := l.started
	l.mu.Unlock()
	if !started {
		return nil
	}
	l.interrupt()

	select {
	case <-l.done:
	case <-ctx.Done():
		if l.disp != nil {
			l.disp.drop()
		}
		return fmt.Errorf("leader: close %s: %w", l.path, ctx.Err())
	}
	if l.disp != nil {
		select {
		case <-l.disp.done:
		case <-ctx.Done():
			l.disp.drop()
			return fmt.Errorf("leader: close %s: %w", l.path, ctx.Err())
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.closeErr
}

// Await blocks until the latch leads (nil), ctx ends (ctx.Err()), the latch
// is closed (ErrClosed) or its client is closed (an error wrapping
// zkrecipes.ErrClosed). Leadership may already be gone again when Await
// returns; HasLeadership tells.
func (l *Latch) Await(ctx context.Context) error {
	for {
		l.mu.Lock()
		leading, gained := l.leading, l.gained
		l.mu.Unlock()
		if leading {
			return nil
		}
		select {
		case <-gained:
		case <-l.quit:
			return ErrClosed
		case <-l.gone:
			return errClientGone
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Participants returns every participant of the latch path in Curator's
// order, the leader first, as Curator's getParticipants does. See
// ListParticipants.
func (l *Latch) Participants(ctx context.Context) ([]Participant, error) {
	return ListParticipants(ctx, l.client, l.path)
}

// Leader returns the current leader of the latch path, or ErrNoLeader. See
// CurrentLeader.
func (l *Latch) Leader(ctx context.Context) (Participant, error) {
	return CurrentLeader(ctx, l.client, l.path)
}
