// Command gateway is a load balancer for the demo service that needs no reload when the
// service's membership changes: it watches the service's instances with a discovery Cache
// and sends
//
//   - GET and HEAD round-robin to every enabled instance (a discovery Provider), retrying
//     an instance that fails on the next one;
//   - every other method (POST, PUT, DELETE, PATCH, ...) to the instance whose payload
//     says {"leader": true}, never retried elsewhere.
//
// An instance that fails to answer is reported to the provider (NoteError), which marks it
// down for a while. When nothing can take a request the answer is 503 with the reason
// ("no leader among 2 instances ...") and Retry-After: 1. Answers carry
// X-Gateway-Backend, the id of the instance that served them.
//
// The gateway's own endpoints live under -admin-prefix (default /_gateway/):
// status (JSON: instances, leader, instances marked down) and health (200 when there is a
// leader).
//
//	gateway -zk 127.0.0.1:2181 -listen :8000
//	curl -X POST localhost:8000/microservice/test/hello   # answered by the leader
//	curl localhost:8000/_gateway/status
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/zkrecipes/zkrecipes/examples/internal/envflag"
)

type config struct {
	zk             string
	listen         string
	basePath       string
	service        string
	payloadClass   string
	sessionTimeout time.Duration
	adminPrefix    string
	readAttempts   int
	backendTimeout time.Duration
	downErrors     int
	downWindow     time.Duration
	writeWait      time.Duration
	writeQueue     int
	statusPath     string
	verbose        bool
}

func parseFlags(args []string) (config, error) {
	fs := envflag.New("gateway")
	var c config
	fs.StringVar(&c.zk, "zk", "ZK_SERVERS", "127.0.0.1:2181", "ZooKeeper connect string, host:port[,host:port][/chroot]")
	fs.StringVar(&c.listen, "listen", "GATEWAY_LISTEN", ":8000", "address to serve on")
	fs.StringVar(&c.basePath, "base-path", "BASE_PATH", "/service-discovery", "discovery base path")
	fs.StringVar(&c.service, "service", "SERVICE_NAME", "bookService", "service to route to")
	fs.StringVar(&c.payloadClass, "payload-class", "PAYLOAD_CLASS", "com.example.InstanceDetails", "Java class of the instances' payload")
	fs.DurationVar(&c.sessionTimeout, "session-timeout", "SESSION_TIMEOUT", 15*time.Second, "ZooKeeper session timeout")
	fs.StringVar(&c.adminPrefix, "admin-prefix", "GATEWAY_ADMIN_PREFIX", "/_gateway/", "path prefix of the gateway's own endpoints (status, health); requests under it are not proxied")
	fs.IntVar(&c.readAttempts, "read-attempts", "GATEWAY_READ_ATTEMPTS", 3, "how many instances a GET or HEAD may try before the gateway answers 503")
	fs.DurationVar(&c.backendTimeout, "backend-timeout", "GATEWAY_BACKEND_TIMEOUT", 30*time.Second, "how long to wait for an instance's response headers (0: no limit)")
	fs.IntVar(&c.downErrors, "down-errors", "GATEWAY_DOWN_ERRORS", 1, "failures within -down-window after which an instance is marked down (Curator's default is 2)")
	fs.DurationVar(&c.downWindow, "down-window", "GATEWAY_DOWN_WINDOW", 5*time.Second, "how long failures count, and how long an instance stays marked down (Curator's default is 30s)")
	fs.DurationVar(&c.writeWait, "write-wait", "GATEWAY_WRITE_WAIT", 0, "how long a write may wait for a leader during a failover before it is answered 503 (0: the session timeout plus 2s)")
	fs.IntVar(&c.writeQueue, "write-queue", "GATEWAY_WRITE_QUEUE", 1024, "how many writes may wait for a leader at once; more are answered 503 at once")
	fs.StringVar(&c.statusPath, "status-path", "GATEWAY_STATUS_PATH", "/_status", "path of the live status page (its JSON at the same path plus .json; not proxied); empty for none")
	fs.BoolVar(&c.verbose, "v", "VERBOSE", false, "log debug messages, the ZooKeeper client's included")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if !strings.HasPrefix(c.adminPrefix, "/") || !strings.HasSuffix(c.adminPrefix, "/") {
		return c, fmt.Errorf("-admin-prefix %q must start and end with /", c.adminPrefix)
	}
	if c.statusPath != "" && (!strings.HasPrefix(c.statusPath, "/") || strings.HasSuffix(c.statusPath, "/")) {
		return c, fmt.Errorf("-status-path %q must start with / and not end with one", c.statusPath)
	}
	if c.downErrors < 1 || c.downWindow <= 0 || c.sessionTimeout <= 0 || c.backendTimeout < 0 || c.writeWait < 0 || c.writeQueue < 1 {
		return c, errors.New("-down-errors, -down-window, -session-timeout and -write-queue must be positive, -backend-timeout and -write-wait not negative")
	}
	if c.writeWait == 0 {
		// A crashed leader's registration lasts until its session expires; the next
		// leader takes over right after.
		c.writeWait = c.sessionTimeout + 2*time.Second
	}
	return c, nil
}

func main() {
	cfg, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "gateway:", err)
		os.Exit(2)
	}
	level := slog.LevelInfo
	if cfg.verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	if err := run(cfg, log); err != nil {
		log.Error("gateway failed", "err", err)
		os.Exit(1)
	}
}

func run(cfg config, log *slog.Logger) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	startCtx, cancel := context.WithTimeout(ctx, cfg.sessionTimeout+30*time.Second)
	pool, err := watch(startCtx, cfg, log)
	cancel()
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.listen)
	if err != nil {
		_ = pool.Close(context.Background())
		return err
	}
	handler := newProxy(pool, log, proxyConfig{adminPrefix: cfg.adminPrefix, readAttempts: cfg.readAttempts,
		backendTimeout: cfg.backendTimeout, writeWait: cfg.writeWait, writeQueue: cfg.writeQueue, statusPath: cfg.statusPath})
	defer handler.Close()
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	st := pool.Status()
	log.Info("serving", "addr", ln.Addr().String(), "service", cfg.service, "instances", len(st.Instances), "leader", st.Leader)

	select {
	case <-ctx.Done():
		log.Info("shutting down")
	case err := <-serveErr:
		log.Error("http server stopped", "err", err)
	}
	stop()
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	errs := []error{srv.Shutdown(sctx), pool.Close(sctx)}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	log.Info("stopped")
	return nil
}
