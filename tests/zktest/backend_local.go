package zktest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// EnvClasspath overrides the Java classpath of the local backend (default: Debian's
// /usr/share/java/zookeeper.jar, whose manifest pulls in its dependencies, plus
// slf4j-simple.jar so the server has a log).
const EnvClasspath = "ZK_TEST_CLASSPATH"

var defaultClasspath = []string{"/usr/share/java/zookeeper.jar", "/usr/share/java/slf4j-simple.jar"}

// nettyJars are the Netty jars ZooKeeper's TLS needs besides those zookeeper.jar's manifest
// lists: Debian's manifest leaves out netty-codec (SslHandler's base class) and its
// companions, which the plaintext Netty path never loads.
var nettyJars = []string{"/usr/share/java/netty-codec.jar", "/usr/share/java/netty-resolver.jar",
	"/usr/share/java/netty-transport-native-unix-common.jar"}

const quorumPeerMain = "org.apache.zookeeper.server.quorum.QuorumPeerMain"

// localBackend runs Debian's ZooKeeper jar as child processes bound to 127.0.0.1.
type localBackend struct {
	java      string
	classpath string
}

func probeLocal() (backend, error) {
	java, err := exec.LookPath("java")
	if err != nil {
		return nil, fmt.Errorf("java not found on PATH (apt-get install -y default-jre-headless zookeeper)")
	}
	cp := defaultClasspath
	if v := os.Getenv(EnvClasspath); v != "" {
		cp = filepath.SplitList(v)
	}
	for _, p := range cp {
		if _, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("%s missing (apt-get install -y zookeeper, or set %s)", p, EnvClasspath)
		}
	}
	return &localBackend{java: java, classpath: strings.Join(cp, string(os.PathListSeparator))}, nil
}

func (b *localBackend) name() string { return "local (" + b.classpath + ")" }

func (b *localBackend) startStandalone(ctx context.Context, cfg config, label string) (nodeDriver, error) {
	ports, err := freePorts(2)
	if err != nil {
		return nil, err
	}
	n, err := b.newNode(cfg, label, 0, ports[0], nil)
	if err == nil && cfg.tls != nil {
		err = n.setupTLS(cfg.tls, ports[1])
	}
	if err != nil {
		return nil, err
	}
	if err := n.start(ctx); err != nil {
		n.close(context.Background())
		return nil, err
	}
	if _, err := waitServing(ctx, n.addr(), n.exited); err != nil {
		err = fmt.Errorf("%w\n%s", err, n.logTail(ctx, 40))
		n.close(context.Background())
		return nil, err
	}
	return n, nil
}

func (b *localBackend) startEnsemble(ctx context.Context, cfg config, label string, size int) ([]nodeDriver, func(context.Context) error, error) {
	if cfg.tls != nil {
		return nil, nil, fmt.Errorf("%w: WithTLS is for standalone servers", ErrUnsupported)
	}
	ports, err := freePorts(3 * size)
	if err != nil {
		return nil, nil, err
	}
	client, quorum, election := ports[:size], ports[size:2*size], ports[2*size:]
	links, err := newPeerLinks(size, quorum, election)
	if err != nil {
		return nil, nil, err
	}
	var nodes []nodeDriver
	fail := func(err error) ([]nodeDriver, func(context.Context) error, error) {
		for _, n := range nodes {
			n.close(context.Background())
		}
		links.close()
		return nil, nil, err
	}
	for i := range size {
		id := i + 1
		var servers []string
		for j := range size {
			q, e := quorum[j], election[j]
			if j != i {
				// Peers are reached through the harness's proxies so Partition can cut them.
				q, e = links.port(id, j+1, linkQuorum), links.port(id, j+1, linkElection)
			}
			servers = append(servers, fmt.Sprintf("server.%d=127.0.0.1:%d:%d", j+1, q, e))
		}
		n, err := b.newNode(cfg, label, id, client[i], servers)
		if err != nil {
			return fail(err)
		}
		n.links = links
		nodes = append(nodes, n)
	}
	for _, n := range nodes {
		if err := n.start(ctx); err != nil {
			return fail(err)
		}
	}
	return nodes, func(context.Context) error { links.close(); return nil }, nil
}

