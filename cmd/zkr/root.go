package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/spf13/cobra"

	"github.com/zkrecipes/zkrecipes"
)

// globals are the flags every command shares.
type globals struct {
	servers        string
	timeout        time.Duration
	sessionTimeout time.Duration
	digest         string
	tlsOn          bool
	tlsCA          string
	tlsCert        string
	tlsKey         string
	tlsServerName  string
	json           bool
	verbose        bool

	stdout, stderr io.Writer
}

const envServers = "ZKR_SERVERS"

func newRootCommand(stdout, stderr io.Writer) *cobra.Command {
	g := &globals{stdout: stdout, stderr: stderr}
	root := &cobra.Command{
		Use:   "zkr",
		Short: "Inspect Curator and zkrecipes layouts in ZooKeeper",
		Long: `zkr shows what Curator recipes and zkrecipes keep in ZooKeeper: elections (LeaderLatch,
LeaderSelector), service directories (ServiceDiscovery), locks (InterProcessMutex, the
read/write lock, semaphores) and whole subtrees with those layouts recognised.

The connect string comes from --servers or $ZKR_SERVERS ("host:port,host:port", optionally
with a chroot: "zk1:2181,zk2:2181/app"). zkr only reads; it never writes to ZooKeeper.

Exit status: 0 success, 1 failure, 2 bad usage, 3 the path or service does not exist,
4 ZooKeeper could not be reached.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return usageErr("%v (see %s --help)", err, c.CommandPath()) })
	pf := root.PersistentFlags()
	pf.StringVarP(&g.servers, "servers", "s", "", "ZooKeeper connect string (default $"+envServers+")")
	pf.DurationVar(&g.timeout, "timeout", 15*time.Second, "how long to wait for ZooKeeper: the connection and each read")
	pf.DurationVar(&g.sessionTimeout, "session-timeout", 10*time.Second, "the session timeout to ask for")
	pf.StringVar(&g.digest, "digest", "", "digest authentication as user:password")
	pf.BoolVar(&g.tlsOn, "tls", false, "connect with TLS (to ZooKeeper's secureClientPort); implied by the other --tls-* flags")
	pf.StringVar(&g.tlsCA, "tls-ca", "", "PEM file of the CA certificates to trust (default: the system's)")
	pf.StringVar(&g.tlsCert, "tls-cert", "", "PEM client certificate, for mutual TLS (with --tls-key)")
	pf.StringVar(&g.tlsKey, "tls-key", "", "PEM client key, for mutual TLS (with --tls-cert)")
	pf.StringVar(&g.tlsServerName, "tls-server-name", "", "the name to verify the servers' certificates against (default: each server's host)")
	pf.BoolVar(&g.json, "json", false, "print JSON (one document; watch commands print one JSON object per line)")
	pf.BoolVarP(&g.verbose, "verbose", "v", false, "log connection events to stderr")

	root.AddCommand(newLeaderCommand(g), newServicesCommand(g), newLocksCommand(g), newTreeCommand(g))
	return root
}

// action adapts a command's function: any error it returns exits with status 1 unless it
// carries its own (exitError), so that only cobra's own errors count as usage errors.
func action(fn func(cmd *cobra.Command, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		err := fn(cmd, args)
		var ee *exitError
		if err != nil && !errors.As(err, &ee) {
			err = &exitError{exitFailure, err}
		}
		return err
	}
}

// exactArgs is cobra.ExactArgs with a usage error naming what is expected.
func exactArgs(n int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return usageErr("%s takes %s (see %s --help)", cmd.CommandPath(), what, cmd.CommandPath())
		}
		return nil
	}
}

// connect opens a Client from the global flags. Its failures exit with status 4 (no
// server answered) or 2 (the flags are wrong).
func (g *globals) connect(ctx context.Context) (*zkrecipes.Client, error) {
	cs := g.servers
	if cs == "" {
		cs = os.Getenv(envServers)
	}
	if strings.TrimSpace(cs) == "" {
		return nil, usageErr("no ZooKeeper given: use --servers host:port[,host:port...] or set $%s", envServers)
	}
	servers, chroot, err := zkrecipes.ParseConnectString(cs)
	if err != nil {
		return nil, usageErr("--servers: %v", err)
	}
	level := slog.LevelError
	if g.verbose {
		level = slog.LevelInfo
	}
	opts := []zkrecipes.Option{
		zkrecipes.WithSessionTimeout(g.sessionTimeout),
		zkrecipes.WithConnectionTimeout(g.timeout),
		zkrecipes.WithLogger(slog.New(slog.NewTextHandler(g.stderr, &slog.HandlerOptions{Level: level}))),
	}
	if chroot != "" {
		opts = append(opts, zkrecipes.WithNamespace(chroot))
	}
	if g.digest != "" {
		user, pass, ok := strings.Cut(g.digest, ":")
		if !ok || user == "" {
			return nil, usageErr("--digest wants user:password")
		}
		opts = append(opts, zkrecipes.WithDigestAuth(user, pass))
	}
	if g.tlsOn || g.tlsCA != "" || g.tlsCert != "" || g.tlsKey != "" || g.tlsServerName != "" {
		cfg, err := g.tlsConfig()
		if err != nil {
			return nil, err
		}
		opts = append(opts, zkrecipes.WithTLS(cfg))
	}
	cctx, cancel := context.WithTimeout(ctx, g.timeout)
	defer cancel()
	c, err := zkrecipes.Connect(cctx, servers, opts...)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, &exitError{exitConnect, err}
	}
	return c, nil
}

func (g *globals) tlsConfig() (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: g.tlsServerName}
	if g.tlsCA != "" {
		pem, err := os.ReadFile(g.tlsCA)
		if err != nil {
			return nil, usageErr("--tls-ca: %v", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, usageErr("--tls-ca: %s holds no PEM certificate", g.tlsCA)
		}
		cfg.RootCAs = pool
	}
	if (g.tlsCert == "") != (g.tlsKey == "") {
		return nil, usageErr("--tls-cert and --tls-key go together")
	}
	if g.tlsCert != "" {
		pair, err := tls.LoadX509KeyPair(g.tlsCert, g.tlsKey)
		if err != nil {
			return nil, usageErr("--tls-cert/--tls-key: %v", err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}

// withClient connects, runs fn with a context bounded by --timeout (unless long is set: the
// watch commands run until interrupted), and closes the Client.
func (g *globals) withClient(cmd *cobra.Command, long bool, fn func(ctx context.Context, c *zkrecipes.Client) error) error {
	ctx := cmd.Context()
	c, err := g.connect(ctx)
	if err != nil {
		return err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = c.Close(cctx)
	}()
	if !long {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, g.timeout)
		defer cancel()
	}
	return fn(ctx, c)
}

// printJSON writes v as indented JSON, or as one line when line is set.
func (g *globals) printJSON(v any, line bool) error {
	enc := json.NewEncoder(g.stdout)
	enc.SetEscapeHTML(false)
	if !line {
		enc.SetIndent("", "  ")
	}
	return enc.Encode(v)
}

// checkPath validates a path argument, naming the argument in the error.
func checkPath(what, p string) error {
	if err := zkrecipes.ValidatePath(p); err != nil {
		return usageErr("%s %q: %v", what, p, err)
	}
	return nil
}

// noNode turns ZooKeeper's NoNode for the path a command was given into exit status 3.
func noNode(err error, format string, args ...any) error {
	if errors.Is(err, zk.ErrNoNode) {
		return notFound(format, args...)
	}
	return err
}
