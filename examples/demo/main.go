// Command demo plays the bookService scenario with real processes and prints it as a
// transcript: three bookservice nodes elect a leader and register with service discovery,
// a gateway sends reads to all of them and writes to the leader, the leader is killed and
// the writes move to the new one. It exits 0 only if every step behaved as described.
// `make demo` runs it.
//
// ZooKeeper comes from $ZK_SERVERS if set, else a container of $ZK_IMAGE
// (zkrecipes/zookeeper:3.8, built by `make image`; the official zookeeper:3.8 works too)
// on a random host port, else a local java process from Debian's zookeeper package.
//
//	go run ./examples/demo                      # the scenario; exit status says whether it held
//	go run ./examples/demo -keep                # then keep everything running for curl
//	go run ./examples/demo -bench-failover 10   # kill the leader 10 times, print a table
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/zkrecipes/zkrecipes/examples/internal/cluster"
)

type options struct {
	ports          []int
	gatewayPort    int
	nginx          bool
	nginxPort      int
	sessionTimeout time.Duration
	image          string
	keep           bool
	benchFailover  int
	bin            string
	verbose        bool
}

func parseFlags(args []string) (options, error) {
	fs := flag.NewFlagSet("demo", flag.ExitOnError)
	var o options
	ports := fs.String("ports", "8070,8080,8090", "HTTP ports of node-1, node-2, node-3 (comma-separated; as many nodes as ports, at least 2)")
	fs.IntVar(&o.gatewayPort, "gateway-port", 8000, "HTTP port of the gateway")
	fs.BoolVar(&o.nginx, "nginx", false, "also show the nginx path: nginxconf renders nginx's config from ZooKeeper, and requests go through Debian's nginx")
	fs.IntVar(&o.nginxPort, "nginx-port", 8001, "HTTP port of nginx (with -nginx)")
	fs.DurationVar(&o.sessionTimeout, "session-timeout", 4*time.Second, "ZooKeeper session timeout of every process: how long a killed leader keeps leadership (2s..20s with the demo's tickTime of 1s)")
	image := os.Getenv("ZK_IMAGE")
	if image == "" {
		image = "zkrecipes/zookeeper:3.8"
	}
	fs.StringVar(&o.image, "zk-image", image, "ZooKeeper image to run when ZK_SERVERS is not set (env ZK_IMAGE)")
	fs.BoolVar(&o.keep, "keep", false, "after the scenario, keep everything running for manual curl until Ctrl-C")
	fs.IntVar(&o.benchFailover, "bench-failover", 0, "instead of the scenario, kill the leader N times and print the time from each kill to the first write served by the new leader")
	fs.StringVar(&o.bin, "bin", "", "directory with prebuilt bookservice and gateway binaries (default: go build them into a temp dir)")
	fs.BoolVar(&o.verbose, "v", false, "show the processes' logs")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	for _, s := range strings.Split(*ports, ",") {
		p, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || p <= 0 || p > 65535 {
			return o, fmt.Errorf("-ports: bad port %q", s)
		}
		o.ports = append(o.ports, p)
	}
	if len(o.ports) < 2 {
		return o, errors.New("-ports: a failover needs at least 2 nodes")
	}
	if o.sessionTimeout <= 0 || o.benchFailover < 0 {
		return o, errors.New("-session-timeout must be positive and -bench-failover not negative")
	}
	return o, nil
}

func main() {
	o, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	d := &demo{opts: o, out: os.Stdout, t0: time.Now()}
	err = d.run(ctx)
	if err != nil {
		fmt.Fprintf(d.out, "\nFAIL: %v\n", err)
		os.Exit(1)
	}
}

// demo is one run: its processes, and the transcript it prints.
type demo struct {
	opts  options
	out   io.Writer
	t0    time.Time
	zk    *zooKeeper
	obs   *observer
	cl    *cluster.Cluster
	nodes []*cluster.Node
	gw    *cluster.Gateway
}

func (d *demo) printf(format string, args ...any) { fmt.Fprintf(d.out, format, args...) }

func (d *demo) section(title string) { d.printf("\n%s\n", title) }

func (d *demo) ok(format string, args ...any) { d.printf("  ✓ "+format+"\n", args...) }

// run sets everything up, plays the scenario (or the benchmark), and always tears down
// what it started.
func (d *demo) run(ctx context.Context) (err error) {
	d.printf("zkrecipes demo: %d bookService nodes elect a leader (leader.Latch) and register\n", len(d.opts.ports))
	d.printf("with service discovery; a gateway sends reads to every node and writes to the leader.\n")

	tmp, err := os.MkdirTemp("", "zkrecipes-demo-")
	if err != nil {
		return err
	}
	defer func() {
		d.section("Stop")
		if cerr := d.teardown(); cerr != nil && err == nil {
			err = cerr
		}
		os.RemoveAll(tmp)
		if err == nil {
			d.printf("\nPASS: every step behaved as described (%s).\n", since(d.t0))
		}
	}()

	if err := d.setup(ctx, tmp); err != nil {
		return err
	}
	if d.opts.benchFailover > 0 {
		return d.benchFailover(ctx, d.opts.benchFailover)
	}
	if err := d.scenario(ctx); err != nil {
		return err
	}
	if d.opts.keep {
		d.keep(ctx)
	}
	return nil
}

