package nodes

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/zkrecipes/zkrecipes"
)

// TouchName is the name of the child a TTLNode keeps touching, as in Curator.
const TouchName = "touch"

// TTLNode is Curator's PersistentTtlNode: a node that outlives its owner only by a time
// to live. The node at path is PERSISTENT_WITH_TTL holding the caller's data (as in
// Curator 5.9; 5.4 made it a container, and 5.4 peers never check the kind), and its
// child "touch" is PERSISTENT_WITH_TTL with the same ttl, holding the host's address as
// text (Curator's default data). Every ttl/2 the TTLNode writes "touch" again, so the
// server's reaper, which deletes a TTL node that had no change (and no children) for
// ttl, leaves both alone while the owner runs. Once the owner stops (Close, a crash, a
// partition), "touch" is deleted about ttl after its last write and then the parent,
// each at the next pass of the server's reaper (znode.container.checkIntervalMs,
// default 60 s). Unlike Curator 5.4, the first touch is made at once, so that a node
// closed early is still reaped.
//
// The server must run with extendedTypesEnabled=true: otherwise it refuses TTL nodes,
// and the TTLNode stops trying and reports an error matching ErrTTLUnsupported (from
// WaitForInitialCreate and Err). A failed touch (the connection is down, an unknown
// outcome) is tried again after ttl/8; a touch is an unconditional write, so repeating it
// is harmless. The TTLNode runs one goroutine.
type TTLNode struct {
	client *zkrecipes.Client
	path   string
	touch  string
	ttl    time.Duration
	touchD []byte

	mu      sync.Mutex
	data    []byte
	dirty   bool // data not yet written to the parent
	started bool
	closed  bool
	lastErr error
	fatal   error

	created chan struct{}
	failed  chan struct{} // closed when the TTLNode gave up (fatal)
	writes  chan chan error
	cancel  context.CancelFunc
	done    chan struct{}
}

// TTLOption configures a TTLNode.
type TTLOption func(*TTLNode)

// WithTouchData sets the data written to the "touch" child (default: the host's address
// as text, as Curator writes, or "127.0.0.1" when it cannot be found).
func WithTouchData(data []byte) TTLOption {
	return func(n *TTLNode) { n.touchD = bytes.Clone(data) }
}

// NewTTL returns a TTLNode for path (relative to the Client's namespace) with the given
// ttl and data. A ttl under 10 ms or over ZooKeeper's maximum, or a bad path, gives an
// error matching ErrInvalidArgument. Nothing is sent before Start.
func NewTTL(client *zkrecipes.Client, path string, ttl time.Duration, data []byte, opts ...TTLOption) (*TTLNode, error) {
	if client == nil {
		return nil, fmt.Errorf("%w: nil client", ErrInvalidArgument)
	}
	if err := zkrecipes.ValidatePath(path); err != nil || path == "/" {
		return nil, fmt.Errorf("%w: path %q: %v", ErrInvalidArgument, path, err)
	}
	if ttl < 10*time.Millisecond || ttl > time.Duration(0xFFFFFFFFFF)*time.Millisecond {
		return nil, fmt.Errorf("%w: ttl %v", ErrInvalidArgument, ttl)
	}
	n := &TTLNode{
		client:  client,
		path:    path,
		touch:   zkrecipes.JoinPath(path, TouchName),
		ttl:     ttl,
		data:    bytes.Clone(data),
		created: make(chan struct{}),
		failed:  make(chan struct{}),
		writes:  make(chan chan error),
		done:    make(chan struct{}),
	}
	for _, o := range opts {
		o(n)
	}
	if n.touchD == nil {
		n.touchD = hostAddress()
	}
	return n, nil
}

// hostAddress is Curator's default data: the local host's address as text.
func hostAddress() []byte {
	if name, err := os.Hostname(); err == nil {
		if ips, err := net.LookupIP(name); err == nil {
			for _, ip := range ips {
				if v4 := ip.To4(); v4 != nil {
					return []byte(v4.String())
				}
			}
		}
	}
	return []byte("127.0.0.1")
}

// Path returns the TTL node's path, relative to the Client's namespace.
func (n *TTLNode) Path() string { return n.path }

// Start starts the goroutine that creates the node and touches it; it does not wait
// (see WaitForInitialCreate). A second Start gives ErrStarted, one after Close ErrClosed.
func (n *TTLNode) Start(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	switch {
	case n.closed:
		return ErrClosed
	case n.started:
		return ErrStarted
	}
	n.started = true
	lctx, cancel := context.WithCancel(context.Background())
	n.cancel = cancel
	go n.run(lctx)
	return nil
}

// WaitForInitialCreate waits until the node and its "touch" child exist for the first
// time. It returns the error matching ErrTTLUnsupported at once when the server refused
// TTL nodes, ErrClosed when closed first, and ctx.Err() (joined with the last failure)
// when ctx ends first.
func (n *TTLNode) WaitForInitialCreate(ctx context.Context) error {
	select {
	case <-n.created:
		return nil
	case <-n.failed:
		return n.Err()
	case <-n.done:
		return ErrClosed
	case <-ctx.Done():
		if err := n.Err(); err != nil {
			return errors.Join(ctx.Err(), err)
		}
		return ctx.Err()
	}
}

