package zktest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
)

// Ensemble is a ZooKeeper ensemble of its own for one test: containers on a Docker network
// of their own, or local processes on 127.0.0.1. It is removed when the test ends.
type Ensemble struct {
	// Nodes are the members, Nodes[i].ID == i+1.
	Nodes []*Node
}

// StartEnsemble starts an ensemble of n members for this test and returns once every member
// serves. On the external backend the test is skipped: the harness cannot control those
// servers. With no backend it skips, or fails under ZK_TEST_REQUIRE=1.
func StartEnsemble(t testing.TB, n int, opts ...Option) *Ensemble {
	t.Helper()
	cfg, err := newConfig(opts)
	if err != nil {
		t.Fatal(err)
	}
	if n < 1 {
		t.Fatalf("zktest: StartEnsemble(%d): want at least one member", n)
	}
	b := backendFor(t)
	if _, ok := b.(*externalBackend); ok {
		t.Skipf("zktest: skipping: this test needs an ensemble it can fault, and the external backend (%s) cannot start one; "+
			"run it with %s=docker or %s=local", EnvServers, EnvBackend, EnvBackend)
	}
	ctx, cancel := context.WithTimeout(context.Background(), cfg.startTimeout)
	defer cancel()
	drvs, closeShared, err := b.startEnsemble(ctx, cfg, t.Name(), n)
	if err != nil {
		t.Fatalf("backend %s: start ensemble: %v", b.name(), err)
	}
	e := &Ensemble{}
	for i, d := range drvs {
		e.Nodes = append(e.Nodes, newNode(i+1, d))
	}
	t.Cleanup(func() {
		if t.Failed() {
			logTails(t, e.Nodes...)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		var errs []error
		for _, n := range e.Nodes {
			errs = append(errs, n.drv.close(ctx))
		}
		errs = append(errs, closeShared(ctx))
		if err := errors.Join(errs...); err != nil {
			t.Errorf("zktest: remove ensemble: %v", err)
		}
	})
	if err := e.WaitReady(ctx); err != nil {
		t.Fatalf("backend %s: ensemble of %d: %v", b.name(), n, err)
	}
	return e
}

// Servers returns the members' current client addresses. A zk.Conn given only these loses a
// Docker member that restarts on a new port; pass HostProvider too.
func (e *Ensemble) Servers() []string {
	s := make([]string, len(e.Nodes))
	for i, n := range e.Nodes {
		s[i] = n.Addr()
	}
	return s
}

// ConnectString returns Servers joined by commas.
func (e *Ensemble) ConnectString() string { return strings.Join(e.Servers(), ",") }

// HostProvider returns a new zk.HostProvider (for zk.WithHostProvider) that ignores the
// server list given to zk.Connect and hands out each member's current address, looked up
// at every reconnect, so a session survives members restarting on new ports. Use one per
// zk.Conn.
func (e *Ensemble) HostProvider() zk.HostProvider { return newHostProvider(e.Nodes) }

// Leader waits until exactly one member that the harness left serving (running, not paused,
// not partitioned) reports Mode leader over `srvr`, and returns it; it returns an error when
// ctx ends first.
func (e *Ensemble) Leader(ctx context.Context) (*Node, error) {
	for {
		var leaders []*Node
		modes := e.modes(ctx)
		for i, m := range modes {
			if m == ModeLeader {
				leaders = append(leaders, e.Nodes[i])
			}
		}
		if len(leaders) == 1 {
			return leaders[0], nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("zktest: no single leader (modes %v): %w", modes, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// modes asks every serving member for its mode at once; members that are not serving, or do
// not answer, get ModeNone.
func (e *Ensemble) modes(ctx context.Context) []Mode {
	modes := make([]Mode, len(e.Nodes))
	var wg sync.WaitGroup
	for i, n := range e.Nodes {
		if !n.serving() {
			continue
		}
		wg.Go(func() { modes[i], _ = n.Mode(ctx) })
	}
	wg.Wait()
	return modes
}

// WaitReady waits until every member the harness left serving (running, not paused, not
// partitioned) serves.
func (e *Ensemble) WaitReady(ctx context.Context) error {
	errs := make([]error, len(e.Nodes))
	var wg sync.WaitGroup
	for i, n := range e.Nodes {
		if !n.serving() {
			continue
		}
		wg.Go(func() { errs[i] = n.WaitReady(ctx) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// hostProvider is a zk.HostProvider over harness nodes that reads each node's address when
// go-zk asks for it.
type hostProvider struct {
	mu         sync.Mutex
	nodes      []*Node
	curr, last int
	secure     bool // the nodes' TLS ports
}

func newHostProvider(nodes []*Node) *hostProvider {
	ns := append([]*Node(nil), nodes...)
	// Spread clients over the members, as go-zk's own provider does.
	rand.Shuffle(len(ns), func(i, j int) { ns[i], ns[j] = ns[j], ns[i] })
	return &hostProvider{nodes: ns, curr: -1, last: -1}
}

func newSecureHostProvider(nodes []*Node) *hostProvider {
	p := newHostProvider(nodes)
	p.secure = true
	return p
}

// Init ignores servers: the nodes are the truth.
func (p *hostProvider) Init([]string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.curr, p.last = -1, -1
	return nil
}

func (p *hostProvider) Len() int { return len(p.nodes) }

// Next follows go-zk's DNSHostProvider: retryStart is true once every node was tried since
// the last successful connection.
func (p *hostProvider) Next() (string, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.curr = (p.curr + 1) % len(p.nodes)
	retryStart := p.curr == p.last
	if p.last == -1 {
		p.last = 0
	}
	if p.secure {
		return p.nodes[p.curr].SecureAddr(), retryStart
	}
	return p.nodes[p.curr].Addr(), retryStart
}

func (p *hostProvider) Connected() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.last = p.curr
}
