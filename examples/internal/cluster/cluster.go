// Package cluster runs the demo's processes (bookservice nodes, the gateway, nginxconf) for
// the demo command and the end-to-end tests: it builds the commands, starts them on given
// ports against one ZooKeeper, asks them what they see, and stops them by PID.
package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/zkrecipes/zkrecipes/examples/internal/procs"
)

// Commands are the example commands, by import path.
var Commands = []string{
	"github.com/zkrecipes/zkrecipes/examples/bookservice",
	"github.com/zkrecipes/zkrecipes/examples/gateway",
	"github.com/zkrecipes/zkrecipes/examples/nginxconf",
}

// Build compiles packages (Commands when none are given) into dir with `go build` and
// extra build flags (-race, say). It must run inside the module (any directory of the
// checkout).
func Build(ctx context.Context, dir string, flags []string, packages ...string) error {
	if len(packages) == 0 {
		packages = Commands
	}
	args := append([]string{"build", "-o", dir + string(os.PathSeparator)}, flags...)
	args = append(args, packages...)
	cmd := exec.CommandContext(ctx, "go", args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("go build: %w\n%s", err, out)
	}
	return nil
}

// Options describe the cluster every process joins.
type Options struct {
	BinDir         string        // where Build put the commands
	ZK             string        // ZooKeeper connect string
	SessionTimeout time.Duration // every process's ZooKeeper session timeout
	LatchPath      string        // default /example/leader
	BasePath       string        // default /service-discovery
	Service        string        // default bookService
	Echo           io.Writer     // if set, the processes' output is copied here, line-prefixed
}

// Cluster is a set of running processes. Its methods are safe for concurrent use.
type Cluster struct {
	opts   Options
	client *http.Client

	mu      sync.Mutex
	procs   []*procs.Process // everything started, for Close
	nodes   map[string]*Node
	gateway *Gateway
}

// New returns an empty cluster.
func New(opts Options) *Cluster {
	if opts.LatchPath == "" {
		opts.LatchPath = "/example/leader"
	}
	if opts.BasePath == "" {
		opts.BasePath = "/service-discovery"
	}
	if opts.Service == "" {
		opts.Service = "bookService"
	}
	return &Cluster{
		opts: opts,
		// No keep-alive: a killed instance must not leave a pooled connection behind, and
		// every request should see the routing as it is now.
		// The timeout leaves room for a write the gateway holds during a failover (its
		// -write-wait is the session timeout plus 2 s).
		client: &http.Client{
			Timeout:   opts.SessionTimeout + 15*time.Second,
			Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil},
		},
		nodes: map[string]*Node{},
	}
}

// Options returns the cluster's options, defaults filled in.
func (c *Cluster) Options() Options { return c.opts }

// HTTP returns the client the cluster uses: no keep-alive, 5 s timeout.
func (c *Cluster) HTTP() *http.Client { return c.client }

// Node is one bookservice process.
type Node struct {
	ID   string
	Port int
	Proc *procs.Process
	Args []string
}

// URL returns the node's URL for path.
func (n *Node) URL(path string) string { return procs.URL(n.Port, path) }

func (c *Cluster) start(name, cmd string, args []string) (*procs.Process, error) {
	p, err := procs.Start(name, filepath.Join(c.opts.BinDir, cmd), args, nil, c.opts.Echo)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.procs = append(c.procs, p)
	c.mu.Unlock()
	return p, nil
}

func (c *Cluster) common() []string {
	return []string{
		"-zk", c.opts.ZK,
		"-session-timeout", c.opts.SessionTimeout.String(),
		"-base-path", c.opts.BasePath,
		"-service", c.opts.Service,
	}
}

