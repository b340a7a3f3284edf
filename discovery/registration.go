package discovery

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/zkrecipes/zkrecipes"
	"github.com/zkrecipes/zkrecipes/internal/broadcast"
	"github.com/zkrecipes/zkrecipes/retry"
)

// registration is one instance registered through a Discovery: its latest local copy and
// where its znode is.
type registration[T any] struct {
	mu      sync.Mutex // serializes the writes of this instance's znode
	inst    Instance[T]
	data    []byte
	path    string // the znode; for DynamicSequential it carries the sequence suffix
	dirty   bool   // the last write failed: the background rewriter redoes it
	removed bool   // unregistered: never write again
	// unsettled holds, for failed writes whose attempt may still be in flight (ctx ended
	// first), the channels zkrecipes.Settled gave: no rewrite starts before they close,
	// so that an abandoned create cannot land after the rewrite looked for strays.
	unsettled []<-chan struct{}
	strays    bool   // DynamicSequential: znodes of this session other than path may exist
	watched   string // the server path of its data watch, if set; guarded by the keeper's mu
}

func key(name, id string) string { return name + "/" + id }

// prepare checks and serializes an instance before anything is written, so that nothing
// invalid ever reaches ZooKeeper.
func (d *Discovery[T]) prepare(inst Instance[T]) (Instance[T], []byte, error) {
	inst.ServiceType = inst.ServiceType.orDefault()
	if err := inst.Validate(); err != nil {
		return inst, nil, err
	}
	data, err := d.ser.Serialize(inst)
	if err != nil {
		return inst, nil, err
	}
	if len(data) == 0 {
		return inst, nil, invalidf("serializer wrote no data for %s/%s", inst.Name, inst.ID)
	}
	return inst, data, nil
}

// Register writes the instance at basePath/<name>/<id> (with the znode mode its service
// type asks for) and keeps it registered until Unregister or Close: re-created after a
// new session, restored if someone deletes it, rewritten in the background while a write
// of it has failed. Registering an id again replaces the instance, in place when its
// znode is there (watchers see one update, not a remove and an add). A Dynamic znode left
// by another session is replaced by one of this session.
//
// When Register returns an error, the instance is not registered, whatever happened on
// the server: when ctx ended or the connection failed while a write was in flight (an
// outcome the Client cannot know, see zkrecipes.ErrOutcomeUnknown), a znode that write
// may have created is deleted in the background once the in-flight attempt has returned,
// and only if it is provably this registration's (an ephemeral one owned by the current
// session, or a persistent one holding exactly the data written). Close waits for those
// cleanups; a Register of the same id waits for them too. Re-registering an id that is
// already registered and failing keeps the previous registration, which is rewritten in
// the background.
//
// The Client's Registration hook (zkrecipes.Hooks) hears every Register of a valid
// instance, with action "register", before it returns.
func (d *Discovery[T]) Register(ctx context.Context, inst Instance[T]) error {
	inst, data, err := d.prepare(inst)
	if err != nil {
		return err
	}
	start := time.Now()
	path, err := d.register(ctx, inst, data)
	d.hook(ctx, "register", inst, path, start, err)
	return err
}

// register is Register for a prepared instance; it returns the instance's znode path.
func (d *Discovery[T]) register(ctx context.Context, inst Instance[T], data []byte) (path string, err error) {
	path = d.instancePath(inst.Name, inst.ID)
	k := key(inst.Name, inst.ID)
	var r *registration[T]
	fresh := false
	for r == nil {
		d.mu.Lock()
		if d.closed {
			d.mu.Unlock()
			return path, ErrClosed
		}
		r = d.regs[k]
		if r != nil {
			d.mu.Unlock()
			break
		}
		if pending := d.cleanups[k]; pending != nil {
			// A failed Register of this id is still cleaning up: let it finish, so
			// that it cannot delete the znode this one writes.
			d.mu.Unlock()
			select {
			case <-pending:
				continue
			case <-ctx.Done():
				return path, fmt.Errorf("discovery: register %s: waiting for the cleanup of a failed register: %w", path, ctx.Err())
			}
		}
		r = &registration[T]{}
		fresh = true
		d.regs[k] = r
		d.mu.Unlock()
	}

	// The keeper is asked to watch the znode once r.mu is released: it skips a
	// registration whose lock is held.
	written := false
	defer func() {
		if written {
			d.keep(r)
		}
	}()
	r.mu.Lock()
	defer r.mu.Unlock()
	defer func() { path = r.pathOr(path) }()
	if r.removed {
		return path, fmt.Errorf("discovery: %s/%s was unregistered while being registered", inst.Name, inst.ID)
	}
	if !fresh && r.inst.ServiceType != inst.ServiceType {
		return path, invalidf("%s/%s is registered as %s; unregister it before registering it as %s",
			inst.Name, inst.ID, r.inst.ServiceType, inst.ServiceType)
	}
	prev, prevData := r.inst, r.data
	r.inst, r.data = inst, data
	if err := d.write(ctx, r); err != nil {
		if !fresh {
			r.inst, r.data = prev, prevData
			return path, err
		}
		r.removed = true
		d.mu.Lock()
		if d.regs[k] == r {
			delete(d.regs, k)
		}
		d.cleanUp(k, inst, data, err)
		d.mu.Unlock()
		return path, err
	}
	written = true
	return path, nil
}

