package nodes

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/zkrecipes/zkrecipes"
	"github.com/zkrecipes/zkrecipes/internal/watchhub"
)

// PersistentNode is Curator's PersistentNode: it keeps one node of any mode at its path
// for as long as it runs. The node is created in the background after Start, created
// again when it is deleted and after a new session, its data is kept current by SetData,
// and missing parents are created as containers. Close deletes it. Make one with New; it
// is safe for concurrent use and runs one goroutine.
//
// Whose node it is: the PersistentNode only ever treats as its own a node that it can
// prove is its own: an ephemeral node owned by the current session; an ephemeral node of
// an older session under which it held the node (deleted and made again under the
// current session); with protection, any node with its protection prefix; in the
// persistent modes, a persistent node it created or took over (by creation zxid). A
// persistent leftover at the path is taken over in a persistent mode (its data replaced,
// as Curator does). Unlike Curator, an ephemeral node that another live session owns, or a
// node of the wrong kind, is never taken over or written: the PersistentNode logs the
// conflict (warn), watches the node and creates its own once that one is gone.
//
// Connection states: while SUSPENDED nothing is done (the session and its ephemeral node
// may live on); after a RECONNECTED on the same session the watch is still armed; after a
// LOST or a new session the node is checked and made again as soon as the Client is
// connected. Someone else changing the node's data is not undone (as in Curator); deleting
// it is.
//
// Next to a Curator PersistentNode on the same path (both ephemeral): when the Go node
// was there first, Curator 5.4 takes it over by writing its data into it; the node stays
// the Go session's, holding Java's data, until Java's close deletes it, and then the Go
// side makes it again with its own data. When the Java node was there first, the Go side
// leaves it alone and makes its own once Java's close (or the end of Java's session) has
// removed it. Two owners of one path are a misconfiguration either way; the Go side never
// makes it worse by writing or deleting the other's node.
type PersistentNode struct {
	client    *zkrecipes.Client
	log       *slog.Logger
	base      string
	mode      zkrecipes.CreateMode
	protected bool

	mu       sync.Mutex
	data     []byte
	dirty    bool   // data not yet written to the current node
	target   string // the name the node has (fixed after the first create); "" until known
	actual   string // target while the node exists and is ours; "" otherwise
	czxid    int64  // persistent modes: the creation zxid of the node we hold
	sessions map[int64]bool
	inflight []<-chan struct{} // writes whose outcome is unknown and that may still land
	maybe    []byte            // persistent modes: the data of a create whose outcome is unknown
	started  bool
	closed   bool
	lastErr  error

	created chan struct{} // closed after the first create (or take-over)
	wake    chan struct{} // 1-buffered: look at the node now
	writes  chan chan error
	cancel  context.CancelFunc
	done    chan struct{}
}

// Option configures a PersistentNode.
type Option func(*PersistentNode)

// WithProtection gives the node Curator's protected name, "_c_<uuid>-<name>" in the
// same parent: a create whose reply was lost can then be found again, and a leftover
// node of an older session is recognised as this one's. The sequential modes need it.
func WithProtection() Option { return func(n *PersistentNode) { n.protected = true } }

// New returns a PersistentNode that keeps a node at path (relative to the Client's
// namespace) in the given mode, holding data. For a sequential mode the server appends
// the sequence number at the first create; after that the node is made again under the
// very same name, with the non-sequential variant of the mode (as Curator does). A
// sequential mode needs WithProtection, since without it a create whose reply was lost
// would leave a node nobody can find. Bad arguments give an error matching
// ErrInvalidArgument. Nothing is sent before Start.
func New(client *zkrecipes.Client, path string, mode zkrecipes.CreateMode, data []byte, opts ...Option) (*PersistentNode, error) {
	if client == nil {
		return nil, fmt.Errorf("%w: nil client", ErrInvalidArgument)
	}
	if err := zkrecipes.ValidatePath(path); err != nil || path == "/" {
		return nil, fmt.Errorf("%w: path %q: %v", ErrInvalidArgument, path, err)
	}
	switch mode {
	case zkrecipes.ModePersistent, zkrecipes.ModeEphemeral, zkrecipes.ModePersistentSequential,
		zkrecipes.ModeEphemeralSequential, zkrecipes.ModeContainer:
	default:
		return nil, fmt.Errorf("%w: create mode %v", ErrInvalidArgument, mode)
	}
	n := &PersistentNode{
		client:   client,
		log:      client.Logger(),
		base:     path,
		mode:     mode,
		data:     bytes.Clone(data),
		sessions: map[int64]bool{},
		created:  make(chan struct{}),
		wake:     make(chan struct{}, 1),
		writes:   make(chan chan error),
		done:     make(chan struct{}),
	}
	for _, o := range opts {
		o(n)
	}
	if mode.Sequential() && !n.protected {
		return nil, fmt.Errorf("%w: a sequential persistent node needs WithProtection", ErrInvalidArgument)
	}
	if n.protected && mode == zkrecipes.ModeContainer {
		return nil, fmt.Errorf("%w: a container node cannot be protected", ErrInvalidArgument)
	}
	if !n.protected {
		n.target = path
	}
	return n, nil
}

