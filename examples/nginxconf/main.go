// Command nginxconf is the confd-style way to put nginx in front of the demo service: it
// watches the service's instances with a discovery Cache and renders an nginx config from
// a Go text/template whenever they change, with reads going round-robin to every instance
// and writes (every method but GET and HEAD, through limit_except) to the leader.
//
// For each change (once the instances have been quiet for -wait, so that a failover, which
// removes the old leader and then promotes the new one, costs one reload) it renders the
// template, and if the result differs from the live file
// it writes it next to it, runs the check command on it (nginx -t), moves it over the live
// file in one rename only if the check passed, and runs the reload command. A config that
// fails the check never goes live: nginx keeps the last good one. An empty upstream is
// never written (nginx rejects it): the template answers 503 with the reason instead.
//
// The commands run with /bin/sh -c and find the file in $NGINXCONF_FILE: the candidate for
// the check, the live file for the reload.
//
//	nginxconf -zk 127.0.0.1:2181 -out /etc/nginx/nginx.conf -listen 80
//	nginxconf -once -out ./nginx.conf -runtime-dir /tmp/nginx -check '' -reload ''
//
// The template sees the Data type's fields: .Service, .Upstream, .Listen,
// .WorkerProcesses, .RuntimeDir, .Instances (each with .ID, .Address, .Port, .Leader,
// .HostPort) and .Leader (nil when there is none). -print-template shows the default one.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"sort"
	"syscall"
	"time"

	"github.com/zkrecipes/zkrecipes/examples/internal/envflag"
)

type config struct {
	zk              string
	basePath        string
	service         string
	payloadClass    string
	sessionTimeout  time.Duration
	template        string
	out             string
	listen          string
	workerProcesses string
	runtimeDir      string
	check           string
	reload          string
	commandTimeout  time.Duration
	retry           time.Duration
	wait            time.Duration
	once            bool
	printTemplate   bool
	verbose         bool
}

func parseFlags(args []string) (config, error) {
	fs := envflag.New("nginxconf")
	var c config
	fs.StringVar(&c.zk, "zk", "ZK_SERVERS", "127.0.0.1:2181", "ZooKeeper connect string, host:port[,host:port][/chroot]")
	fs.StringVar(&c.basePath, "base-path", "BASE_PATH", "/service-discovery", "discovery base path")
	fs.StringVar(&c.service, "service", "SERVICE_NAME", "bookService", "service to route to")
	fs.StringVar(&c.payloadClass, "payload-class", "PAYLOAD_CLASS", "com.example.InstanceDetails", "Java class of the instances' payload")
	fs.DurationVar(&c.sessionTimeout, "session-timeout", "SESSION_TIMEOUT", 15*time.Second, "ZooKeeper session timeout")
	fs.StringVar(&c.template, "template", "NGINXCONF_TEMPLATE", "", "template file (empty: the built-in one, see -print-template)")
	fs.StringVar(&c.out, "out", "NGINXCONF_OUT", "/etc/nginx/nginx.conf", "config file to write")
	fs.StringVar(&c.listen, "listen", "NGINXCONF_LISTEN", "80", "argument of nginx's listen directive")
	fs.StringVar(&c.workerProcesses, "worker-processes", "NGINXCONF_WORKER_PROCESSES", "auto", "argument of nginx's worker_processes directive")
	fs.StringVar(&c.runtimeDir, "runtime-dir", "NGINXCONF_RUNTIME_DIR", "", "directory for nginx's pid, logs and temp files (empty: nginx's defaults)")
	fs.StringVar(&c.check, "check", "NGINXCONF_CHECK", `nginx -t -q -c "$NGINXCONF_FILE"`, "shell command that checks the candidate config $NGINXCONF_FILE (empty: no check)")
	fs.StringVar(&c.reload, "reload", "NGINXCONF_RELOAD", `nginx -s reload -c "$NGINXCONF_FILE"`, "shell command run after a new config went live (empty: none)")
	fs.DurationVar(&c.commandTimeout, "command-timeout", "NGINXCONF_COMMAND_TIMEOUT", 30*time.Second, "how long the check or the reload command may run")
	fs.DurationVar(&c.retry, "retry", "NGINXCONF_RETRY", 5*time.Second, "after a failed check or reload, try again this often until it works or the instances change")
	fs.DurationVar(&c.wait, "wait", "NGINXCONF_WAIT", 100*time.Millisecond, "after a change, wait until the instances have been quiet this long (at most 10 times as long) before rendering, so that a burst (a leader leaving, the next one taking over) causes one reload (0: render at once)")
	fs.BoolVar(&c.once, "once", "", false, "render once and exit (non-zero if the update failed)")
	fs.BoolVar(&c.printTemplate, "print-template", "", false, "print the built-in template and exit")
	fs.BoolVar(&c.verbose, "v", "VERBOSE", false, "log debug messages, the ZooKeeper client's included")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if c.out == "" || c.listen == "" || c.retry <= 0 || c.sessionTimeout <= 0 || c.wait < 0 {
		return c, errors.New("-out and -listen must be set, -retry and -session-timeout positive, -wait not negative")
	}
	return c, nil
}

