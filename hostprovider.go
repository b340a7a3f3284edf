package zkrecipes

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"sync"
	"time"
)

// Backoff between passes over the servers of the Client's own host provider.
const (
	hostBackoffBase = 20 * time.Millisecond
	hostBackoffMax  = 500 * time.Millisecond
	// hostBackoffFast caps the backoff while the session may still be alive: for the
	// negotiated session timeout after the connection was lost, a server that comes back is
	// found within this much, so that the session can be resumed.
	hostBackoffFast = 100 * time.Millisecond
	// hostLookupTimeout bounds one name lookup.
	hostLookupTimeout = 2 * time.Second
)

// hostProvider is the zk.HostProvider a Client uses unless WithHostProvider gives one.
// It replaces go-zk's DNSHostProvider, which resolves every name once, in Init (so one
// unresolvable name fails Connect and a DNS change is never followed), and which makes go-zk
// pause a fixed second whenever it has gone once round the server list (with one server:
// before every reconnect).
//
// Rotation: the hosts are shuffled once (to spread clients over the ensemble) and then
// tried in turn; after a disconnection the next server in the list comes first, so a client
// whose server died tries the others before it. A pass is one turn through every host. The
// first pass after a (re)connection starts at once and its servers are tried back to back;
// each later pass waits a jittered backoff first (in [d/2, d], d = 20 ms doubling up to 100 ms
// while the session may still be alive, that is for the session timeout after the first failed
// pass, and up to 500 ms after that), so the delay grows only while every server fails, and a
// server that comes back in time to save the session is found within 100 ms. Connected (a
// session was established) resets it.
//
// Names are resolved lazily: a host is looked up when its turn comes, on every pass, so a
// DNS change is followed at the next pass. A host whose lookup fails (or takes longer than
// 2 s) is logged at warn level and skipped; its addresses are tried in the order the
// resolver gave them. When no host resolves during a whole pass, Next returns a host as
// given, so go-zk's dial reports the failure and the loop goes on.
//
// retryStart: go-zk fails its unsent requests with ErrNoServer and then sleeps a fixed 1 s
// whenever Next reports true. The backoff above replaces that sleep, so Next reports true
// only when a pass has failed while go-zk still holds a call of the Client's: one sent in
// the moment between the connection dropping and the Client noticing (later ones are held
// by the Client itself: awaitConnection fails them unsent with ErrNoServer after 1 s). go-zk
// would keep such a call until a server answers; instead it fails it, not sent, and the
// operation retries under its policy as before, at the price of go-zk's 1 s pause for that
// outage. An idle client, or one whose next server answers in the first pass, never pauses.
// Once the Client closes (life is done), the backoff is skipped and Next reports true at
// the end of each pass, which is the only point where go-zk's dialing loop notices its
// Close: the pending close request is answered and the loop ends. Closing go-zk's Conn
// directly (Client.Conn().Close()) is therefore not enough to stop a Client's dialing loop:
// use Client.Close.
//
// go-zk calls Init, Next and Connected from one goroutine at a time; the mutex only keeps
// the race detector and future callers honest.
type hostProvider struct {
	life   context.Context // done when the Client closes
	log    *slog.Logger
	lookup func(ctx context.Context, host string) ([]string, error)
	// literal hands go-zk host names unresolved (the dialer resolves them on every dial),
	// for TLS, which verifies the server certificate against the name.
	literal bool
	wait    func(ctx context.Context, d time.Duration) // the backoff sleep, for tests
	jitter  func(d time.Duration) time.Duration
	// queued reports whether the Client has calls in go-zk that have not returned (nil:
	// never).
	queued func() bool
	// sessionTimeout is the negotiated session timeout (nil: none, so the backoff is never
	// capped at hostBackoffFast).
	sessionTimeout func() time.Duration
	now            func() time.Time

	mu       sync.Mutex
	hosts    []hostPort
	next     int       // index into hosts of the host whose turn is next
	visited  int       // hosts whose turn came in this pass
	pending  []string  // resolved addresses of the current host not yet returned
	returned bool      // an address was returned in this pass
	failed   int       // passes completed since the last Connected
	since    time.Time // when the first of them completed
}

type hostPort struct {
	raw, host, port string
}

