package discovery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/go-zookeeper/zk"
	"github.com/zkrecipes/zkrecipes"
	"github.com/zkrecipes/zkrecipes/internal/broadcast"
	"github.com/zkrecipes/zkrecipes/internal/watchhub"
)

// Discovery registers instances of services under a base path and queries them, in the
// layout Curator's ServiceDiscovery uses: basePath/<name>/<id>, one znode per instance
// holding its serialized form, parents created as containers.
//
// Registered instances are kept alive: after the Client reconnects with a new session
// (the old one expired, so its ephemeral znodes are gone), every instance registered
// through this Discovery is written again from its latest local copy; a reconnect on the
// same session changes nothing. An instance znode deleted by someone else while the
// session lives is restored (each instance znode has one data watch, dispatched by
// path: a Discovery runs two goroutines, a keeper and a background rewriter, whatever the
// number of instances). Close unregisters everything.
//
// A Discovery is safe for concurrent use.
type Discovery[T any] struct {
	client *zkrecipes.Client
	base   string
	ser    Serializer[T]
	opts   options

	mu       sync.Mutex
	regs     map[string]*registration[T] // by name + "/" + id
	cleanups map[string]chan struct{}    // failed fresh registrations still cleaning up, by key; closed when done
	closed   bool

	ctx        context.Context // cancelled by Close; bounds background writes
	cancel     context.CancelFunc
	wg         sync.WaitGroup
	stopListen func()
	dirty      chan struct{}     // a write failed: wakes the background rewriter (buffered, 1)
	reconnects *broadcast.Signal // fires after the rewrite at every RECONNECTED, and after background rewrites
	keeper     keeper[T]
	rewriting  atomic.Int32 // background rewrite passes under way (for the tests' probe)
}

// New returns a Discovery rooted at basePath (e.g. "/services"), relative to the Client's
// namespace. It fails with ErrInvalidOption for a bad option, with
// zkrecipes.ErrInvalidPath for a bad base path and with zkrecipes.ErrClosed for a closed
// Client. Close it when done.
func New[T any](client *zkrecipes.Client, basePath string, opts ...Option) (*Discovery[T], error) {
	if client == nil {
		return nil, fmt.Errorf("%w: nil client", ErrInvalidOption)
	}
	if client.State() == zkrecipes.StateClosed {
		return nil, fmt.Errorf("discovery: new: %w", zkrecipes.ErrClosed)
	}
	if err := zkrecipes.ValidatePath(basePath); err != nil {
		return nil, fmt.Errorf("discovery: base path: %w", err)
	}
	o := options{logger: client.Logger()}
	for _, opt := range opts {
		opt(&o)
	}
	if len(o.errs) > 0 {
		return nil, errors.Join(o.errs...)
	}
	ser := Serializer[T](JSON[T]())
	if o.serializer != nil {
		s, ok := o.serializer.(Serializer[T])
		if !ok {
			return nil, fmt.Errorf("%w: serializer %T does not serialize %T", ErrInvalidOption, o.serializer, *new(T))
		}
		ser = s
	}
	d := &Discovery[T]{
		client: client, base: basePath, ser: ser, opts: o,
		regs: map[string]*registration[T]{}, cleanups: map[string]chan struct{}{}, reconnects: broadcast.New(),
		dirty: make(chan struct{}, 1),
	}
	hub := watchhub.Of(client)
	if hub == nil {
		return nil, fmt.Errorf("%w: discovery: the Client has no watch hub", ErrInvalidOption)
	}
	d.keeper = keeper[T]{
		pending: map[*registration[T]]struct{}{}, armed: map[string]*registration[T]{},
		signal: make(chan struct{}, 1), idle: broadcast.New(),
	}
	d.ctx, d.cancel = context.WithCancel(context.Background())
	d.keeper.unsub = hub.Subscribe(d.serverPath(basePath), d.onWatch)
	d.stopListen = client.Listen(d.onState)
	d.wg.Add(2)
	go d.rewriteDirty()
	go d.keepAlive()
	return d, nil
}

// BasePath returns the base path the Discovery was created with.
func (d *Discovery[T]) BasePath() string { return d.base }

// Serializer returns the serializer in use.
func (d *Discovery[T]) Serializer() Serializer[T] { return d.ser }

func (d *Discovery[T]) servicePath(name string) string { return zkrecipes.JoinPath(d.base, name) }

func (d *Discovery[T]) instancePath(name, id string) string {
	return zkrecipes.JoinPath(d.base, name, id)
}