// pathOr returns r's znode path, or def when it has none. The caller holds r.mu.
func (r *registration[T]) pathOr(def string) string {
	if r.path != "" {
		return r.path
	}
	return def
}

// hook reports one write of inst to the Client's Registration hook, if any.
func (d *Discovery[T]) hook(ctx context.Context, action string, inst Instance[T], path string, start time.Time, err error) {
	if h := d.client.Hooks().Registration; h != nil {
		now := time.Now()
		h(ctx, zkrecipes.RegistrationEvent{Action: action, Service: inst.Name, ID: inst.ID, Path: path,
			Duration: now.Sub(start), Err: err, Outcome: zkrecipes.OutcomeOf(err), Time: now})
	}
}

// rewriteOne writes r again on the Discovery's own account (see write), reporting it to the
// Registration hook as a "rewrite". The caller holds r.mu.
func (d *Discovery[T]) rewriteOne(r *registration[T]) error {
	start := time.Now()
	err := d.write(d.ctx, r)
	d.hook(context.Background(), "rewrite", r.inst, r.pathOr(d.instancePath(r.inst.Name, r.inst.ID)), start, err)
	return err
}

// Update replaces the registered instance with inst (same name and id): its payload and
// any other field except the service type. The znode's data is overwritten
// unconditionally, as Curator does; a znode that has gone is created again. It fails with
// ErrNotRegistered for an instance this Discovery does not hold.
//
// The local copy is updated even when the write fails, and a failed write is not the end
// of it: whether the error says the write was not applied or that its outcome is unknown
// (ctx ended or the connection failed while it was in flight), the registration is
// rewritten from the latest local copy in the background, with backoff while connected,
// until that succeeds or the instance is unregistered. No rewrite starts before the failed
// write's in-flight attempt has returned (zkrecipes.Settled), so that it cannot land
// after the rewrite; for a DynamicSequential instance, the rewrite then deletes any other
// znode of this session for the instance (one an abandoned create made). So an Update that returned an error
// still reaches ZooKeeper later, unless a newer Update or Unregister supersedes it.
//
// The Client's Registration hook hears every Update of a valid instance, with action
// "update", before it returns (the background rewrite, as "rewrite").
func (d *Discovery[T]) Update(ctx context.Context, inst Instance[T]) error {
	inst, data, err := d.prepare(inst)
	if err != nil {
		return err
	}
	start := time.Now()
	path, err := d.update(ctx, inst, data)
	if r := d.regOf(inst); r != nil {
		d.keep(r) // its znode may have been written again, or the keeper skipped it meanwhile
	}
	d.hook(ctx, "update", inst, path, start, err)
	return err
}