// StartNode starts a bookservice node listening on 127.0.0.1:port and waits until it
// answers /health with 200 (connected and registered).
func (c *Cluster) StartNode(ctx context.Context, id string, port int) (*Node, error) {
	args := append(c.common(),
		"-id", id,
		"-port", strconv.Itoa(port),
		"-bind", "127.0.0.1",
		"-advertised-address", "127.0.0.1",
		"-latch-path", c.opts.LatchPath,
	)
	p, err := c.start(id, "bookservice", args)
	if err != nil {
		return nil, err
	}
	n := &Node{ID: id, Port: port, Proc: p, Args: args}
	c.mu.Lock()
	c.nodes[id] = n
	c.mu.Unlock()
	err = c.poll(ctx, p, id+" healthy", func(ctx context.Context) (bool, error) {
		r, err := procs.Do(ctx, c.client, http.MethodGet, n.URL("/health"))
		return err == nil && r.Status == http.StatusOK, err
	})
	return n, err
}

// Node returns the node with this id (nil if none was started).
func (c *Cluster) Node(id string) *Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes[id]
}

// Gateway is the gateway process.
type Gateway struct {
	Port int
	Proc *procs.Process
}

// URL returns the gateway's URL for path.
func (g *Gateway) URL(path string) string { return procs.URL(g.Port, path) }

// StartGateway starts the gateway on 127.0.0.1:port and waits until it serves.
func (c *Cluster) StartGateway(ctx context.Context, port int) (*Gateway, error) {
	args := append(c.common(), "-listen", "127.0.0.1:"+strconv.Itoa(port))
	p, err := c.start("gateway", "gateway", args)
	if err != nil {
		return nil, err
	}
	g := &Gateway{Port: port, Proc: p}
	c.mu.Lock()
	c.gateway = g
	c.mu.Unlock()
	err = c.poll(ctx, p, "gateway serving", func(ctx context.Context) (bool, error) {
		_, err := c.GatewayStatus(ctx)
		return err == nil, err
	})
	return g, err
}

// StartNginxconf starts nginxconf with extra arguments (-out, -listen, ...); it does not wait.
func (c *Cluster) StartNginxconf(args ...string) (*procs.Process, error) {
	return c.start("nginxconf", "nginxconf", append(c.common(), args...))
}

// GatewayStatus is the gateway's /_gateway/status document.
type GatewayStatus struct {
	Service   string `json:"service"`
	Instances []struct {
		ID     string `json:"id"`
		Port   int    `json:"port"`
		Leader bool   `json:"leader"`
	} `json:"instances"`
	Leader string   `json:"leader"`
	Down   []string `json:"down"`
}

// IDs returns the ids of the instances the gateway sees, sorted.
func (s GatewayStatus) IDs() []string {
	var ids []string
	for _, in := range s.Instances {
		ids = append(ids, in.ID)
	}
	sort.Strings(ids)
	return ids
}

// GatewayStatus asks the gateway what it sees.
func (c *Cluster) GatewayStatus(ctx context.Context) (GatewayStatus, error) {
	c.mu.Lock()
	g := c.gateway
	c.mu.Unlock()
	var st GatewayStatus
	if g == nil {
		return st, errors.New("no gateway started")
	}
	r, err := procs.Do(ctx, c.client, http.MethodGet, g.URL("/_gateway/status"))
	if err != nil {
		return st, err
	}
	if r.Status != http.StatusOK {
		return st, fmt.Errorf("gateway status: %d %s", r.Status, r.Body)
	}
	err = json.Unmarshal([]byte(r.Body), &st)
	return st, err
}

// WaitGateway waits until the gateway sees exactly the instances ids, none of them marked
// down, and leader.
func (c *Cluster) WaitGateway(ctx context.Context, leader string, ids ...string) (GatewayStatus, error) {
	sort.Strings(ids)
	want := strings.Join(ids, ",")
	var st GatewayStatus
	c.mu.Lock()
	g := c.gateway
	c.mu.Unlock()
	err := c.poll(ctx, g.Proc, fmt.Sprintf("gateway sees [%s] with leader %q", want, leader), func(ctx context.Context) (bool, error) {
		var err error
		st, err = c.GatewayStatus(ctx)
		if err != nil {
			return false, err
		}
		got := strings.Join(st.IDs(), ",")
		if got != want || st.Leader != leader || len(st.Down) > 0 {
			return false, fmt.Errorf("gateway sees [%s] with leader %q, down %v", got, st.Leader, st.Down)
		}
		return true, nil
	})
	return st, err
}