func (d *demo) setup(ctx context.Context, tmp string) error {
	d.section("ZooKeeper")
	zk, err := startZooKeeper(ctx, d.opts.image, tmp)
	if err != nil {
		return err
	}
	d.zk = zk
	d.printf("  %s at %s\n", zk.what, zk.addr)
	if zk.note != "" {
		d.printf("  (%s)\n", zk.note)
	}
	obs, err := observe(ctx, zk.addr)
	if err != nil {
		return fmt.Errorf("connect to ZooKeeper: %w", err)
	}
	d.obs = obs
	if ids, _ := obs.instances(ctx, "/service-discovery", "bookService"); len(ids) > 0 {
		return fmt.Errorf("ZooKeeper already has bookService instances %v (another demo running against ZK_SERVERS?)", ids)
	}

	bin := d.opts.bin
	if bin == "" {
		d.section("Build")
		bin = tmp
		start := time.Now()
		if err := cluster.Build(ctx, bin, nil); err != nil {
			return fmt.Errorf("%w\n(run the demo from inside the zkrecipes checkout, or pass -bin)", err)
		}
		d.printf("  go build bookservice gateway nginxconf -> %s (%s)\n", bin, since(start))
	}
	var echo io.Writer
	if d.opts.verbose {
		echo = os.Stderr
	}
	d.cl = cluster.New(cluster.Options{BinDir: bin, ZK: zk.addr, SessionTimeout: d.opts.sessionTimeout, Echo: echo})

	d.section("Start")
	for i, port := range d.opts.ports {
		if err := checkPortFree(port); err != nil {
			return err
		}
		id := fmt.Sprintf("node-%d", i+1)
		sctx, cancel := context.WithTimeout(ctx, d.opts.sessionTimeout+60*time.Second)
		n, err := d.cl.StartNode(sctx, id, port)
		cancel()
		if err != nil {
			return fmt.Errorf("start %s: %w%s", id, err, tail(n))
		}
		d.nodes = append(d.nodes, n)
		d.printf("  %-7s pid %-7d %s   bookservice -id %s -port %d -session-timeout %v\n", id, n.Proc.PID(), n.URL(""), id, port, d.opts.sessionTimeout)
	}
	if err := checkPortFree(d.opts.gatewayPort); err != nil {
		return err
	}
	sctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	gw, err := d.cl.StartGateway(sctx, d.opts.gatewayPort)
	if err != nil {
		if gw != nil {
			return fmt.Errorf("start gateway: %w\n%s", err, gw.Proc.Output())
		}
		return fmt.Errorf("start gateway: %w", err)
	}
	d.gw = gw
	d.printf("  gateway pid %-7d %s\n", gw.Proc.PID(), gw.URL(""))
	return nil
}

func checkPortFree(port int) error {
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return fmt.Errorf("port %d is taken (another demo still running?); choose others with -ports and -gateway-port: %w", port, err)
	}
	return l.Close()
}

func tail(n *cluster.Node) string {
	if n == nil || n.Proc == nil {
		return ""
	}
	return "\n" + n.Proc.Output()
}

func since(t time.Time) string {
	d := time.Since(t)
	if d < time.Second {
		return d.Round(time.Millisecond).String()
	}
	return d.Round(100 * time.Millisecond).String()
}

func (d *demo) teardown() error {
	var errs []error
	if d.cl != nil {
		// The gateway first, so that it routes nothing to nodes on their way out; then the
		// nodes, newest first.
		ps := reverse(d.cl.Processes())
		sort.SliceStable(ps, func(i, j int) bool { return ps[i].Name == "gateway" && ps[j].Name != "gateway" })
		for _, p := range ps {
			if exited, _ := p.Exited(); exited {
				continue
			}
			start := time.Now()
			if err := p.Stop(15 * time.Second); err != nil {
				errs = append(errs, err)
				d.printf("  ✗ %s: %v; its output ends with:\n%s\n", p.Name, err, p.Output())
				continue
			}
			what := "exited cleanly"
			if strings.HasPrefix(p.Name, "node-") {
				what = "unregistered, closed its latch and its client, exited cleanly"
			}
			d.printf("  SIGTERM %-8s (pid %d): %s (%s)\n", p.Name, p.PID(), what, since(start))
		}
	}
	if d.obs != nil {
		_ = d.obs.Close()
	}
	if d.zk != nil {
		if err := d.zk.stop(); err != nil {
			errs = append(errs, fmt.Errorf("stop ZooKeeper: %w", err))
		} else if d.zk.owned {
			d.printf("  ZooKeeper stopped\n")
		}
	}
	return errors.Join(errs...)
}

func reverse[T any](s []T) []T {
	out := make([]T, len(s))
	for i, v := range s {
		out[len(s)-1-i] = v
	}
	return out
}

// keep leaves everything running until Ctrl-C, for trying it by hand.
func (d *demo) keep(ctx context.Context) {
	d.section("Everything keeps running (-keep). Try:")
	try := func(cmd, what string) { d.printf("  %-66s # %s\n", cmd, what) }
	try("curl -X POST "+d.gw.URL("/microservice/test/hello"), "a write: the leader answers")
	try("curl "+d.gw.URL("/microservice/test/hello"), "a read: round-robin")
	try("curl "+d.gw.URL("/_gateway/status"), "what the gateway sees")
	for _, n := range d.nodes {
		if exited, _ := n.Proc.Exited(); !exited {
			try("curl "+n.URL("/microservice/test"), fmt.Sprintf("does %s lead? (kill -9 %d crashes it)", n.ID, n.Proc.PID()))
		}
	}
	d.printf("  ZooKeeper: %s\n", d.zk.addr)
	d.printf("Press Ctrl-C to stop everything.\n")
	<-ctx.Done()
}

// ids returns the nodes' ids.
func ids(ns []*cluster.Node) []string {
	var out []string
	for _, n := range ns {
		out = append(out, n.ID)
	}
	sort.Strings(out)
	return out
}