// update is Update for a prepared instance; it returns the instance's znode path.
func (d *Discovery[T]) update(ctx context.Context, inst Instance[T], data []byte) (path string, err error) {
	path = d.instancePath(inst.Name, inst.ID)
	d.mu.Lock()
	r := d.regs[key(inst.Name, inst.ID)]
	closed := d.closed
	d.mu.Unlock()
	if closed {
		return path, ErrClosed
	}
	if r == nil {
		return path, fmt.Errorf("%w: %s", ErrNotRegistered, path)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	defer func() { path = r.pathOr(path) }()
	if r.removed {
		return path, fmt.Errorf("%w: %s", ErrNotRegistered, path)
	}
	if r.inst.ServiceType != inst.ServiceType {
		return path, invalidf("cannot change the service type of %s/%s from %s to %s; unregister and register instead",
			inst.Name, inst.ID, r.inst.ServiceType, inst.ServiceType)
	}
	r.inst, r.data = inst, data
	if r.path != "" && !r.dirty {
		_, err := d.client.Set(ctx, r.path, data, -1)
		if err == nil {
			return path, nil
		}
		if !isNoNode(err) {
			d.failed(r, err)
			return path, err
		}
	}
	return path, d.write(ctx, r)
}

// Unregister removes the instance (by name and id) and stops keeping it alive. It is
// first dropped from the local set, so no re-registration or background rewrite can bring
// it back, then its znode is deleted; a missing znode is not an error. When the delete
// fails for a connection problem, or ctx ends while it is in flight (outcome unknown), it
// goes on in the background until the znode is gone or the Client closes (deleting twice
// is harmless): the instance counts as unregistered either way, even though its znode may
// linger until then (an ephemeral one at most until the session ends).
//
// The Client's Registration hook hears every Unregister with a valid name and id, with
// action "unregister", before it returns (and so does every instance Close unregisters).
func (d *Discovery[T]) Unregister(ctx context.Context, inst Instance[T]) error {
	if err := validNodeName("name", inst.Name); err != nil {
		return err
	}
	if err := validNodeName("id", inst.ID); err != nil {
		return err
	}
	d.mu.Lock()
	r := d.regs[key(inst.Name, inst.ID)]
	delete(d.regs, key(inst.Name, inst.ID))
	d.mu.Unlock()
	if r == nil {
		start := time.Now()
		path := d.instancePath(inst.Name, inst.ID)
		err := d.client.DeleteGuaranteed(ctx, path, -1)
		if isNoNode(err) {
			err = nil
		}
		d.hook(ctx, "unregister", inst, path, start, err)
		return err
	}
	return d.unregister(ctx, r)
}

// unregister removes r and reports it to the Registration hook (unless it was removed
// already).
func (d *Discovery[T]) unregister(ctx context.Context, r *registration[T]) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.removed {
		return nil
	}
	start := time.Now()
	r.removed = true
	path := r.path
	if path == "" {
		if r.inst.ServiceType == DynamicSequential {
			d.hook(ctx, "unregister", r.inst, d.instancePath(r.inst.Name, r.inst.ID), start, nil)
			return nil // never created
		}
		path = d.instancePath(r.inst.Name, r.inst.ID)
	}
	err := d.client.DeleteGuaranteed(ctx, path, -1)
	if isNoNode(err) {
		err = nil
	}
	d.hook(ctx, "unregister", r.inst, path, start, err)
	return err
}

// cleanUp removes, in the background, what the failed write (err) of a fresh
// registration may have created: once every attempt of that write has returned
// (zkrecipes.Settled), it deletes the znodes that are provably this registration's. It
// gives up when the Discovery's context ends (Close waits for it first). The caller holds
// d.mu.
func (d *Discovery[T]) cleanUp(k string, inst Instance[T], data []byte, err error) {
	done := make(chan struct{})
	d.cleanups[k] = done
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		defer func() {
			d.mu.Lock()
			if d.cleanups[k] == done {
				delete(d.cleanups, k)
			}
			d.mu.Unlock()
			close(done)
		}()
		select {
		case <-zkrecipes.Settled(err):
		case <-d.ctx.Done():
			return
		}
		d.untilDone(func(ctx context.Context) error {
			if inst.ServiceType == DynamicSequential {
				return d.dropSequential(ctx, inst, "")
			}
			return d.deleteOwned(ctx, d.instancePath(inst.Name, inst.ID), inst.ServiceType.ephemeral(), data)
		})
	}()
}

// untilDone runs fn until it succeeds or fails for a reason other than the connection,
// waiting for the connection between attempts; it gives up when the Discovery's context
// ends. An unknown outcome (zkrecipes.ErrOutcomeUnknown, e.g. a conditional delete whose
// retries ran out during a partition) is tried again too: fn re-reads what it deletes, so
// repeating it is safe, and giving up would leave a phantom instance.
func (d *Discovery[T]) untilDone(fn func(ctx context.Context) error) {
	bo := newBackoff()
	for {
		if d.client.BlockUntilConnected(d.ctx) != nil {
			return
		}
		err := fn(d.ctx)
		if err == nil || d.ctx.Err() != nil || !(retry.IsRetriable(err) || errors.Is(err, zkrecipes.ErrOutcomeUnknown)) {
			if err != nil && d.ctx.Err() == nil {
				d.opts.report("cleanup after a failed register gave up", err)
			}
			return
		}
		if !d.pause(bo.NextBackOff()) {
			return
		}
	}
}

