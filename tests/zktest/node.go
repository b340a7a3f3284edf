package zktest

import (
	"context"
	"fmt"
	"sync"
)

// Node is one ZooKeeper server the harness runs, with the faults a test can inject into it.
// Its methods are safe for concurrent use; each returns once the backend has carried the
// fault out (a stopped node is down, a paused one frozen), not once the rest of the ensemble
// has noticed: wait for that with Ensemble.Leader or WaitReady.
type Node struct {
	// ID is the server id (myid), 1..n in an ensemble and 0 for a standalone server.
	ID int
	// Name is the node's name among its peers: "zk1", "zk2", ... ("zk" when standalone).
	Name string

	drv nodeDriver

	mu          sync.Mutex
	down        bool // stopped or killed
	paused      bool
	partitioned bool
}

func newNode(id int, drv nodeDriver) *Node {
	name := "zk"
	if id > 0 {
		name = fmt.Sprintf("zk%d", id)
	}
	return &Node{ID: id, Name: name, drv: drv}
}

// Addr returns the host:port clients reach the node at now. On Docker it changes when the
// node is stopped and started; Ensemble.HostProvider follows it.
func (n *Node) Addr() string { return n.drv.addr() }

// SecureAddr returns the host:port of the node's TLS port (WithTLS), "" without one. On
// Docker it changes when the node is stopped and started, like Addr.
func (n *Node) SecureAddr() string { return n.drv.secureAddr() }

// Mode asks the node for `srvr`; ModeNone with a nil error means it runs but does not serve
// (no quorum). A stopped or paused node returns an error.
func (n *Node) Mode(ctx context.Context) (Mode, error) { return ServerMode(ctx, n.Addr()) }

// WaitReady waits until the node serves (`srvr` reports a Mode) or ctx ends.
func (n *Node) WaitReady(ctx context.Context) error {
	_, err := waitServing(ctx, n.Addr(), n.drv.exited)
	return err
}

// Stop stops the server gracefully (SIGTERM, SIGKILL after 10 s) and returns once it is down.
// Its data survives for Start. Sessions connected to it move to other members.
func (n *Node) Stop(ctx context.Context) error {
	return n.do(ctx, "stop", n.drv.stop, func() { n.down, n.paused = true, false })
}

// Start starts a stopped or killed server again with its data and returns once it is
// launched; call WaitReady to wait until it serves. On Docker it gets a new host port.
func (n *Node) Start(ctx context.Context) error {
	return n.do(ctx, "start", n.drv.start, func() { n.down, n.paused = false, false })
}

// Kill kills the server at once (SIGKILL: no shutdown, like a crash) and returns once it is
// down.
func (n *Node) Kill(ctx context.Context) error {
	return n.do(ctx, "kill", n.drv.kill, func() { n.down, n.paused = true, false })
}

// Pause freezes the server (docker pause; SIGSTOP locally): its sockets stay open and new
// connections are still accepted, by the kernel or Docker's port proxy, but nothing answers,
// like a long GC pause or a hung machine. Peers drop it after syncLimit ticks. Note that a
// go-zk client that connects to a frozen server waits out its handshake timeout (10 x its
// read timeout: about 27 s for a 4 s session) before it tries another server.
func (n *Node) Pause(ctx context.Context) error {
	return n.do(ctx, "pause", n.drv.pause, func() { n.paused = true })
}

// Unpause lets a paused server run again.
func (n *Node) Unpause(ctx context.Context) error {
	return n.do(ctx, "unpause", n.drv.unpause, func() { n.paused = false })
}

// Partition cuts the node off from the other members of its ensemble while clients can still
// reach its client port. The node loses quorum, so after at most syncLimit ticks it stops
// serving and closes its client connections; the majority elects a leader without it.
// Docker: the container is disconnected from the ensemble's network (clients reach it through
// a port published on the default bridge, which stays). Local: the harness's TCP proxies
// between the node and its peers close their connections and refuse new ones. A standalone
// server has no peers: ErrUnsupported.
func (n *Node) Partition(ctx context.Context) error {
	return n.do(ctx, "partition", n.drv.partition, func() { n.partitioned = true })
}

// Heal undoes Partition: the node can reach its peers again and rejoins the ensemble.
func (n *Node) Heal(ctx context.Context) error {
	return n.do(ctx, "heal", n.drv.heal, func() { n.partitioned = false })
}

func (n *Node) do(ctx context.Context, what string, op func(context.Context) error, then func()) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if err := op(ctx); err != nil {
		return fmt.Errorf("zktest: %s %s: %w", what, n.Name, err)
	}
	then()
	return nil
}

// serving reports whether the harness left the node able to serve: running, not paused and
// not partitioned.
func (n *Node) serving() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return !n.down && !n.paused && !n.partitioned
}
