package zkrecipes

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/zkrecipes/zkrecipes/internal/watchhub"
	"github.com/zkrecipes/zkrecipes/retry"
)

// Client is a ZooKeeper connection with Curator's connection states and retrying,
// context-aware operations. It is safe for concurrent use. Create it with Connect and
// release it with Close.
type Client struct {
	// cur is the current go-zk connection object and what belongs to it; the watchdog
	// replaces it when go-zk's loop wedges (see gen). gens holds every gen, for Close.
	cur       atomic.Pointer[gen]
	gensMu    sync.Mutex
	gens      []*gen
	replaceMu sync.Mutex
	hosts     []string

	cfg        config
	ns         string
	log        *slog.Logger
	sm         *stateMachine
	negotiated negotiatedTimeout

	// life is cancelled by Close; background work (guaranteed deletes, orphan cleanup,
	// abandoned calls) is tracked by bg so Close can wait for it.
	life     context.Context
	stopLife context.CancelFunc
	bg       sync.WaitGroup
	bgMu     sync.Mutex
	bgDone   bool // set by Close before it waits for bg: nothing is tracked after that

	// abandoned ends every dial and connection go-zk has, of every gen (see wrap and
	// shutdownConn).
	abandoned context.Context
	abandon   context.CancelFunc

	// hub routes every watch event by path to the recipes that subscribed (see hub.go).
	hub *watchhub.Hub

	closeOnce sync.Once
}

// Connect opens a session with the given servers and blocks until it is established, the
// connection timeout passes (ErrConnectTimeout) or ctx is done. Each element of servers is
// a host:port or a whole connect string ("zk1:2181,zk2:2181/chroot"); a chroot becomes the
// namespace (a WithNamespace is appended to it). A malformed server entry (no host, a port
// that is not a number in 1..65535, an empty entry) or chroot, like a bad option, is refused
// at once, before anything is dialed, with an error that matches ErrInvalidArgument and
// names it (see ParseConnectString).
//
// Servers are tried in turn (in an order shuffled once per Client), by name: each name is
// resolved when its turn comes, on every pass, so a DNS change is followed and a name that
// does not resolve is logged (warn) and skipped while another server answers; Connect fails
// only when no server gives a session within the connection timeout. After a disconnection
// the other servers are tried at once, one after another; only while every server fails
// does the Client wait between passes, with a jittered backoff from 20 ms doubling up to 500 ms
// (reset by each new connection). When a pass fails while an operation's request waits
// unsent in go-zk's queue (it was issued as the connection dropped), go-zk is let fail it
// with zk.ErrNoServer (retried under the policy) and then pauses 1 s, once. WithHostProvider
// replaces this policy.
func Connect(ctx context.Context, servers []string, opts ...Option) (*Client, error) {
	cfg := defaultConfig()
	for _, o := range opts {
		o(&cfg)
	}
	if len(cfg.errs) > 0 {
		return nil, errors.Join(cfg.errs...)
	}
	var hosts []string
	chroot := ""
	for _, s := range servers {
		h, cr, err := ParseConnectString(s)
		if err != nil {
			return nil, err
		}
		hosts = append(hosts, h...)
		if cr != "" {
			if chroot != "" && chroot != cr {
				return nil, fmt.Errorf("%w: two different chroots %q and %q", ErrInvalidArgument, chroot, cr)
			}
			chroot = cr
		}
	}
	if len(hosts) == 0 {
		return nil, fmt.Errorf("%w: no ZooKeeper server given", ErrInvalidArgument)
	}
	ns, err := normalizeNamespace(chroot, cfg.namespace)
	if err != nil {
		return nil, err
	}
	log := cfg.logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Client{cfg: cfg, ns: ns, log: log, hub: watchhub.New(), hosts: hosts}
	c.negotiated.handshake = max(cfg.sessionTimeout/time.Duration(len(hosts)), time.Second)
	c.negotiated.tls = cfg.tls
	c.negotiated.authFrames, c.negotiated.authCount = authFrames(cfg.auth), len(cfg.auth)
	c.negotiated.onErr = func(err error, bad bool) {
		if bad {
			log.Warn("zkrecipes: connection to ZooKeeper failed", "err", err)
		} else {
			log.Debug("zkrecipes: connection to ZooKeeper failed", "err", err)
		}
	}
	c.life, c.stopLife = context.WithCancel(context.Background())
	c.abandoned, c.abandon = context.WithCancel(context.Background())
	c.sm = newStateMachine(func() time.Duration { return c.negotiated.get(cfg.sessionTimeout) },
		func(msg string, args ...any) { log.Info(msg, args...) })

	// Before go-zk can connect, so that the hooks hear CONNECTED.
	stopHooks := func() {}
	if cfg.hooks.StateChange != nil || cfg.hooks.SessionExpired != nil {
		stopHooks = c.listen(c.stateHooks, false, true)
	}

	if _, err := c.newGen(nil); err != nil {
		stopHooks()
		c.stopLife()
		c.abandon()
		c.bg.Wait()
		return nil, fmt.Errorf("zkrecipes: connect %v: %w", hosts, err)
	}

	if c.track() {
		go c.runWatchdog()
	}

	// Once the timeout passes Connect gives up at once: Close abandons the dial or the
	// handshake in flight rather than waiting it out (see shutdownConn).
	wctx, cancel := context.WithTimeout(ctx, cfg.connectionTimeout)
	defer cancel()
	if err := c.sm.waitConnected(wctx); err != nil {
		_ = c.Close(context.Background())
		last := c.negotiated.lastError()
		switch {
		case ctx.Err() != nil && last != nil:
			return nil, fmt.Errorf("zkrecipes: connect %v: %w (last connection error: %w)", hosts, ctx.Err(), last)
		case ctx.Err() != nil:
			return nil, fmt.Errorf("zkrecipes: connect %v: %w", hosts, ctx.Err())
		case last != nil:
			return nil, fmt.Errorf("%w: %v within %v; last connection error: %w", ErrConnectTimeout, hosts, cfg.connectionTimeout, last)
		}
		return nil, fmt.Errorf("%w: %v within %v", ErrConnectTimeout, hosts, cfg.connectionTimeout)
	}
	return c, nil
}

