// Command bookservice is the demo REST service: several instances elect a leader with a
// leader.Latch and register themselves with discovery, with a payload {"leader": bool}
// that each instance rewrites when its leadership changes, so that a load balancer can
// send reads to every instance and writes to the leader only.
//
// Endpoints:
//
//	GET  /microservice/test        "true" or "false": whether this instance leads
//	ANY  /microservice/test/hello  this instance's node id
//	GET  /health                   JSON status; 200 while connected to ZooKeeper, else 503
//	GET  /metrics                  Prometheus metrics, with -metrics only (off by default):
//	                               the ZooKeeper client's operations, retries, connection
//	                               states, leadership and registration (zkrecipes_*), and
//	                               the Go runtime's
//
// Every answer carries the headers X-Node-Id and X-Leader (leadership when it was served).
//
// Every setting is a flag whose default comes from an environment variable (see -h).
// Three instances against one ZooKeeper:
//
//	bookservice -zk 127.0.0.1:2181 -id node-1 -port 8070
//	bookservice -zk 127.0.0.1:2181 -id node-2 -port 8080
//	bookservice -zk 127.0.0.1:2181 -id node-3 -port 8090
//
// On SIGTERM or SIGINT it unregisters, closes the latch (handing leadership over), closes
// the ZooKeeper client and then stops serving HTTP, in that order.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/zkrecipes/zkrecipes"
	zkprom "github.com/zkrecipes/zkrecipes/adapters/prometheus"
	"github.com/zkrecipes/zkrecipes/discovery"
	"github.com/zkrecipes/zkrecipes/examples/internal/envflag"
)

// config is everything the command line sets.
type config struct {
	zk             string
	latchPath      string
	id             string
	bind           string
	port           int
	address        string
	basePath       string
	service        string
	payloadClass   string
	sessionTimeout time.Duration
	shutdown       time.Duration
	verbose        bool
	metrics        bool
}

func parseFlags(args []string) (config, error) {
	host, _ := os.Hostname()
	fs := envflag.New("bookservice")
	var c config
	fs.StringVar(&c.zk, "zk", "ZK_SERVERS", "127.0.0.1:2181", "ZooKeeper connect string, host:port[,host:port][/chroot]")
	fs.StringVar(&c.latchPath, "latch-path", "LATCH_PATH", "/example/leader", "ZooKeeper path of the leader latch")
	fs.StringVar(&c.id, "id", "NODE_ID", host, "node id: the latch participant id and the discovery instance id")
	fs.StringVar(&c.bind, "bind", "BIND_ADDRESS", "", "IP address to listen on (empty: every interface)")
	fs.IntVar(&c.port, "port", "PORT", 8080, "HTTP port")
	fs.StringVar(&c.address, "advertised-address", "ADVERTISED_ADDRESS", "", "address registered for clients to reach this instance (empty: the -bind address, else the first non-loopback IPv4 address)")
	fs.StringVar(&c.basePath, "base-path", "BASE_PATH", "/service-discovery", "discovery base path")
	fs.StringVar(&c.service, "service", "SERVICE_NAME", "bookService", "service name to register under")
	fs.StringVar(&c.payloadClass, "payload-class", "PAYLOAD_CLASS", "com.example.InstanceDetails", "Java class of the payload, written as \"@class\" so that Java Curator services can read it")
	fs.DurationVar(&c.sessionTimeout, "session-timeout", "SESSION_TIMEOUT", 15*time.Second, "ZooKeeper session timeout: how long a crashed leader keeps leadership (the server clamps it to 2..20 ticks)")
	fs.DurationVar(&c.shutdown, "shutdown-timeout", "SHUTDOWN_TIMEOUT", 10*time.Second, "how long a graceful shutdown may take")
	fs.BoolVar(&c.verbose, "v", "VERBOSE", false, "log debug messages, the ZooKeeper client's included")
	fs.BoolVar(&c.metrics, "metrics", "METRICS", false, "serve Prometheus metrics at /metrics")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	switch {
	case c.id == "":
		return c, errors.New("-id is empty")
	case c.port <= 0 || c.port > 65535:
		return c, fmt.Errorf("-port %d out of range", c.port)
	case c.sessionTimeout <= 0 || c.shutdown <= 0:
		return c, errors.New("-session-timeout and -shutdown-timeout must be positive")
	}
	if c.address == "" {
		c.address = advertisedAddress(c.bind)
	}
	return c, nil
}

