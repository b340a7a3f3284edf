package client_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/zkrecipes/zkrecipes"
	"github.com/zkrecipes/zkrecipes/tests/zktest"
)

// Connect refuses a malformed server list at once, naming the entry, instead of dialing it
// until the connection timeout. Nothing is dialed, so no server is needed.
func TestConnectRejectsBadServerList(t *testing.T) {
	for _, tc := range []struct {
		servers []string
		entry   string
	}{
		{[]string{"127.0.0.1:99999"}, "127.0.0.1:99999"},
		{[]string{"127.0.0.1:zk"}, "127.0.0.1:zk"},
		{[]string{"127.0.0.1:0"}, "127.0.0.1:0"},
		{[]string{":2181"}, ":2181"},
		{[]string{"127.0.0.1:2181,,127.0.0.1:2182"}, "entry 2"},
		{[]string{"127.0.0.1:2181", "127.0.0.1:65536"}, "127.0.0.1:65536"},
		{[]string{"127.0.0.1:2181", ""}, "names no server"},
		{[]string{"127.0.0.1:2181/app/"}, "chroot"},
	} {
		// A connection timeout far longer than the test would ever wait: Connect must
		// fail on its own, not because the timeout passed.
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		_, err := zkrecipes.Connect(ctx, tc.servers, zkrecipes.WithConnectionTimeout(time.Hour))
		cancel()
		if !errors.Is(err, zkrecipes.ErrInvalidArgument) || !strings.Contains(err.Error(), tc.entry) {
			t.Errorf("Connect(%q) = %v, want ErrInvalidArgument naming %q", tc.servers, err, tc.entry)
		}
	}
}

// leftBehind reports the goroutines started since snapshot that still run (goleak retries
// for a few hundred milliseconds, so goroutines on their way out are not counted). The
// Docker client's idle keep-alive loops, which a Pause may leave, are not counted.
func leftBehind(snapshot goleak.Option) error {
	return goleak.Find(snapshot,
		goleak.IgnoreAnyFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreAnyFunction("net/http.(*persistConn).writeLoop"))
}

// frozenServer returns a dedicated server, paused: it accepts TCP connections (the kernel
// or Docker's proxy does) and never answers the handshake.
func frozenServer(t *testing.T) *zktest.Server {
	t.Helper()
	srv := zktest.StartDedicated(t)
	if srv.Node() == nil {
		t.Skip("this backend cannot pause a server")
	}
	if err := srv.Node().Pause(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Node().Unpause(context.Background()) })
	return srv
}

// WithConnectionTimeout is honoured against a server that accepts the connection but
// never answers: Connect fails with ErrConnectTimeout (not with its ctx, which is far
// longer), and by the time it returns it has stopped everything it started: the dial and
// the handshake in flight are abandoned instead of being waited out (go-zk alone would
// sit in the handshake for the session timeout and wait another second for a close
// reply that cannot come). How long Connect takes is measured by
// BenchmarkConnectTimeout, not asserted here.
func TestConnectTimeoutAbandonsHandshake(t *testing.T) {
	srv := frozenServer(t)
	snapshot := goleak.IgnoreCurrent()
	start := time.Now()
	_, err := zkrecipes.Connect(ctxT(t), srv.Servers(),
		zkrecipes.WithConnectionTimeout(time.Second), zkrecipes.WithSessionTimeout(20*time.Second))
	t.Logf("Connect with a 1s connection timeout to a frozen server returned after %v", time.Since(start))
	if !errors.Is(err, zkrecipes.ErrConnectTimeout) || !strings.Contains(err.Error(), "1s") {
		t.Fatalf("Connect = %v, want ErrConnectTimeout naming the 1s timeout", err)
	}
	if err := leftBehind(snapshot); err != nil {
		t.Fatalf("goroutines left behind by a failed Connect: %v", err)
	}
}

