package zktest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	"go.uber.org/goleak"
)

// Server is one ZooKeeper a test connects to: a standalone server the harness runs, or, on the
// external backend, the external ensemble as a whole.
type Server struct {
	node     *Node    // nil on the external backend
	external []string // the external ensemble
	shared   bool
}

// Servers returns the client addresses ("127.0.0.1:port") to pass to zk.Connect. For a
// dedicated server on Docker the port changes if its Node is stopped and started; use
// HostProvider to follow it.
func (s *Server) Servers() []string {
	if s.node == nil {
		return append([]string(nil), s.external...)
	}
	return []string{s.node.Addr()}
}

// SecureServers returns the TLS client addresses ("127.0.0.1:port") of a server started
// WithTLS, nil without TLS. Like Servers, a dedicated Docker server's port changes when its
// Node is stopped and started; SecureHostProvider follows it.
func (s *Server) SecureServers() []string {
	if s.node == nil || s.node.SecureAddr() == "" {
		return nil
	}
	return []string{s.node.SecureAddr()}
}

// SecureHostProvider is HostProvider for the TLS port.
func (s *Server) SecureHostProvider() zk.HostProvider {
	if s.node == nil {
		return zk.NewDNSHostProvider()
	}
	return newSecureHostProvider([]*Node{s.node})
}

// ConnectString returns Servers joined by commas, the form Curator and zkCli take.
func (s *Server) ConnectString() string { return strings.Join(s.Servers(), ",") }

// Addr returns the first client address, the one to use for four-letter commands.
func (s *Server) Addr() string { return s.Servers()[0] }

// Node returns the server's Node, to stop, kill or pause it. It is nil for a server shared by
// the package (Start) and on the external backend: faults there would hit other tests.
func (s *Server) Node() *Node {
	if s.shared {
		return nil
	}
	return s.node
}

// HostProvider returns a new zk.HostProvider that resolves the server's current address
// each time go-zk reconnects. Use one per zk.Conn.
func (s *Server) HostProvider() zk.HostProvider {
	if s.node == nil {
		return zk.NewDNSHostProvider()
	}
	return newHostProvider([]*Node{s.node})
}

type sharedServer struct {
	once sync.Once
	srv  *Server
	err  error
}

var (
	mainActive atomic.Bool
	sharedMu   sync.Mutex
	shared     = map[string]*sharedServer{}
)

// Start returns the ZooKeeper server shared by the tests of this package that pass the same
// options; it is started on first use and stopped by Main, so the package's TestMain must
// call Main. Tests keep apart by putting their nodes under BasePath(t), never by reading
// the whole tree. With no backend the test is skipped, or fails under ZK_TEST_REQUIRE=1;
// a backend that fails to start the server fails the test.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	if _, err := newConfig(opts); err != nil {
		t.Fatal(err)
	}
	b := backendFor(t)
	noTLS(t, b, opts)
	if !mainActive.Load() {
		t.Fatal("zktest.Start shares a server between tests and needs `func TestMain(m *testing.M) { zktest.Main(m) }` " +
			"to stop it at the end; or use zktest.StartDedicated")
	}
	srv, err := SharedServer(opts...)
	if err != nil {
		t.Fatalf("backend %s: %v", b.name(), err)
	}
	return srv
}

// SharedServer is Start for code that has no testing.TB, such as Example functions: it
// returns the package's shared server for these options, starting it if needed, or an error
// (also when there is no backend). Main must run the package's tests.
func SharedServer(opts ...Option) (*Server, error) {
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	b, err := currentBackend()
	if err != nil {
		return nil, err
	}
	if !mainActive.Load() {
		return nil, errors.New("zktest: SharedServer needs TestMain to call zktest.Main(m)")
	}
	sharedMu.Lock()
	s := shared[cfg.key()]
	if s == nil {
		s = &sharedServer{}
		shared[cfg.key()] = s
	}
	sharedMu.Unlock()
	s.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), cfg.startTimeout)
		defer cancel()
		s.srv, s.err = startServer(ctx, b, cfg, "shared")
		if s.srv != nil {
			s.srv.shared = true
		}
	})
	return s.srv, s.err
}