// localNode is one ZooKeeper JVM. Its directory keeps zoo.cfg, the data (so a restarted node
// rejoins with its state) and server.log.
type localNode struct {
	b          *localBackend
	id         int // 0 for a standalone server
	dir        string
	clientPort int
	securePort int      // 0 without TLS
	jvm        []string // the JVM flags (config.jvm)
	classpath  string   // the backend's, with the Netty jars TLS needs
	links      *peerLinks

	mu       sync.Mutex
	cmd      *exec.Cmd
	done     chan struct{} // closed when cmd has exited
	waitErr  error
	intended bool // the harness stopped it; exiting is not a failure
	paused   bool
}

func (b *localBackend) newNode(cfg config, label string, id, clientPort int, servers []string) (*localNode, error) {
	dir, err := os.MkdirTemp("", "zktest-"+safeName(label)+"-")
	if err != nil {
		return nil, err
	}
	n := &localNode{b: b, id: id, dir: dir, clientPort: clientPort, classpath: b.classpath, jvm: cfg.jvm()}
	var c strings.Builder
	fmt.Fprintf(&c, "dataDir=%s\nclientPort=%d\nclientPortAddress=127.0.0.1\n", filepath.Join(dir, "data"), clientPort)
	for _, kv := range cfg.settings() {
		fmt.Fprintf(&c, "%s=%s\n", kv[0], kv[1])
	}
	for _, s := range servers {
		c.WriteString(s + "\n")
	}
	err = errors.Join(
		os.MkdirAll(filepath.Join(dir, "data"), 0o755),
		os.WriteFile(filepath.Join(dir, "zoo.cfg"), []byte(c.String()), 0o644),
	)
	if err == nil && id > 0 {
		err = os.WriteFile(filepath.Join(dir, "data", "myid"), []byte(strconv.Itoa(id)+"\n"), 0o644)
	}
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return n, nil
}

func (n *localNode) addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(n.clientPort)) }

func (n *localNode) secureAddr() string {
	if n.securePort == 0 {
		return ""
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(n.securePort))
}

// setupTLS writes the TLS material next to zoo.cfg and adds the TLS lines to it.
func (n *localNode) setupTLS(t *TLS, port int) error {
	for name, data := range t.files() {
		if err := os.WriteFile(filepath.Join(n.dir, name), data, 0o600); err != nil {
			n.close(context.Background())
			return err
		}
	}
	var c strings.Builder
	c.WriteString("secureClientPortAddress=127.0.0.1\n")
	for _, kv := range t.settings(n.dir, port) {
		fmt.Fprintf(&c, "%s=%s\n", kv[0], kv[1])
	}
	f, err := os.OpenFile(filepath.Join(n.dir, "zoo.cfg"), os.O_APPEND|os.O_WRONLY, 0)
	if err == nil {
		_, err = f.WriteString(c.String())
		err = errors.Join(err, f.Close())
	}
	if err != nil {
		n.close(context.Background())
		return err
	}
	n.securePort = port
	for _, j := range nettyJars {
		if _, err := os.Stat(j); err == nil && !strings.Contains(n.classpath, j) {
			n.classpath += string(os.PathListSeparator) + j
		}
	}
	return nil
}