// Start starts the goroutine that creates the node in the background and keeps it; it
// does not wait for the create (see WaitForInitialCreate). ctx is not used beyond the
// call. A second Start gives ErrStarted, a Start after Close ErrClosed.
func (n *PersistentNode) Start(ctx context.Context) error {
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

// WaitForInitialCreate waits until the node has been created (or a leftover taken over)
// for the first time. It returns ctx.Err() when ctx ends first, with the last failure
// (if any) joined to it, and ErrClosed when the node is closed first. It does not say that
// the node exists now: it may have been deleted since (and is then being made again).
func (n *PersistentNode) WaitForInitialCreate(ctx context.Context) error {
	select {
	case <-n.created:
		return nil
	case <-n.done:
		return ErrClosed
	case <-ctx.Done():
		n.mu.Lock()
		last := n.lastErr
		n.mu.Unlock()
		if last != nil {
			return errors.Join(ctx.Err(), last)
		}
		return ctx.Err()
	}
}

// ActualPath returns the path of the node (with the protection prefix and sequence
// number, relative to the namespace) while it exists and is this PersistentNode's, and ""
// otherwise (not created yet, deleted and not yet made again, held by someone else).
func (n *PersistentNode) ActualPath() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.actual
}

// Data returns the data the node is kept with (the last SetData, or New's data).
func (n *PersistentNode) Data() []byte {
	n.mu.Lock()
	defer n.mu.Unlock()
	return bytes.Clone(n.data)
}

// SetData makes data the node's data: it is written to the node now if the node is this
// PersistentNode's, and used for every later create. It returns once the node's goroutine
// has handled it: nil when the node now holds data, or when there is no node of ours to
// write (absent, or someone else's: see PersistentNode) and data waits for the next
// create; the write's error otherwise, which matches zkrecipes.ErrOutcomeUnknown when its
// reply was lost; ctx.Err() when ctx ends first. The new data is kept in every case:
// after a failure (or a ctx that ended first) the goroutine writes it again after a pause
// or at the next connection (an identical write, so repeating it is harmless) until it
// succeeds or a newer SetData replaces it. Writes are conditional on the version just
// read, so a node replaced meanwhile by another process is never overwritten. After Close
// it gives ErrClosed; before Start, the data is only stored.
func (n *PersistentNode) SetData(ctx context.Context, data []byte) error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return ErrClosed
	}
	n.data = bytes.Clone(data)
	n.dirty = true
	started := n.started
	n.mu.Unlock()
	if !started {
		return nil
	}
	return ask(ctx, n.writes, n.done)
}

// Close stops keeping the node and deletes it, if it is this PersistentNode's, with a
// guaranteed delete (retried in the background by the Client until done or until the
// Client closes). It first waits for the goroutine to return and for every create or
// write still in flight to settle, so that a create that lands late is deleted too. When
// ctx ends before that, Close returns an error matching ctx.Err() and deletes what it can
// see: a create still in flight may then land afterwards (an ephemeral one goes with the
// session). Close is idempotent; later calls return nil at once.
func (n *PersistentNode) Close(ctx context.Context) error {
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
	case <-ctx.Done():
		return fmt.Errorf("nodes: close %s: waiting for the node's goroutine: %w", n.base, ctx.Err())
	}
	n.mu.Lock()
	inflight := n.inflight
	n.mu.Unlock()
	for _, ch := range inflight {
		select {
		case <-ch:
		case <-ctx.Done():
			n.deleteOwn(ctx)
			return fmt.Errorf("nodes: close %s: a create may still be in flight: %w", n.base, ctx.Err())
		}
	}
	return n.deleteOwn(ctx)
}

// deleteOwn deletes the node if it is ours (guaranteed delete, conditional on the version
// just read). A node that is not ours, or absent, is left alone.
func (n *PersistentNode) deleteOwn(ctx context.Context) error {
	n.mu.Lock()
	target := n.target
	n.mu.Unlock()
	if target == "" {
		return nil
	}
	for range 3 {
		data, st, err := n.client.Get(ctx, target)
		if errors.Is(err, zk.ErrNoNode) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("nodes: close %s: %w", n.base, err)
		}
		n.mu.Lock()
		maybe := n.maybe
		n.mu.Unlock()
		switch n.classify(st) {
		case kindOurs, kindOldOurs:
		case kindLeftover:
			// A persistent node we did not take over is deleted only when it can be
			// the one a create of ours with an unknown outcome made: never modified and
			// holding that create's data (the rule of Client.Create).
			if maybe == nil || st.Version != 0 || !bytes.Equal(data, maybe) {
				return nil
			}
		default:
			return nil
		}
		err = n.client.DeleteGuaranteed(ctx, target, st.Version)
		if !errors.Is(err, zk.ErrBadVersion) || errors.Is(err, zkrecipes.ErrOutcomeUnknown) {
			if err != nil {
				return fmt.Errorf("nodes: close %s: %w", n.base, err)
			}
			return nil
		}
	}
	return fmt.Errorf("nodes: close %s: the node keeps changing", n.base)
}