// Conn returns the underlying go-zk connection for anything the Client does not wrap.
// Paths on it are server paths (the namespace is not applied) and calls on it are not
// retried, nor counted by the watchdog. The Client replaces its go-zk connection when the
// watchdog finds go-zk's loop wedged (see Hooks.Watchdog): a *zk.Conn taken before that is
// closed then (its pending calls fail with zk.ErrConnectionClosed, its watches never fire,
// and credentials added to it with AddAuth are not carried over), so take Conn again for
// each use rather than keeping it.
func (c *Client) Conn() *zk.Conn { return c.zk() }

// Namespace returns the server path that the Client's "/" maps to ("" without namespace).
func (c *Client) Namespace() string { return c.ns }

// Logger returns the Client's logger, for recipes built on it.
func (c *Client) Logger() *slog.Logger { return c.log }

// State returns the current connection state.
func (c *Client) State() State {
	st, _ := c.sm.current()
	return st
}

// SessionID returns the id of the current (or last) session: 0 once go-zk was told the
// session expired, until the next one is established.
func (c *Client) SessionID() int64 {
	g := c.gen()
	if id := g.conn.SessionID(); id != 0 || g.resume == nil || g.resume.answered.Load() {
		return id
	}
	return g.resume.id // a replacement gen offering the session, before a server answered
}

// SessionTimeout returns the session timeout the server negotiated (the requested one
// until a session was established).
func (c *Client) SessionTimeout() time.Duration {
	return c.negotiated.get(c.cfg.sessionTimeout)
}

// RetryPolicy returns the Client's retry policy.
func (c *Client) RetryPolicy() retry.Policy { return c.cfg.policy }

// Hooks returns the hooks the Client was given (see Hooks), for recipes built on it: they
// report their own events (leadership, locks, caches, registrations) through them.
func (c *Client) Hooks() Hooks { return c.cfg.hooks }

// ACL returns the ACL the Client puts on the nodes it creates.
func (c *Client) ACL() []zk.ACL { return c.cfg.acl }

// BlockUntilConnected waits until the client is CONNECTED or RECONNECTED. It returns
// ctx.Err() when ctx ends first and ErrClosed when the client is closed.
func (c *Client) BlockUntilConnected(ctx context.Context) error { return c.sm.waitConnected(ctx) }