func (n *localNode) start(ctx context.Context) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.running() {
		return fmt.Errorf("zktest: node %d is already running", n.id)
	}
	log, err := os.OpenFile(filepath.Join(n.dir, "server.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer log.Close() // the child holds its own descriptor
	args := append([]string{}, n.jvm...)
	args = append(args, "-Dorg.slf4j.simpleLogger.showDateTime=true", "-cp", n.classpath, quorumPeerMain, filepath.Join(n.dir, "zoo.cfg"))
	cmd := exec.Command(n.b.java, args...)
	cmd.Dir = n.dir
	cmd.Stdout, cmd.Stderr = log, log
	// If the test binary dies without cleaning up (a timeout panic, a signal), the kernel
	// kills the server with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("zktest: start %s: %w", n.b.java, err)
	}
	done := make(chan struct{})
	n.cmd, n.done, n.waitErr, n.intended, n.paused = cmd, done, nil, false, false
	go func() {
		err := cmd.Wait()
		n.mu.Lock()
		n.waitErr = err
		n.mu.Unlock()
		close(done)
	}()
	return nil
}

// running reports whether the process is alive; n.mu must be held.
func (n *localNode) running() bool {
	if n.cmd == nil {
		return false
	}
	select {
	case <-n.done:
		return false
	default:
		return true
	}
}

func (n *localNode) exited() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd == nil || n.running() || n.intended {
		return nil
	}
	return fmt.Errorf("zktest: ZooKeeper process (node %d) exited: %v", n.id, n.waitErr)
}

// signal sends sig and, when wait > 0, waits that long for the process to exit.
func (n *localNode) signal(ctx context.Context, sig syscall.Signal, wait time.Duration) error {
	n.mu.Lock()
	if !n.running() {
		n.mu.Unlock()
		return nil
	}
	n.intended = true
	cmd, done, paused := n.cmd, n.done, n.paused
	n.mu.Unlock()
	if err := cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	if paused && sig != syscall.SIGKILL {
		cmd.Process.Signal(syscall.SIGCONT) // a stopped process acts on SIGTERM only once continued
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return errTimeout
	}
}

var errTimeout = errors.New("timeout")

func (n *localNode) stop(ctx context.Context) error {
	err := n.signal(ctx, syscall.SIGTERM, 10*time.Second)
	if errors.Is(err, errTimeout) {
		err = n.kill(ctx)
	}
	return err
}

func (n *localNode) kill(ctx context.Context) error {
	err := n.signal(ctx, syscall.SIGKILL, time.Minute)
	if errors.Is(err, errTimeout) {
		return fmt.Errorf("zktest: node %d survived SIGKILL for a minute", n.id)
	}
	return err
}

func (n *localNode) setPaused(sig syscall.Signal, paused bool) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.running() {
		return fmt.Errorf("zktest: node %d is not running", n.id)
	}
	if err := n.cmd.Process.Signal(sig); err != nil {
		return err
	}
	n.paused = paused
	return nil
}

func (n *localNode) pause(context.Context) error   { return n.setPaused(syscall.SIGSTOP, true) }
func (n *localNode) unpause(context.Context) error { return n.setPaused(syscall.SIGCONT, false) }

func (n *localNode) partition(context.Context) error {
	if n.links == nil {
		return fmt.Errorf("%w: a standalone server has no peers", ErrUnsupported)
	}
	n.links.setCut(n.id, true)
	return nil
}

func (n *localNode) heal(context.Context) error {
	if n.links == nil {
		return fmt.Errorf("%w: a standalone server has no peers", ErrUnsupported)
	}
	n.links.setCut(n.id, false)
	return nil
}

func (n *localNode) logTail(_ context.Context, lines int) string {
	b, err := os.ReadFile(filepath.Join(n.dir, "server.log"))
	if err != nil {
		return ""
	}
	return tail(string(b), lines)
}

func (n *localNode) close(ctx context.Context) error {
	err := n.kill(ctx)
	return errors.Join(err, os.RemoveAll(n.dir))
}

func tail(s string, lines int) string {
	s = strings.TrimRight(s, "\n")
	i := len(s)
	for range lines {
		j := strings.LastIndexByte(s[:i], '\n')
		if j < 0 {
			return s
		}
		i = j
	}
	return s[i+1:]
}