// advertisedAddress picks what to register when no address was given: the bind address if
// it is a specific one, else discovery's default (the first non-loopback IPv4 address, as
// Curator does, or the loopback address).
func advertisedAddress(bind string) string {
	if ip := net.ParseIP(bind); ip != nil && !ip.IsUnspecified() {
		return bind
	}
	return discovery.LocalAddress()
}

func main() {
	cfg, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "bookservice:", err)
		os.Exit(2)
	}
	level := slog.LevelInfo
	if cfg.verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})).With("node", cfg.id)
	if err := run(cfg, log); err != nil {
		log.Error("bookservice failed", "err", err)
		os.Exit(1)
	}
}

func run(cfg config, log *slog.Logger) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	// Listen first: the instance must be reachable before it is registered.
	ln, err := net.Listen("tcp", net.JoinHostPort(cfg.bind, strconv.Itoa(cfg.port)))
	if err != nil {
		return err
	}
	var hooks zkrecipes.Hooks
	var metrics http.Handler
	if cfg.metrics {
		hooks, metrics = metricsHandler()
	}
	startCtx, cancel := context.WithTimeout(ctx, cfg.sessionTimeout+30*time.Second)
	m, err := join(startCtx, cfg, log, hooks)
	cancel()
	if err != nil {
		ln.Close()
		return err
	}
	srv := &http.Server{Handler: handler(cfg.id, m, metrics), ReadHeaderTimeout: 10 * time.Second}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	log.Info("serving", "addr", ln.Addr().String(), "advertised", net.JoinHostPort(cfg.address, strconv.Itoa(cfg.port)))

	select {
	case <-ctx.Done():
		log.Info("shutting down")
	case err := <-serveErr:
		log.Error("http server stopped", "err", err)
	}
	stop() // a second signal kills the process the default way

	sctx, cancel := context.WithTimeout(context.Background(), cfg.shutdown)
	defer cancel()
	errs := []error{m.Close(sctx)}
	// In-flight requests are answered; the gateways stopped sending new ones when the
	// instance was unregistered.
	if err := srv.Shutdown(sctx); err != nil {
		errs = append(errs, fmt.Errorf("http shutdown: %w", err))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	log.Info("stopped")
	return nil
}

// member is this instance's place in the cluster: its leadership, its registration and the
// ZooKeeper connection behind both (see zk.go).
type member interface {
	// IsLeader reports whether this instance leads now.
	IsLeader() bool
	// Status describes the connection and the registration for /health.
	Status() status
	// Close unregisters, closes the latch and closes the client, in that order.
	Close(ctx context.Context) error
}

// status is the /health document.
type status struct {
	ID         string `json:"id"`
	Leader     bool   `json:"leader"`
	ZooKeeper  string `json:"zookeeper"` // the client's connection state (CONNECTED, SUSPENDED, ...)
	Registered bool   `json:"registered"`
	Healthy    bool   `json:"healthy"`
}

// metricsHandler returns the hooks that feed the client's metrics to the Prometheus
// adapter, and the /metrics handler that serves them with the Go runtime's and the
// process's.
func metricsHandler() (zkrecipes.Hooks, http.Handler) {
	zkMetrics := zkprom.NewCollector()
	reg := prometheus.NewRegistry()
	reg.MustRegister(zkMetrics, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return zkMetrics.Hooks(), promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
}

// handler serves the endpoints; metrics, when not nil, serves /metrics.
func handler(id string, m member, metrics http.Handler) http.Handler {
	mux := http.NewServeMux()
	if metrics != nil {
		mux.Handle("GET /metrics", metrics)
	}
	mux.HandleFunc("GET /microservice/test", func(w http.ResponseWriter, r *http.Request) {
		leader := header(w, id, m)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, leader)
	})
	mux.HandleFunc("/microservice/test/hello", func(w http.ResponseWriter, r *http.Request) {
		header(w, id, m)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, id)
	})
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) {
		header(w, id, m)
		st := m.Status()
		w.Header().Set("Content-Type", "application/json")
		if !st.Healthy {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		_ = json.NewEncoder(w).Encode(st)
	})
	return mux
}

func header(w http.ResponseWriter, id string, m member) bool {
	leader := m.IsLeader()
	w.Header().Set("X-Node-Id", id)
	w.Header().Set("X-Leader", strconv.FormatBool(leader))
	return leader
}