// Listen registers fn to be called for every later state transition. Each listener has
// its own goroutine and queue: calls to one listener are sequential and in order, a slow
// listener delays no other listener and never go-zk. The returned stop function
// unregisters fn; it does not wait for a call in progress and may be called from fn. After
// Close, a listener's last call is StateClosed. Listen on a closed client returns a no-op
// and fn is never called (also with WithCurrentState).
//
// With [WithCurrentState], fn is first called with the state the client is in (marked
// Initial: it is not a transition), then with every transition after it, in order and
// none missed, so a listener added after Connect knows where it stands.
func (c *Client) Listen(fn func(StateChange), opts ...ListenOption) (stop func()) {
	var lc listenConfig
	for _, o := range opts {
		o(&lc)
	}
	return c.listen(fn, lc.current, false)
}

// listen is Listen; hooks makes the listener the one that runs the hooks (see
// stateMachine.hooks).
func (c *Client) listen(fn func(StateChange), current, hooks bool) (stop func()) {
	l, ok := c.sm.add(fn, current, hooks)
	if !ok {
		return func() {}
	}
	if !c.track() {
		c.sm.remove(l)
		return func() {}
	}
	go func() {
		defer c.bg.Done()
		l.run()
	}()
	return func() {
		c.sm.remove(l)
		l.stop()
	}
}

// ListenOption configures one Client.Listen.
type ListenOption func(*listenConfig)

type listenConfig struct {
	current bool
}

// WithCurrentState makes the listener's first call a synthetic StateChange with the
// client's current state, its session (for SUSPENDED and LOST, the one that was in use)
// and the time the state began, with Initial set and NewSession false. Later calls are the
// transitions that followed it.
func WithCurrentState() ListenOption {
	return func(lc *listenConfig) { lc.current = true }
}

// Close ends the session (its ephemeral nodes vanish at once), reports StateClosed to
// listeners, stops background retries (pending guaranteed deletes are abandoned) and waits
// until every goroutine the Client started has returned, or ctx is done. It is idempotent.
// A dial or handshake in progress is abandoned, not waited out. Without a connection to
// send the close request on (SUSPENDED), Close waits up to 1 s for go-zk to reconnect and
// send it, then gives up: the server then expires the session after its timeout.
// Writes still waiting for a reply when Close runs fail with an error that matches both
// ErrClosed and ErrOutcomeUnknown: they may have been applied.
//
// Do not call Close from a state listener or a Hooks callback: Close waits for the
// goroutines that run them, so it would wait for itself until ctx ends. Call it from
// another goroutine instead.
func (c *Client) Close(ctx context.Context) error {
	c.closeOnce.Do(func() {
		c.stopLife()
		c.replaceMu.Lock() // a replacement under way ends first; none starts after (see replace)
		c.sm.close()
		c.replaceMu.Unlock()
		c.shutdownConn(ctx)
		c.bgMu.Lock()
		c.bgDone = true
		c.bgMu.Unlock()
	})
	done := make(chan struct{})
	go func() {
		c.bg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		return fmt.Errorf("zkrecipes: close: %w", ctx.Err())
	}
	return c.waitGens(ctx)
}

// stateHooks runs on the hooks listener's goroutine (see stateMachine.hooks).
func (c *Client) stateHooks(sc StateChange) {
	if sc.State == stateExpired {
		if h := c.cfg.hooks.SessionExpired; h != nil {
			h(context.Background(), SessionExpiredEvent{SessionID: sc.SessionID, Time: sc.Time})
		}
		return
	}
	if h := c.cfg.hooks.StateChange; h != nil {
		h(context.Background(), sc)
	}
}

// track counts one more goroutine for Close to wait for, unless Close is already waiting:
// then it reports false and the caller must not start the goroutine.
func (c *Client) track() bool {
	c.bgMu.Lock()
	defer c.bgMu.Unlock()
	if c.bgDone {
		return false
	}
	c.bg.Add(1)
	return true
}

// closed reports whether Close was called.
func (c *Client) closed() bool { return c.life.Err() != nil }

type zkLogger struct{ l *slog.Logger }

func (z zkLogger) Printf(format string, args ...any) {
	if z.l.Enabled(context.Background(), slog.LevelDebug) {
		z.l.Debug(fmt.Sprintf(format, args...), "source", "go-zk")
	}
}