type nodeKind int

const (
	kindOurs     nodeKind = iota
	kindOldOurs           // an ephemeral of an older session that held it: delete and remake
	kindLeftover          // a persistent node we may take over (persistent modes)
	kindForeign           // someone else's: never touched
)

// classify says whose the existing node with stat st (at the target path) is.
func (n *PersistentNode) classify(st *zk.Stat) nodeKind {
	sid := n.client.SessionID()
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.mode.Ephemeral() {
		switch {
		case st.EphemeralOwner == 0:
			return kindForeign
		case st.EphemeralOwner == sid:
			return kindOurs
		case n.protected || n.sessions[st.EphemeralOwner]:
			return kindOldOurs
		}
		return kindForeign
	}
	switch {
	case st.EphemeralOwner != 0:
		return kindForeign
	case n.czxid != 0 && st.Czxid == n.czxid:
		return kindOurs
	}
	return kindLeftover
}

// run is the node's goroutine: it makes the node exist, watches it, and writes the data.
func (n *PersistentNode) run(ctx context.Context) {
	defer close(n.done)
	var watch <-chan zk.Event
	var pause <-chan time.Time
	var replies []chan error
	failures := 0
	look := true
	var lost <-chan struct{}
	for {
		if look {
			look = false
			// Taken before the watch is set: it closes when the Client replaces its go-zk
			// connection, after which the watch never fires.
			lost = watchhub.Of(n.client).Lost()
			if err := n.client.BlockUntilConnected(ctx); err != nil {
				n.answer(replies, err)
				return
			}
			var err error
			watch, err = n.ensure(ctx)
			n.answer(replies, err)
			replies = nil
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				n.mu.Lock()
				n.lastErr = err
				n.mu.Unlock()
				failures++
				n.log.Debug("nodes: keeping persistent node failed; retrying", "path", n.base, "err", err)
				pause = time.After(time.Duration(min(failures, 5)) * 200 * time.Millisecond)
			} else {
				failures = 0
				pause = nil
			}
		}
		sess := n.client.Session()
		select {
		case <-ctx.Done():
			n.answer(replies, ErrClosed)
			return
		case <-watch:
			// The node was deleted, created or changed, or (EventNotWatching) the session
			// ended: look again, once connected.
			watch, look = nil, true
		case <-sess.Done():
			look = true
		case <-lost:
			watch, look = nil, true
		case <-pause:
			pause, look = nil, true
		case <-n.wake:
			look = true
		case r := <-n.writes:
			replies = append(replies, r)
			look = true
		}
	}
}

// answer replies to the SetData calls waiting for the write.
func (n *PersistentNode) answer(replies []chan error, err error) {
	for _, r := range replies {
		r <- err
	}
}

// ensure makes the node exist and be ours, writes pending data, and returns a watch on
// it. A conflict (someone else's node) returns the exists watch on that node and no
// error: the loop looks again when it changes.
func (n *PersistentNode) ensure(ctx context.Context) (<-chan zk.Event, error) {
	for attempt := 0; attempt < 10; attempt++ {
		n.mu.Lock()
		target := n.target
		n.mu.Unlock()
		if target == "" {
			if err := n.create(ctx, ""); err != nil {
				return nil, err
			}
			continue
		}
		ok, st, ch, err := n.client.ExistsW(ctx, target)
		if err != nil {
			return nil, err
		}
		if !ok {
			n.setActual("")
			if err := n.create(ctx, target); err != nil {
				return nil, err
			}
			continue
		}
		switch n.classify(st) {
		case kindOurs:
			n.hold(target, st)
			if err := n.writePending(ctx, target, st); err != nil {
				return nil, err
			}
			return ch, nil
		case kindOldOurs:
			// Our node from a session that is gone: the server deletes it when it expires
			// the session; delete it now and make ours.
			err := n.client.Delete(ctx, target, st.Version)
			if err != nil && !errors.Is(err, zk.ErrNoNode) && !errors.Is(err, zk.ErrBadVersion) {
				return nil, err
			}
		case kindLeftover:
			data := n.Data()
			st2, err := n.client.Set(ctx, target, data, st.Version)
			if errors.Is(err, zkrecipes.ErrOutcomeUnknown) {
				n.unsettled(err)
				return nil, err
			}
			if err != nil && !errors.Is(err, zk.ErrBadVersion) && !errors.Is(err, zk.ErrNoNode) {
				return nil, err
			}
			if err == nil {
				n.log.Info("nodes: took over a leftover persistent node", "path", target)
				n.mu.Lock()
				n.czxid = st2.Czxid
				if bytes.Equal(n.data, data) {
					n.dirty = false
				}
				n.mu.Unlock()
			}
		case kindForeign:
			n.setActual("")
			n.log.Warn("nodes: another session's node holds the path; waiting for it to go",
				"path", target, "owner", fmt.Sprintf("%#x", st.EphemeralOwner))
			return ch, nil
		}
	}
	return nil, fmt.Errorf("nodes: %s keeps changing under us", n.base)
}