// Err returns the error that made the TTLNode give up (matching ErrTTLUnsupported), or
// else the last failure of a touch (nil after a successful one).
func (n *TTLNode) Err() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.fatal != nil {
		return n.fatal
	}
	return n.lastErr
}

// SetData replaces the node's data: it is written to the node at once (and used if the
// node has to be made again) and returns the write's error, or ctx.Err() when ctx ends
// first. A failed write is done again at the next touch. After Close: ErrClosed.
func (n *TTLNode) SetData(ctx context.Context, data []byte) error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return ErrClosed
	}
	n.data, n.dirty = bytes.Clone(data), true
	started := n.started
	n.mu.Unlock()
	if !started {
		return nil
	}
	return ask(ctx, n.writes, n.done)
}

// Close stops touching the node and waits for the goroutine to return (or ctx to end:
// ctx.Err()). It deletes nothing, as Curator: the server removes the node once ttl has
// passed without a touch. It is idempotent.
func (n *TTLNode) Close(ctx context.Context) error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil
	}
	n.closed = true
	started := n.started
	n.mu.Unlock()
	if !started {
		return nil
	}
	n.cancel()
	select {
	case <-n.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("nodes: close %s: %w", n.path, ctx.Err())
	}
}

func (n *TTLNode) run(ctx context.Context) {
	defer close(n.done)
	timer := time.NewTimer(0)
	defer timer.Stop()
	var replies []chan error
	for {
		select {
		case <-ctx.Done():
			n.answer(replies, ErrClosed)
			return
		case r := <-n.writes:
			replies = append(replies, r)
		case <-timer.C:
		}
		err := n.pass(ctx)
		n.answer(replies, err)
		replies = nil
		if ctx.Err() != nil || errors.Is(err, zkrecipes.ErrClosed) {
			return // closed, or the Client is: nothing more can be touched
		}
		n.mu.Lock()
		n.lastErr = err
		if errors.Is(err, zkrecipes.ErrTTLUnsupported) {
			n.fatal = fmt.Errorf("nodes: ttl node %s: %w", n.path, err)
		}
		fatal := n.fatal != nil
		n.mu.Unlock()
		if fatal {
			n.client.Logger().Error("nodes: the server refuses TTL nodes; giving up", "path", n.path)
			close(n.failed)
			for {
				select {
				case <-ctx.Done():
					return
				case r := <-n.writes:
					r <- n.Err()
				}
			}
		}
		if err == nil {
			select {
			case <-n.created:
			default:
				close(n.created)
			}
		} else {
			n.client.Logger().Debug("nodes: touching ttl node failed", "path", n.path, "err", err)
		}
		next := n.ttl / 2
		if err != nil {
			// Try again well before the ttl runs out since the last touch.
			next = max(n.ttl/8, 10*time.Millisecond)
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(next)
	}
}

func (n *TTLNode) answer(replies []chan error, err error) {
	for _, r := range replies {
		r <- err
	}
}

// pass writes pending data to the node, then touches the child, making whichever is
// missing.
func (n *TTLNode) pass(ctx context.Context) error {
	n.mu.Lock()
	dirty, data := n.dirty, bytes.Clone(n.data)
	n.mu.Unlock()
	if dirty {
		_, err := n.client.Set(ctx, n.path, data, -1)
		switch {
		case err == nil:
			n.clean(data)
		case errors.Is(err, zk.ErrNoNode) && !errors.Is(err, zkrecipes.ErrOutcomeUnknown):
			// made below with the new data
		default:
			return err
		}
	}
	_, err := n.client.Set(ctx, n.touch, n.touchD, -1)
	if !errors.Is(err, zk.ErrNoNode) || errors.Is(err, zkrecipes.ErrOutcomeUnknown) {
		return err
	}
	for range 3 {
		_, err = n.client.CreateTTL(ctx, n.touch, n.touchD, n.ttl)
		if err == nil || errors.Is(err, zk.ErrNodeExists) && !errors.Is(err, zkrecipes.ErrOutcomeUnknown) {
			return nil
		}
		if !errors.Is(err, zk.ErrNoNode) || errors.Is(err, zkrecipes.ErrOutcomeUnknown) {
			return err
		}
		n.mu.Lock()
		data = bytes.Clone(n.data)
		n.mu.Unlock()
		_, err = n.client.CreateTTL(ctx, n.path, data, n.ttl, zkrecipes.WithParents())
		switch {
		case err == nil:
			n.clean(data)
		case errors.Is(err, zk.ErrNodeExists) && !errors.Is(err, zkrecipes.ErrOutcomeUnknown):
		default:
			return err
		}
	}
	return fmt.Errorf("nodes: %s keeps disappearing", n.path)
}

func (n *TTLNode) clean(written []byte) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if bytes.Equal(n.data, written) {
		n.dirty = false
	}
}