func main() {
	cfg, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "nginxconf:", err)
		os.Exit(2)
	}
	if cfg.printTemplate {
		fmt.Print(defaultTemplate)
		return
	}
	level := slog.LevelInfo
	if cfg.verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	if err := run(cfg, log); err != nil {
		log.Error("nginxconf failed", "err", err)
		os.Exit(1)
	}
}

// watcher is the service's instances as the discovery cache sees them (see zk.go).
type watcher interface {
	// Instances returns the enabled instances now.
	Instances() []Backend
	// Changed receives a value after the instances changed (changes coalesce).
	Changed() <-chan struct{}
	Close(ctx context.Context) error
}

func run(cfg config, log *slog.Logger) error {
	tmpl, err := ParseTemplate(cfg.template)
	if err != nil {
		return err
	}
	if cfg.runtimeDir != "" {
		if err := os.MkdirAll(cfg.runtimeDir, 0o755); err != nil {
			return err
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	startCtx, cancel := context.WithTimeout(ctx, cfg.sessionTimeout+30*time.Second)
	w, err := watch(startCtx, cfg, log)
	cancel()
	if err != nil {
		return err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := w.Close(cctx); err != nil {
			log.Warn("close", "err", err)
		}
	}()

	r := &Renderer{Template: tmpl, Out: cfg.out, Check: cfg.check, Reload: cfg.reload, Timeout: cfg.commandTimeout, Log: log}
	var retry <-chan time.Time
	for {
		d := buildData(cfg, w.Instances(), log)
		res, err := r.Apply(ctx, d)
		if cfg.once {
			return err
		}
		retry = nil
		switch {
		case err != nil && ctx.Err() == nil:
			log.Error("update failed", "err", err, "retry", cfg.retry)
			retry = time.After(cfg.retry)
		case res == Unchanged:
			log.Debug("config unchanged", "instances", len(d.Instances), "leader", leaderID(d.Leader))
		}
		select {
		case <-ctx.Done():
			log.Info("stopped")
			return nil
		case <-w.Changed():
			if !quiesce(ctx, w.Changed(), cfg.wait) {
				log.Info("stopped")
				return nil
			}
		case <-retry:
		}
	}
}

// quiesce waits until changed has been silent for wait, but no longer than 10*wait in
// all (as consul-template's wait does). It returns false when ctx ends.
func quiesce(ctx context.Context, changed <-chan struct{}, wait time.Duration) bool {
	if wait <= 0 {
		return true
	}
	limit := time.NewTimer(10 * wait)
	defer limit.Stop()
	quiet := time.NewTimer(wait)
	defer quiet.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-changed:
			quiet.Reset(wait)
		case <-quiet.C:
			return true
		case <-limit.C:
			return true
		}
	}
}

// buildData puts the instances in a stable order (so an unchanged set renders the same
// bytes), drops the ones that are unsafe to render, and picks the leader. Two instances
// claiming leadership at once (possible for a moment with a hand-written payload) give no
// leader: writes get a 503 rather than going to the wrong instance.
func buildData(cfg config, in []Backend, log *slog.Logger) Data {
	d := Data{
		BasePath:        cfg.basePath,
		Service:         cfg.service,
		Upstream:        upstreamName(cfg.service),
		Listen:          cfg.listen,
		WorkerProcesses: cfg.workerProcesses,
		RuntimeDir:      cfg.runtimeDir,
	}
	var leaders []Backend
	for _, b := range in {
		if err := validBackend(b); err != nil {
			log.Warn("instance left out of the config", "id", b.ID, "err", err)
			continue
		}
		d.Instances = append(d.Instances, b)
		if b.Leader {
			leaders = append(leaders, b)
		}
	}
	sort.Slice(d.Instances, func(i, j int) bool { return d.Instances[i].ID < d.Instances[j].ID })
	switch len(leaders) {
	case 1:
		d.Leader = &leaders[0]
	case 0:
	default:
		log.Warn("several instances claim leadership; routing no writes until one remains", "count", len(leaders))
	}
	return d
}