func newHostProvider(life context.Context, log *slog.Logger) *hostProvider {
	return &hostProvider{
		life:   life,
		log:    log,
		lookup: net.DefaultResolver.LookupHost,
		wait:   sleepCtx,
		now:    time.Now,
		jitter: func(d time.Duration) time.Duration {
			return d/2 + rand.N(d/2+1)
		},
	}
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// Init records the servers (host:port each) without resolving them. It fails only for an
// entry that is not host:port (Connect has checked them already).
func (p *hostProvider) Init(servers []string) error {
	hosts := make([]hostPort, 0, len(servers))
	for _, s := range servers {
		h, port, err := net.SplitHostPort(s)
		if err != nil {
			return fmt.Errorf("%w: server %q: %v", ErrInvalidArgument, s, err)
		}
		hosts = append(hosts, hostPort{raw: s, host: h, port: port})
	}
	if len(hosts) == 0 {
		return fmt.Errorf("%w: no ZooKeeper server given", ErrInvalidArgument)
	}
	rand.Shuffle(len(hosts), func(i, j int) { hosts[i], hosts[j] = hosts[j], hosts[i] })
	p.mu.Lock()
	defer p.mu.Unlock()
	p.hosts, p.next, p.visited, p.pending, p.returned, p.failed = hosts, 0, 0, nil, false, 0
	return nil
}

// Len returns the number of servers given (not of addresses: those are known only pass by
// pass).
func (p *hostProvider) Len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.hosts)
}

// Next returns the address to dial next. It blocks for the backoff between passes (at most
// 500 ms, cut short when the Client closes) and for name lookups (at most 2 s each, also cut
// short by Close).
func (p *hostProvider) Next() (server string, retryStart bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	wrapped, flush := false, false
	for {
		if len(p.pending) > 0 {
			a := p.pending[0]
			p.pending = p.pending[1:]
			p.returned = true
			return a, wrapped && (flush || p.closing())
		}
		if p.visited == len(p.hosts) {
			// A pass is over without a session.
			p.visited = 0
			if !p.returned {
				// Nothing resolved: let go-zk dial a name as given, so that
				// its loop goes on (and sees a Close).
				p.returned = true
				h := p.hosts[(p.next+len(p.hosts)-1)%len(p.hosts)]
				return h.raw, p.closing() || p.hasQueued()
			}
			p.returned = false
			wrapped = true
			if p.hasQueued() {
				// go-zk holds requests of ours that it never sent: let it fail
				// them (ErrNoServer, not sent) rather than hold them until a
				// server answers. It pauses 1 s after that, instead of our wait.
				flush = true
			} else if !p.closing() {
				if p.failed == 0 {
					p.since = p.now()
				}
				d := min(hostBackoffBase<<min(p.failed, 16), p.backoffCap())
				p.failed++
				p.wait(p.life, p.jitter(d))
			}
		}
		h := p.hosts[p.next]
		p.next = (p.next + 1) % len(p.hosts)
		p.visited++
		if p.closing() {
			p.pending = []string{h.raw}
			continue
		}
		addrs, err := p.resolve(h.host)
		if err != nil {
			p.log.Warn("zkrecipes: cannot resolve ZooKeeper server; skipping it this pass",
				"server", h.raw, "err", err)
			continue
		}
		for _, a := range addrs {
			p.pending = append(p.pending, net.JoinHostPort(a, h.port))
		}
	}
}

func (p *hostProvider) resolve(host string) ([]string, error) {
	if p.literal || net.ParseIP(host) != nil {
		return []string{host}, nil
	}
	ctx, cancel := context.WithTimeout(p.life, hostLookupTimeout)
	defer cancel()
	addrs, err := p.lookup(ctx, host)
	if err == nil && len(addrs) == 0 {
		err = fmt.Errorf("no addresses for %q", host)
	}
	return addrs, err
}

// backoffCap is hostBackoffFast while the session may still be alive, hostBackoffMax after.
func (p *hostProvider) backoffCap() time.Duration {
	if p.sessionTimeout != nil && p.now().Sub(p.since) < p.sessionTimeout() {
		return hostBackoffFast
	}
	return hostBackoffMax
}

// Connected resets the backoff: go-zk established a session with the last address.
func (p *hostProvider) Connected() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.failed = 0
	// The next disconnection starts a fresh pass at once: the current host's remaining
	// addresses first (from the lookup made before this connection), then the next hosts,
	// this one last.
	p.visited, p.returned = 0, false
}

func (p *hostProvider) closing() bool { return p.life.Err() != nil }

func (p *hostProvider) hasQueued() bool { return p.queued != nil && p.queued() }