// pause waits for delay or the end of the Discovery's context (false).
func (d *Discovery[T]) pause(delay time.Duration) bool {
	t := time.NewTimer(delay)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-d.ctx.Done():
		return false
	}
}

// deleteOwned deletes the znode at path if it is provably the one a failed registration
// wrote: ephemeral, owned by the current session and holding data; or persistent and
// holding data. Anything else (absent, another session's, other data) is left alone.
func (d *Discovery[T]) deleteOwned(ctx context.Context, path string, ephemeral bool, data []byte) error {
	for {
		got, st, err := d.client.Get(ctx, path)
		if isNoNode(err) {
			return nil
		}
		if err != nil {
			return err
		}
		var owner int64
		if ephemeral {
			owner = d.client.SessionID()
		}
		if st.EphemeralOwner != owner || !bytes.Equal(got, data) {
			return nil
		}
		err = d.client.Delete(ctx, path, st.Version)
		if err == nil || isNoNode(err) {
			return nil
		}
		if !errors.Is(err, zk.ErrBadVersion) {
			return err
		}
	}
}

// failed records a failed write of r: r is rewritten in the background, once the
// write's in-flight attempt, if any, has returned. The caller holds r.mu.
func (d *Discovery[T]) failed(r *registration[T], err error) {
	if ch := zkrecipes.Settled(err); !isClosed(ch) {
		r.unsettled = append(r.unsettled, ch)
	}
	d.markDirty(r)
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// settle waits until every failed write of r that was still in flight has returned, or
// ctx or the Discovery's context ends (an error). It releases r.mu while it waits, so
// that Unregister and Close are not held up; the caller holds r.mu and must check r again
// afterwards (settle fails when r was unregistered meanwhile).
func (d *Discovery[T]) settle(ctx context.Context, r *registration[T]) error {
	for len(r.unsettled) > 0 {
		ch := r.unsettled[0]
		if !isClosed(ch) {
			r.mu.Unlock()
			var err error
			select {
			case <-ch:
			case <-ctx.Done():
				err = ctx.Err()
			case <-d.ctx.Done():
				err = ErrClosed
			}
			r.mu.Lock()
			if err != nil {
				return fmt.Errorf("discovery: %s: waiting for an earlier write still in flight: %w",
					d.instancePath(r.inst.Name, r.inst.ID), err)
			}
		}
		if len(r.unsettled) > 0 && r.unsettled[0] == ch {
			r.unsettled = r.unsettled[1:]
		}
	}
	if r.removed {
		return fmt.Errorf("discovery: %s/%s was unregistered meanwhile", r.inst.Name, r.inst.ID)
	}
	return nil
}

// write makes the instance's znode exist with the local copy's data, owned by the current
// session when it is ephemeral, once the failed writes still in flight have returned. The
// caller holds r.mu (released while write waits for those).
func (d *Discovery[T]) write(ctx context.Context, r *registration[T]) (err error) {
	defer func() {
		switch {
		case err != nil && !r.removed:
			d.failed(r, err)
		case err == nil && r.strays && !r.removed:
			d.markDirty(r) // written, but a stray znode may remain: drop it in the background
		default:
			r.dirty = false
		}
	}()
	if err := d.settle(ctx, r); err != nil {
		return err
	}
	if r.inst.ServiceType == DynamicSequential {
		return d.writeSequential(ctx, r)
	}
	path := d.instancePath(r.inst.Name, r.inst.ID)
	mode := zkrecipes.ModePersistent
	var owner int64
	if r.inst.ServiceType.ephemeral() {
		mode = zkrecipes.ModeEphemeral
	}
	for attempt := 0; attempt < 5; attempt++ {
		_, err := d.client.Create(ctx, path, r.data, mode, zkrecipes.WithParents())
		if err == nil {
			r.path = path
			return nil
		}
		if !errors.Is(err, zk.ErrNodeExists) {
			return err
		}
		ok, st, err := d.client.Exists(ctx, path)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		if mode == zkrecipes.ModeEphemeral {
			owner = d.client.SessionID()
		}
		if st.EphemeralOwner != owner {
			// Another session's znode (an expired one of ours, or a different
			// process with the same id) would vanish with that session: replace it.
			err := d.client.Delete(ctx, path, st.Version)
			if err != nil && !isNoNode(err) && !errors.Is(err, zk.ErrBadVersion) {
				return err
			}
			continue
		}
		// Conditional on the version just read, so that a znode replaced since by another
		// session is never overwritten as if it were ours.
		if _, err := d.client.Set(ctx, path, r.data, st.Version); err != nil {
			if isNoNode(err) || errors.Is(err, zk.ErrBadVersion) {
				continue
			}
			return err
		}
		r.path = path
		return nil
	}
	return fmt.Errorf("discovery: %s keeps changing under us; giving up", path)
}

// writeSequential keeps one EPHEMERAL_SEQUENTIAL znode for the instance: it updates the
// one it has when the current session owns it, and otherwise deletes it and creates a new
// one. A create whose outcome is unknown (its reply was lost, or its ctx ended while it
// was in flight) may leave an extra znode of this session; once that create has returned
// (write waits for it), the next write deletes every znode of this session for the
// instance but the one it keeps, so readers never see the instance twice.
func (d *Discovery[T]) writeSequential(ctx context.Context, r *registration[T]) error {
	if r.path != "" {
		ok, st, err := d.client.Exists(ctx, r.path)
		if err != nil {
			return err
		}
		if ok && st.EphemeralOwner == d.client.SessionID() {
			_, err := d.client.Set(ctx, r.path, r.data, -1)
			if !isNoNode(err) {
				if err == nil && r.strays {
					d.dropStrays(ctx, r)
				}
				return err
			}
		} else if ok {
			if err := d.client.Delete(ctx, r.path, -1); err != nil && !isNoNode(err) {
				return err
			}
		}
		r.path = ""
	}
	p, err := d.client.Create(ctx, d.instancePath(r.inst.Name, r.inst.ID), r.data,
		zkrecipes.ModeEphemeralSequential, zkrecipes.WithParents())
	if err != nil {
		if errors.Is(err, zkrecipes.ErrOutcomeUnknown) {
			r.strays = true
		}
		return err
	}
	r.path = p
	r.strays = true // a create of an earlier session, or an earlier unknown one
	d.dropStrays(ctx, r)
	return nil
}

// dropStrays deletes the znodes of this session for r's instance other than r.path; when
// that fails, r.strays stays set and the background rewriter tries again.
func (d *Discovery[T]) dropStrays(ctx context.Context, r *registration[T]) {
	_, keep := zkrecipes.SplitPath(r.path)
	if d.dropSequential(ctx, r.inst, keep) == nil {
		r.strays = false
	}
}

// dropSequential deletes the znodes of this session named id + sequence number, except
// keep. It returns the first failure; a caller that ignores it leaves them to the
// session's end.
func (d *Discovery[T]) dropSequential(ctx context.Context, inst Instance[T], keep string) error {
	kids, _, err := d.client.Children(ctx, d.servicePath(inst.Name))
	if isNoNode(err) {
		return nil
	}
	if err != nil {
		return err
	}
	var first error
	for _, k := range kids {
		if k == keep || !isSequentialOf(k, inst.ID) {
			continue
		}
		p := zkrecipes.JoinPath(d.servicePath(inst.Name), k)
		ok, st, err := d.client.Exists(ctx, p)
		if err == nil && ok && st.EphemeralOwner == d.client.SessionID() {
			err = d.client.Delete(ctx, p, st.Version)
		}
		if err != nil && !isNoNode(err) && !errors.Is(err, zk.ErrBadVersion) && first == nil {
			first = err
		}
	}
	return first
}

// isSequentialOf reports whether a znode name is id followed by ZooKeeper's 10-character
// sequence number (%010d, so "-" and 9 digits once the counter wraps).
func isSequentialOf(name, id string) bool {
	seq, ok := strings.CutPrefix(name, id)
	if !ok || len(seq) != 10 {
		return false
	}
	for i := 0; i < len(seq); i++ {
		if !(seq[i] >= '0' && seq[i] <= '9' || i == 0 && seq[i] == '-') {
			return false
		}
	}
	return true
}

// keeper watches the znodes of a Discovery's registrations and restores one that someone
// else deletes, without a goroutine per registration: each znode has one data watch, set
// by the keeper's goroutine, and the watch events come by path from the Client's watch hub.
type keeper[T any] struct {
	mu      sync.Mutex
	pending map[*registration[T]]struct{} // to look at: arm a watch, or restore the znode
	armed   map[string]*registration[T]   // server path -> the registration whose watch is set there
	signal  chan struct{}                 // buffered, 1: pending has entries
	unsub   func()                        // ends the hub subscription
	busy    bool                          // the goroutine is looking at a registration
	idle    *broadcast.Signal             // fires whenever the goroutine has run out of work
}

// regOf returns the registration of inst, or nil.
func (d *Discovery[T]) regOf(inst Instance[T]) *registration[T] {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.regs[key(inst.Name, inst.ID)]
}

// keep asks the keeper goroutine to look at r's znode: set its watch if it has none, and
// restore the znode if it is gone.
func (d *Discovery[T]) keep(regs ...*registration[T]) {
	k := &d.keeper
	k.mu.Lock()
	for _, r := range regs {
		k.pending[r] = struct{}{}
	}
	k.mu.Unlock()
	select {
	case k.signal <- struct{}{}:
	default:
	}
}

// onWatch runs on go-zk's receive goroutine, through the hub, for every watch event under
// the base path: it only notes the registration whose watch fired.
func (d *Discovery[T]) onWatch(ev zk.Event) {
	k := &d.keeper
	if ev.Type == zk.EventNodeChildrenChanged {
		return // another recipe's child watch on an instance znode; not the keeper's
	}
	k.mu.Lock()
	r := k.armed[ev.Path]
	if r != nil {
		delete(k.armed, ev.Path)
		if r.watched == ev.Path {
			r.watched = ""
		}
		if ev.Type != zk.EventNotWatching {
			// Deleted (restore it), or changed or created (set the watch again). A
			// watch lost with its session is set again at the RECONNECTED.
			k.pending[r] = struct{}{}
		}
	}
	k.mu.Unlock()
	if r != nil {
		select {
		case k.signal <- struct{}{}:
		default:
		}
	}
}

// serverPath is the path of a znode on the server (with the Client's namespace).
func (d *Discovery[T]) serverPath(path string) string {
	ns := d.client.Namespace()
	if ns == "" {
		return path
	}
	if path == "/" {
		return ns
	}
	return ns + path
}

// keepAlive is the keeper's goroutine: it looks at the registrations it is asked to, one
// at a time, until Close.
func (d *Discovery[T]) keepAlive() {
	defer d.wg.Done()
	k := &d.keeper
	for {
		select {
		case <-k.signal:
		case <-d.ctx.Done():
			return
		}
		for {
			k.mu.Lock()
			var r *registration[T]
			for x := range k.pending {
				r = x
				break
			}
			if r != nil {
				delete(k.pending, r)
			}
			k.busy = r != nil
			k.mu.Unlock()
			if r == nil {
				k.idle.Fire()
				break
			}
			if d.ctx.Err() != nil {
				break
			}
			d.look(r)
		}
	}
}

// look sets the data watch on r's znode unless it is set already, and has the znode
// written again (by the background rewriter, which asks the keeper to look again once it
// has) when it is gone. A failed exists call is tried again at the next RECONNECTED or
// background rewrite (both ask the keeper to look at every registration). A registration
// whose lock is held (a Register, Update or rewrite in flight) is skipped: each of those
// asks the keeper to look when it is done.
func (d *Discovery[T]) look(r *registration[T]) {
	if !r.mu.TryLock() {
		return
	}
	path, removed := r.path, r.removed
	r.mu.Unlock()
	k := &d.keeper
	if removed || path == "" {
		// Unregistered; or not written yet (a write failed), in which case the
		// rewrite that writes it asks the keeper again.
		return
	}
	sp := d.serverPath(path)
	k.mu.Lock()
	if k.armed[sp] == r && r.watched == sp {
		k.mu.Unlock()
		return // its watch stands
	}
	if r.watched != "" && k.armed[r.watched] == r {
		// A watch on a path r left (a sequential znode written again under a new
		// name): its event, if any, is no longer r's business.
		delete(k.armed, r.watched)
	}
	// Noted before the call: the watch's event may be dispatched before the call returns.
	k.armed[sp], r.watched = r, sp
	k.mu.Unlock()
	// A data watch, not an exists watch: on a missing znode it is not set, so a
	// sequential znode written again under another name leaves no watch behind.
	_, _, _, err := d.client.GetW(d.ctx, path)
	if err != nil {
		k.mu.Lock()
		if k.armed[sp] == r {
			delete(k.armed, sp)
			r.watched = ""
		}
		k.mu.Unlock()
	}
	if !isNoNode(err) || !r.mu.TryLock() {
		return // watched; or the read failed, and is tried again as said above
	}
	defer r.mu.Unlock()
	if r.removed || r.path != path || d.ctx.Err() != nil {
		return // unregistered or written again meanwhile
	}
	d.logger().Info("discovery: instance znode deleted by someone else; restoring", "path", path)
	d.markDirty(r)
}