// Close unregisters every instance registered through this Discovery (Curator does the
// same, STATIC and PERMANENT ones included), waits for the cleanups of failed Registers
// (see Register), stops watching and rewriting, and waits for its goroutines. When ctx
// ends first, Close returns an error saying so: pending cleanups are abandoned (an
// ephemeral znode they would have deleted goes with the session; a persistent one
// stays), and unregister deletes that failed for a connection problem go on in the
// background until the Client closes, as with DeleteGuaranteed. An unregister delete whose
// outcome is unknown is retried until the znode is gone, since deleting twice is
// harmless. Caches made from the Discovery are not closed. It is idempotent.
func (d *Discovery[T]) Close(ctx context.Context) error {
	d.mu.Lock()
	regs := d.regs
	d.regs = map[string]*registration[T]{}
	wasClosed := d.closed
	d.closed = true
	d.mu.Unlock()
	var errs []error
	if !wasClosed {
		for _, r := range regs {
			if err := d.unregister(ctx, r); err != nil {
				errs = append(errs, err)
			}
		}
		d.stopListen()
		d.keeper.unsub()
		if err := d.awaitCleanups(ctx); err != nil {
			errs = append(errs, err)
		}
		d.cancel()
	}
	done := make(chan struct{})
	go func() {
		d.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		errs = append(errs, fmt.Errorf("discovery: close: %w", ctx.Err()))
	}
	return errors.Join(errs...)
}

// awaitCleanups waits until no cleanup of a failed Register is pending, or ctx ends.
func (d *Discovery[T]) awaitCleanups(ctx context.Context) error {
	for {
		d.mu.Lock()
		var pending chan struct{}
		for _, ch := range d.cleanups {
			pending = ch
			break
		}
		d.mu.Unlock()
		if pending == nil {
			return nil
		}
		select {
		case <-pending:
		case <-ctx.Done():
			return fmt.Errorf("discovery: close: waiting for the cleanup of failed registers: %w", ctx.Err())
		}
	}
}

// onState runs on the Client's listener goroutine for this Discovery.
func (d *Discovery[T]) onState(sc zkrecipes.StateChange) {
	if sc.State != zkrecipes.StateReconnected {
		return
	}
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return
	}
	d.wg.Add(1)
	regs := make([]*registration[T], 0, len(d.regs))
	for _, r := range d.regs {
		regs = append(regs, r)
	}
	d.mu.Unlock()
	defer d.wg.Done()
	if sc.WatchesLost {
		d.keeper.mu.Lock()
		clear(d.keeper.armed) // every watch went with the old session or go-zk connection
		d.keeper.mu.Unlock()
	}
	// Same session: the znodes are still ours; only writes that failed are redone.
	d.rewrite(regs, sc.NewSession)
	d.keep(regs...) // watches that failed to be set, or went with the old session
	d.reconnects.Fire()
}

// rewrite writes registrations again from their local copies, a few at a time: all of
// them after a new session, else those whose last write failed. It reports whether every
// one it tried was written.
func (d *Discovery[T]) rewrite(regs []*registration[T], all bool) bool {
	work := make(chan *registration[T])
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := true
	for w := 0; w < min(8, len(regs)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range work {
				r.mu.Lock()
				if !r.removed && (all || r.dirty) {
					err := d.rewriteOne(r)
					if err != nil || r.dirty && !r.removed {
						// Failed, or written with strays left: back off before the next try.
						mu.Lock()
						ok = false
						mu.Unlock()
					}
					if err != nil && !r.removed && d.ctx.Err() == nil {
						d.opts.report("re-registration of "+d.instancePath(r.inst.Name, r.inst.ID)+" failed; retrying in the background", err)
					}
				}
				r.mu.Unlock()
			}
		}()
	}
	for _, r := range regs {
		work <- r
	}
	close(work)
	wg.Wait()
	return ok
}

// markDirty records that a registration's znode may not hold its local copy and wakes
// the background rewriter. The caller holds r.mu.
func (d *Discovery[T]) markDirty(r *registration[T]) {
	r.dirty = true
	select {
	case d.dirty <- struct{}{}:
	default:
	}
}

// rewriteDirty rewrites, while connected and with backoff, the registrations whose last
// write failed, until each is written or unregistered. Without it, a write that fails
// after the reconnect that would have redone it waits for some later reconnect.
func (d *Discovery[T]) rewriteDirty() {
	defer d.wg.Done()
	for {
		select {
		case <-d.dirty:
		case <-d.ctx.Done():
			return
		}
		bo := newBackoff()
		for {
			if d.client.BlockUntilConnected(d.ctx) != nil {
				return
			}
			d.rewriting.Add(1)
			d.mu.Lock()
			var regs []*registration[T]
			for _, r := range d.regs {
				regs = append(regs, r)
			}
			d.mu.Unlock()
			ok := d.rewrite(regs, false)
			d.keep(regs...) // a znode written again gets its watch
			d.rewriting.Add(-1)
			d.reconnects.Fire()
			if ok {
				break
			}
			if !d.pause(bo.NextBackOff()) {
				return
			}
		}
	}
}

func (d *Discovery[T]) logger() *slog.Logger { return d.opts.logger }

func isNoNode(err error) bool { return errors.Is(err, zk.ErrNoNode) }

// newBackoff paces background retries: from 100 ms, doubling up to 5 s, without end.
func newBackoff() backoff.BackOff {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = 100 * time.Millisecond
	b.MaxInterval = 5 * time.Second
	b.MaxElapsedTime = 0
	b.Reset()
	return b
}