// IsLeader asks a node's GET /microservice/test.
func (c *Cluster) IsLeader(ctx context.Context, n *Node) (bool, error) {
	r, err := procs.Do(ctx, c.client, http.MethodGet, n.URL("/microservice/test"))
	if err != nil {
		return false, err
	}
	if r.Status != http.StatusOK {
		return false, fmt.Errorf("%s: %d %s", n.ID, r.Status, r.Body)
	}
	return strconv.ParseBool(r.Body)
}

// WaitLeader waits until exactly one of the nodes says it leads, and returns it.
func (c *Cluster) WaitLeader(ctx context.Context, nodes ...*Node) (*Node, error) {
	var leader *Node
	err := procs.Poll(ctx, 50*time.Millisecond, "exactly one leader", func(ctx context.Context) (bool, error) {
		leader = nil
		var leaders []string
		for _, n := range nodes {
			if err := n.Proc.CheckAlive(); err != nil {
				return false, &procs.Permanent{Err: err}
			}
			ok, err := c.IsLeader(ctx, n)
			if err != nil {
				return false, err
			}
			if ok {
				leader = n
				leaders = append(leaders, n.ID)
			}
		}
		if len(leaders) != 1 {
			return false, fmt.Errorf("leaders: %v", leaders)
		}
		return true, nil
	})
	return leader, err
}

// Reply is one answer from bookservice's hello endpoint, as seen by a client.
type Reply struct {
	Status  int
	Body    string // the node id on success, the reason otherwise
	Node    string // X-Node-Id: who answered ("" if no instance did)
	Leader  bool   // X-Leader: whether it led when it answered
	Backend string // X-Gateway-Backend
	// Held is how long the gateway held a write while it waited for a leader
	// (X-Gateway-Write-Wait), 0 when it sent the write at once.
	Held time.Duration
}

// Hello sends method to url (a /microservice/test/hello URL).
func (c *Cluster) Hello(ctx context.Context, method, url string) (Reply, error) {
	r, err := procs.Do(ctx, c.client, method, url)
	if err != nil {
		return Reply{}, err
	}
	return Reply{
		Status:  r.Status,
		Body:    r.Body,
		Node:    r.Header.Get("X-Node-Id"),
		Leader:  r.Header.Get("X-Leader") == "true",
		Backend: r.Header.Get("X-Gateway-Backend"),
		Held:    parseDuration(r.Header.Get("X-Gateway-Write-Wait")),
	}, nil
}

func parseDuration(s string) time.Duration {
	d, _ := time.ParseDuration(s)
	return d
}

// poll is procs.Poll that gives up at once when p died.
func (c *Cluster) poll(ctx context.Context, p *procs.Process, what string, cond func(context.Context) (bool, error)) error {
	return procs.Poll(ctx, 50*time.Millisecond, what, func(ctx context.Context) (bool, error) {
		if err := p.CheckAlive(); err != nil {
			return false, &procs.Permanent{Err: err}
		}
		return cond(ctx)
	})
}

// CheckAlive returns an error for every process that exited without being stopped.
func (c *Cluster) CheckAlive() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var errs []error
	for _, p := range c.procs {
		errs = append(errs, p.CheckAlive())
	}
	return errors.Join(errs...)
}

// Processes returns every process started so far, oldest first.
func (c *Cluster) Processes() []*procs.Process {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*procs.Process(nil), c.procs...)
}

// Close stops every process still running, newest first (the gateway before the nodes it
// routes to), each with SIGTERM and then SIGKILL after grace. It returns the errors of
// processes that did not stop cleanly.
func (c *Cluster) Close(grace time.Duration) error {
	ps := c.Processes()
	var errs []error
	for i := len(ps) - 1; i >= 0; i-- {
		if exited, _ := ps[i].Exited(); exited {
			continue
		}
		errs = append(errs, ps[i].Stop(grace))
	}
	return errors.Join(errs...)
}