// create makes the node at target ("" for the first protected create, which picks the
// name).
func (n *PersistentNode) create(ctx context.Context, target string) error {
	n.mu.Lock()
	data := bytes.Clone(n.data)
	n.mu.Unlock()
	var p string
	var err error
	if target == "" {
		p, err = n.client.CreateProtected(ctx, n.base, data, n.mode, zkrecipes.WithParents())
	} else {
		p, err = n.client.Create(ctx, target, data, nonSequential(n.mode), zkrecipes.WithParents())
		if errors.Is(err, zk.ErrNodeExists) && !errors.Is(err, zkrecipes.ErrOutcomeUnknown) {
			return nil // someone's node appeared: ensure looks at it
		}
	}
	if err != nil {
		n.unsettled(err)
		if errors.Is(err, zkrecipes.ErrOutcomeUnknown) && target != "" && !n.mode.Ephemeral() {
			n.mu.Lock()
			n.maybe = data
			n.mu.Unlock()
		}
		return err
	}
	ok, st, err := n.client.Exists(ctx, p)
	if err != nil {
		return err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.target = p
	if ok && st.EphemeralOwner == 0 && !n.mode.Ephemeral() && bytes.Equal(data, n.data) {
		// Just created by us (a node made in between by someone else would be adopted
		// as a leftover anyway).
		n.czxid = st.Czxid
	}
	if bytes.Equal(data, n.data) {
		n.dirty = false
	}
	return nil
}

// unsettled remembers a write whose outcome is unknown, for Close to wait for.
func (n *PersistentNode) unsettled(err error) {
	ch := zkrecipes.Settled(err)
	select {
	case <-ch:
		return
	default:
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	kept := n.inflight[:0]
	for _, c := range n.inflight {
		select {
		case <-c:
		default:
			kept = append(kept, c)
		}
	}
	n.inflight = append(kept, ch)
}

// hold records that the node at target is ours.
func (n *PersistentNode) hold(target string, st *zk.Stat) {
	n.mu.Lock()
	n.actual = target
	if st.EphemeralOwner != 0 {
		n.sessions[st.EphemeralOwner] = true
	}
	n.lastErr = nil
	n.mu.Unlock()
	select {
	case <-n.created:
	default:
		close(n.created)
	}
}

func (n *PersistentNode) setActual(p string) {
	n.mu.Lock()
	n.actual = p
	n.mu.Unlock()
}

// writePending writes data set by SetData to our node, conditional on the version just
// read so that a node replaced meanwhile is not written.
func (n *PersistentNode) writePending(ctx context.Context, target string, st *zk.Stat) error {
	n.mu.Lock()
	dirty, data := n.dirty, bytes.Clone(n.data)
	n.mu.Unlock()
	if !dirty {
		return nil
	}
	_, err := n.client.Set(ctx, target, data, st.Version)
	if err != nil {
		if errors.Is(err, zkrecipes.ErrOutcomeUnknown) {
			n.unsettled(err)
		}
		return err
	}
	n.mu.Lock()
	if bytes.Equal(n.data, data) {
		n.dirty = false
	}
	n.mu.Unlock()
	return nil
}

func nonSequential(m zkrecipes.CreateMode) zkrecipes.CreateMode {
	switch m {
	case zkrecipes.ModePersistentSequential:
		return zkrecipes.ModePersistent
	case zkrecipes.ModeEphemeralSequential:
		return zkrecipes.ModeEphemeral
	}
	return m
}

// ask hands the node's goroutine a request (on writes) and waits for its answer: ErrClosed
// when the goroutine has ended (done) before taking it, ctx.Err() when ctx ends first.
func ask(ctx context.Context, writes chan<- chan error, done <-chan struct{}) error {
	reply := make(chan error, 1)
	select {
	case writes <- reply:
	case <-done:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-reply:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}