// StartDedicated starts a server for this test alone and removes it when the test ends. Use it
// for tests that stop or pause the server (through Server.Node) or need a pristine tree. On
// the external backend it returns the external ensemble, which is shared.
func StartDedicated(t testing.TB, opts ...Option) *Server {
	t.Helper()
	cfg, err := newConfig(opts)
	if err != nil {
		t.Fatal(err)
	}
	b := backendFor(t)
	noTLS(t, b, opts)
	ctx, cancel := context.WithTimeout(context.Background(), cfg.startTimeout)
	defer cancel()
	srv, err := startServer(ctx, b, cfg, t.Name())
	if err != nil {
		t.Fatalf("backend %s: %v", b.name(), err)
	}
	t.Cleanup(func() {
		if srv.node == nil {
			return
		}
		if t.Failed() {
			logTails(t, srv.node)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := srv.node.drv.close(ctx); err != nil {
			t.Errorf("zktest: remove server: %v", err)
		}
	})
	return srv
}

// noTLS ends the test (as unavailable) when it asks for TLS of a backend that has none.
func noTLS(t testing.TB, b backend, opts []Option) {
	t.Helper()
	if cfg, _ := newConfig(opts); cfg.tls != nil {
		if _, ok := b.(*externalBackend); ok {
			unavailable(t, fmt.Errorf("%w: the external backend cannot start a TLS server", ErrUnsupported))
		}
	}
}

func startServer(ctx context.Context, b backend, cfg config, label string) (*Server, error) {
	drv, err := b.startStandalone(ctx, cfg, label)
	if err != nil {
		return nil, err
	}
	if ext, ok := drv.(externalNode); ok {
		return &Server{external: ext.servers}, nil
	}
	return &Server{node: newNode(0, drv)}, nil
}

// stopShared removes the shared servers; Main calls it after the tests.
func stopShared() error {
	sharedMu.Lock()
	defer sharedMu.Unlock()
	var errs []error
	for k, s := range shared {
		if s.srv != nil && s.srv.node != nil {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			errs = append(errs, s.srv.node.drv.close(ctx))
			cancel()
		}
		delete(shared, k)
	}
	return errors.Join(errs...)
}

// logTails puts the end of each node's server log into the test output.
func logTails(t testing.TB, nodes ...*Node) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, n := range nodes {
		if s := n.drv.logTail(ctx, 200); s != "" {
			t.Logf("zktest: last lines of %s's log:\n%s", n.Name, s)
		}
	}
}

// Main runs the package's tests (use it as `func TestMain(m *testing.M) { zktest.Main(m) }`),
// then removes the shared servers and, if the tests passed, fails the run when goroutines
// leaked (go.uber.org/goleak; opts add goleak options such as IgnoreTopFunction). It never
// returns.
func Main(m *testing.M, opts ...goleak.Option) {
	mainActive.Store(true)
	code := m.Run()
	if err := stopShared(); err != nil {
		fmt.Fprintf(os.Stderr, "zktest: removing shared servers: %v\n", err)
		code = max(code, 1)
	}
	if b, ok := chosen.(*dockerBackend); ok {
		b.closeIdle()
	}
	if code == 0 {
		if err := findLeaks(opts...); err != nil {
			fmt.Fprintf(os.Stderr, "zktest: goroutines leaked: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

// Serve runs fn with a server of its own for code outside a test binary, such as the
// tests/cmd/withzk command that gives the root module's runnable Examples a ZooKeeper: it
// starts the server (on the chosen backend, within the start timeout), calls fn with it, and
// removes it before returning fn's result. An error starting or removing the server is
// returned; fn is not called when the server could not start.
func Serve(fn func(*Server) int, opts ...Option) (int, error) {
	cfg, err := newConfig(opts)
	if err != nil {
		return 0, err
	}
	b, err := currentBackend()
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), cfg.startTimeout)
	srv, err := startServer(ctx, b, cfg, "serve")
	cancel()
	if err != nil {
		return 0, fmt.Errorf("backend %s: %w", b.name(), err)
	}
	code := fn(srv)
	stopCtx, stopCancel := context.WithTimeout(context.Background(), time.Minute)
	defer stopCancel()
	if srv.node != nil {
		err = srv.node.drv.close(stopCtx)
	}
	if db, ok := chosen.(*dockerBackend); ok {
		db.closeIdle()
	}
	return code, err
}