// Close of a client whose server froze (SUSPENDED, go-zk stuck in a reconnect handshake)
// returns without waiting for that handshake, and leaves no goroutine behind.
func TestCloseAbandonsReconnectHandshake(t *testing.T) {
	srv := zktest.StartDedicated(t)
	node := srv.Node()
	if node == nil {
		t.Skip("this backend cannot pause a server")
	}
	ctx := ctxT(t)
	dialed := make(chan struct{}, 10)
	dial := func(network, addr string, timeout time.Duration) (net.Conn, error) {
		c, err := net.DialTimeout(network, addr, timeout)
		if err == nil {
			dialed <- struct{}{}
		}
		return c, err
	}
	snapshot := goleak.IgnoreCurrent()
	c, err := zkrecipes.Connect(ctx, srv.Servers(), zkrecipes.WithSessionTimeout(20*time.Second),
		zkrecipes.WithDialer(dial))
	if err != nil {
		t.Fatal(err)
	}
	<-dialed
	rec := record(c)
	if err := node.Pause(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = node.Unpause(context.Background()) })
	rec.waitFor(t, 0, zkrecipes.StateSuspended)
	// go-zk dialed the frozen server again and now waits for its handshake.
	select {
	case <-dialed:
	case <-ctx.Done():
		t.Fatal("go-zk did not reconnect to the frozen server")
	}
	start := time.Now()
	if err := c.Close(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("Close of a suspended client returned after %v", time.Since(start))
	if err := leftBehind(snapshot); err != nil {
		t.Fatalf("goroutines left behind by Close: %v", err)
	}
}

// BenchmarkConnectTimeout measures how long a Connect to an unreachable server takes for a
// given connection timeout, and reports the overshoot past the timeout (overshoot-ms):
// "refused" is a port nobody listens on, "frozen" a paused ZooKeeper that accepts the
// connection and never answers. Run with -benchtime=1x.
func BenchmarkConnectTimeout(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	refused := ln.Addr().String()
	ln.Close()
	frozen := zktest.StartDedicated(b)
	if frozen.Node() == nil {
		b.Skip("this backend cannot pause a server")
	}
	if err := frozen.Node().Pause(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = frozen.Node().Unpause(context.Background()) })
	for _, target := range []struct{ name, addr string }{{"refused", refused}, {"frozen", frozen.Addr()}} {
		for _, timeout := range []time.Duration{time.Second, 2 * time.Second, 5 * time.Second} {
			b.Run(target.name+"/"+timeout.String(), func(b *testing.B) {
				var over time.Duration
				for i := 0; i < b.N; i++ {
					start := time.Now()
					_, err := zkrecipes.Connect(context.Background(), []string{target.addr},
						zkrecipes.WithConnectionTimeout(timeout), zkrecipes.WithSessionTimeout(20*time.Second))
					over += time.Since(start) - timeout
					if !errors.Is(err, zkrecipes.ErrConnectTimeout) {
						b.Fatalf("Connect = %v", err)
					}
				}
				b.ReportMetric(float64(over.Milliseconds())/float64(b.N), "overshoot-ms")
			})
		}
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent writers (a log handler's output).
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// A server list that points at something other than ZooKeeper (here a listener that
// answers like an HTTP server): the handshake is refused as soon as the reply's length
// is impossible, instead of go-zk allocating a buffer of whatever length the first bytes
// spell ("HTTP" is 1.2 GB), and Connect fails with ErrConnectTimeout. No ZooKeeper is
// involved: the point is the absence of one.
func TestConnectToNonZooKeeperEndpoint(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_, _ = c.Write([]byte("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"))
			c.Close()
		}
	}()
	var logs syncBuffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	_, err = zkrecipes.Connect(ctxT(t), []string{ln.Addr().String()},
		zkrecipes.WithConnectionTimeout(time.Second), zkrecipes.WithLogger(log))
	if !errors.Is(err, zkrecipes.ErrConnectTimeout) {
		t.Fatalf("Connect = %v, want ErrConnectTimeout", err)
	}
	if !strings.Contains(logs.String(), "is not a ZooKeeper server") {
		t.Fatalf("the handshake with a non-ZooKeeper endpoint was not refused; log:\n%s", logs.String())
	}
}
