package zktest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	tclog "github.com/testcontainers/testcontainers-go/log"
	tcnetwork "github.com/testcontainers/testcontainers-go/network"
)

// DefaultImage is the image the Docker backend runs unless ZK_IMAGE names another. It is
// built from Debian's packages by `make image` (tests/zktest/image/build.sh).
const DefaultImage = "zkrecipes/zookeeper:3.8"

// LabelKey marks every container and network the harness creates; after a crashed test
// binary, `docker rm -f $(docker ps -aq --filter label=zkrecipes.zktest)` removes leftovers.
const LabelKey = "zkrecipes.zktest"

func init() {
	// Ryuk, testcontainers' reaper, needs an image of its own that cannot be pulled here; the
	// harness removes what it creates itself. testcontainers reads this on first use.
	os.Setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
	// testcontainers narrates every container to stderr; the harness reports what matters.
	if os.Getenv("ZK_TEST_VERBOSE") == "" {
		tclog.SetDefault(tclog.NewNoopLogger())
	}
}

const clientPort = "2181/tcp"

// securePort is the container's TLS client port (WithTLS), and tlsDir where its files go.
const (
	securePort    = "2281/tcp"
	securePortNum = 2281
	tlsDir        = "/conf"
)

// dockerBackend runs each server in a container started from the image.
type dockerBackend struct {
	image  string
	host   string     // where published ports are reached
	bindIP netip.Addr // where they are published; 127.0.0.1 for a local engine
	cli    *testcontainers.DockerClient
}

func probeDocker(ctx context.Context) (backend, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cli, err := testcontainers.NewDockerClientWithOpts(ctx)
	if err != nil {
		return nil, fmt.Errorf("no Docker engine: %w", err)
	}
	if _, err := cli.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true}); err != nil {
		cli.Close()
		return nil, fmt.Errorf("no Docker engine answers: %w", err)
	}
	b := &dockerBackend{image: DefaultImage, host: "127.0.0.1", bindIP: netip.MustParseAddr("127.0.0.1"), cli: cli}
	if v := os.Getenv(EnvImage); v != "" {
		b.image = v
	}
	if h := cli.DaemonHost(); !strings.HasPrefix(h, "unix://") && !strings.HasPrefix(h, "npipe://") {
		if u, _, err := net.SplitHostPort(strings.TrimPrefix(strings.TrimPrefix(h, "tcp://"), "http://")); err == nil && u != "localhost" && u != "127.0.0.1" {
			b.host, b.bindIP = u, netip.Addr{} // a remote engine: publish on all its interfaces
		}
	}
	return b, nil
}

func (b *dockerBackend) name() string { return "docker (image " + b.image + ")" }

// closeIdle drops the client's idle HTTP connections so their goroutines end before the
// leak check; the client stays usable.
func (b *dockerBackend) closeIdle() { b.cli.Close() }

// checkImage fails fast when the image is missing: testcontainers would try to pull it and
// retry for many minutes, and this machine has no registry.
func (b *dockerBackend) checkImage(ctx context.Context) error {
	_, err := b.cli.ImageInspect(ctx, b.image)
	if err == nil {
		return nil
	}
	if cerrdefs.IsNotFound(err) {
		return fmt.Errorf("zktest: Docker image %s is not present locally and will not be pulled; build it with `make image` "+
			"(bash tests/zktest/image/build.sh), or set %s to an image you have, or %s=local to run the ZooKeeper jar instead",
			b.image, EnvImage, EnvBackend)
	}
	return fmt.Errorf("zktest: inspect image %s: %w", b.image, err)
}

func (b *dockerBackend) env(cfg config) map[string]string {
	env := map[string]string{
		// The official image reads JVMFLAGS through zkServer.sh; ours reads it directly.
		"JVMFLAGS":       strings.Join(cfg.jvm(), " "),
		"ZK_SERVER_HEAP": "256",
	}
	names := map[string]string{
		"tickTime":               "ZOO_TICK_TIME",
		"initLimit":              "ZOO_INIT_LIMIT",
		"syncLimit":              "ZOO_SYNC_LIMIT",
		"maxClientCnxns":         "ZOO_MAX_CLIENT_CNXNS",
		"4lw.commands.whitelist": "ZOO_4LW_COMMANDS_WHITELIST",
		"admin.enableServer":     "ZOO_ADMINSERVER_ENABLED",
	}
	var extra []string
	settings := cfg.settings()
	if cfg.tls != nil {
		settings = append(settings, cfg.tls.settings(tlsDir, securePortNum)...)
	}
	for _, kv := range settings {
		if n, ok := names[kv[0]]; ok {
			env[n] = kv[1]
		} else {
			extra = append(extra, kv[0]+"="+kv[1])
		}
	}
	if len(extra) > 0 {
		env["ZOO_CFG_EXTRA"] = strings.Join(extra, " ")
	}
	if cfg.tls != nil {
		// Our image's entrypoint puts zookeeper.jar (whose manifest lacks netty-codec) on the
		// classpath and takes no more, so the Netty jars go on the boot class path: Netty is
		// then loaded from there as a whole. Paths that do not exist (the official image
		// bundles Netty elsewhere) are ignored by the JVM.
		boot := append([]string{"/usr/share/java/netty-common.jar", "/usr/share/java/netty-buffer.jar",
			"/usr/share/java/netty-transport.jar", "/usr/share/java/netty-handler.jar",
			"/usr/share/java/netty-transport-native-epoll.jar"}, nettyJars...)
		env["JVMFLAGS"] += " -Xbootclasspath/a:" + strings.Join(boot, ":")
	}
	return env
}

func (b *dockerBackend) labels(label string) map[string]string {
	return map[string]string{LabelKey: label, LabelKey + ".pid": strconv.Itoa(os.Getpid())}
}

// run creates and starts one container; networks[0] is joined with alias, if any. With
// t, the TLS files are copied in before it starts and the secure port is published.
func (b *dockerBackend) run(ctx context.Context, label string, env map[string]string, networks []string, alias string, t *TLS) (*dockerNode, error) {
	ports := []string{clientPort}
	if t != nil {
		ports = append(ports, securePort)
	}
	req := testcontainers.ContainerRequest{
		Image:        b.image,
		ExposedPorts: ports,
		Env:          env,
		Labels:       b.labels(label),
		Networks:     networks,
		HostConfigModifier: func(hc *container.HostConfig) {
			hc.PortBindings = network.PortMap{}
			for _, p := range ports {
				hc.PortBindings[network.MustParsePort(p)] = []network.PortBinding{{HostIP: b.bindIP}}
			}
		},
	}
	if t != nil {
		for name, data := range t.files() {
			req.Files = append(req.Files, testcontainers.ContainerFile{
				Reader: bytes.NewReader(data), ContainerFilePath: tlsDir + "/" + name, FileMode: 0o644,
			})
		}
	}
	if alias != "" {
		req.NetworkAliases = map[string][]string{networks[0]: {alias}}
		req.ConfigModifier = func(c *container.Config) { c.Hostname = alias }
	}
	ctr, err := testcontainers.GenericContainer(ctx, testcontainers.GenericContainerRequest{ContainerRequest: req, Started: true})
	if ctr != nil {
		n := &dockerNode{b: b, ctr: ctr.(*testcontainers.DockerContainer), alias: alias, tls: t != nil}
		if err == nil {
			err = n.refreshAddr(ctx)
		}
		if err != nil {
			n.close(context.Background())
			return nil, fmt.Errorf("zktest: start container: %w", err)
		}
		return n, nil
	}
	return nil, fmt.Errorf("zktest: start container: %w", err)
}

func (b *dockerBackend) startStandalone(ctx context.Context, cfg config, label string) (nodeDriver, error) {
	if err := b.checkImage(ctx); err != nil {
		return nil, err
	}
	n, err := b.run(ctx, label, b.env(cfg), nil, "", cfg.tls)
	if err != nil {
		return nil, err
	}
	if _, err := waitServing(ctx, n.addr(), n.exited); err != nil {
		err = fmt.Errorf("%w\n%s", err, n.logTail(ctx, 40))
		n.close(context.Background())
		return nil, err
	}
	return n, nil
}

func (b *dockerBackend) startEnsemble(ctx context.Context, cfg config, label string, size int) ([]nodeDriver, func(context.Context) error, error) {
	if cfg.tls != nil {
		return nil, nil, fmt.Errorf("%w: WithTLS is for standalone servers", ErrUnsupported)
	}
	if err := b.checkImage(ctx); err != nil {
		return nil, nil, err
	}
	// Internal: Docker publishes ports on the network that gives a container its default
	// gateway, chosen by network name among non-internal ones. An internal ensemble network
	// never gives the gateway, so the published client port stays on the default bridge and
	// survives Partition.
	nw, err := tcnetwork.New(ctx, tcnetwork.WithInternal(), tcnetwork.WithLabels(b.labels(label)))
	if err != nil {
		return nil, nil, fmt.Errorf("zktest: create network: %w", err)
	}
	removeNetwork := func(ctx context.Context) error { return nw.Remove(ctx) }
	var servers []string
	for id := 1; id <= size; id++ {
		servers = append(servers, fmt.Sprintf("server.%d=zk%d:2888:3888;2181", id, id))
	}
	nodes := make([]*dockerNode, size)
	errs := make([]error, size)
	var wg sync.WaitGroup
	for i := range size {
		env := b.env(cfg)
		env["ZOO_MY_ID"] = strconv.Itoa(i + 1)
		env["ZOO_SERVERS"] = strings.Join(servers, " ")
		// Members call each other by network alias; listening on every interface keeps a
		// member reachable after Heal reconnects it with a new address.
		env["ZOO_CFG_EXTRA"] = strings.TrimSpace("quorumListenOnAllIPs=true " + env["ZOO_CFG_EXTRA"])
		wg.Go(func() {
			// Clients reach the member through a port published on the default bridge; the
			// members talk over the ensemble's own network, which Partition disconnects.
			nodes[i], errs[i] = b.run(ctx, label, env, []string{nw.Name, "bridge"}, fmt.Sprintf("zk%d", i+1), nil)
		})
	}
	wg.Wait()
	drivers := make([]nodeDriver, size)
	for i, n := range nodes {
		if n != nil {
			n.id, n.netID = i+1, nw.ID
		}
		drivers[i] = n
	}
	if err := errors.Join(errs...); err != nil {
		for _, n := range nodes {
			if n != nil {
				n.close(context.Background())
			}
		}
		return nil, nil, errors.Join(err, removeNetwork(context.Background()))
	}
	return drivers, removeNetwork, nil
}

// dockerNode is one container. Stopping and starting it gives it a new host port; addr
// follows.
type dockerNode struct {
	b     *dockerBackend
	ctr   *testcontainers.DockerContainer
	id    int
	alias string
	netID string // the ensemble network; "" for a standalone server
	tls   bool   // the secure port is published

	mu        sync.Mutex
	cur       string
	curSecure string
	intended  bool // the harness stopped it; exiting is not a failure
	paused    bool
	lastCheck time.Time
	lastErr   error
}

func (n *dockerNode) addr() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.cur
}

func (n *dockerNode) refreshAddr(ctx context.Context) error {
	p, err := n.ctr.MappedPort(ctx, clientPort)
	if err != nil {
		return err
	}
	secure := ""
	if n.tls {
		sp, err := n.ctr.MappedPort(ctx, securePort)
		if err != nil {
			return err
		}
		secure = net.JoinHostPort(n.b.host, sp.Port())
	}
	n.mu.Lock()
	n.cur, n.curSecure = net.JoinHostPort(n.b.host, p.Port()), secure
	n.mu.Unlock()
	return nil
}

func (n *dockerNode) secureAddr() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.curSecure
}

func (n *dockerNode) id8() string { return n.ctr.GetContainerID()[:12] }

// thaw unpauses the container if the harness paused it: Docker refuses to stop or kill a
// paused container.
func (n *dockerNode) thaw(ctx context.Context) error {
	n.mu.Lock()
	paused := n.paused
	n.mu.Unlock()
	if !paused {
		return nil
	}
	return n.unpause(ctx)
}

func (n *dockerNode) stop(ctx context.Context) error {
	n.mu.Lock()
	n.intended = true
	n.mu.Unlock()
	if err := n.thaw(ctx); err != nil {
		return err
	}
	timeout := 10 * time.Second
	return n.ctr.Stop(ctx, &timeout)
}

func (n *dockerNode) start(ctx context.Context) error {
	if err := n.ctr.Start(ctx); err != nil {
		return err
	}
	n.mu.Lock()
	n.intended, n.paused, n.lastErr = false, false, nil
	n.mu.Unlock()
	return n.refreshAddr(ctx)
}

func (n *dockerNode) kill(ctx context.Context) error {
	n.mu.Lock()
	n.intended = true
	n.mu.Unlock()
	if err := n.thaw(ctx); err != nil {
		return err
	}
	if _, err := n.b.cli.ContainerKill(ctx, n.ctr.GetContainerID(), client.ContainerKillOptions{Signal: "KILL"}); err != nil {
		return fmt.Errorf("zktest: kill %s: %w", n.id8(), err)
	}
	// The kill is asynchronous; return once the container is down, as a crash would be.
	for {
		st, err := n.ctr.State(ctx)
		if err != nil {
			return err
		}
		if !st.Running {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (n *dockerNode) pause(ctx context.Context) error {
	if _, err := n.b.cli.ContainerPause(ctx, n.ctr.GetContainerID(), client.ContainerPauseOptions{}); err != nil {
		return fmt.Errorf("zktest: pause %s: %w", n.id8(), err)
	}
	n.mu.Lock()
	n.paused = true
	n.mu.Unlock()
	return nil
}

func (n *dockerNode) unpause(ctx context.Context) error {
	if _, err := n.b.cli.ContainerUnpause(ctx, n.ctr.GetContainerID(), client.ContainerUnpauseOptions{}); err != nil {
		return fmt.Errorf("zktest: unpause %s: %w", n.id8(), err)
	}
	n.mu.Lock()
	n.paused = false
	n.mu.Unlock()
	return nil
}

func (n *dockerNode) partition(ctx context.Context) error {
	if n.netID == "" {
		return fmt.Errorf("%w: a standalone server has no peers", ErrUnsupported)
	}
	_, err := n.b.cli.NetworkDisconnect(ctx, n.netID, client.NetworkDisconnectOptions{Container: n.ctr.GetContainerID(), Force: true})
	if err != nil {
		return fmt.Errorf("zktest: disconnect %s from its ensemble network: %w", n.id8(), err)
	}
	return nil
}

func (n *dockerNode) heal(ctx context.Context) error {
	if n.netID == "" {
		return fmt.Errorf("%w: a standalone server has no peers", ErrUnsupported)
	}
	_, err := n.b.cli.NetworkConnect(ctx, n.netID, client.NetworkConnectOptions{
		Container:      n.ctr.GetContainerID(),
		EndpointConfig: &network.EndpointSettings{Aliases: []string{n.alias}},
	})
	if err != nil {
		return fmt.Errorf("zktest: reconnect %s to its ensemble network: %w", n.id8(), err)
	}
	return nil
}

func (n *dockerNode) exited() error {
	n.mu.Lock()
	// Waits poll this often; the engine need not answer that often.
	if n.intended || time.Since(n.lastCheck) < time.Second {
		defer n.mu.Unlock()
		if n.intended {
			return nil
		}
		return n.lastErr
	}
	n.lastCheck = time.Now()
	n.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := n.ctr.State(ctx)
	if err != nil || st.Running || st.Paused || st.Restarting {
		return nil
	}
	err = fmt.Errorf("zktest: container %s (%s) exited with code %d %s", n.id8(), n.b.image, st.ExitCode, st.Error)
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.intended { // stopped on purpose meanwhile
		return nil
	}
	n.lastErr = err
	return err
}

func (n *dockerNode) logTail(ctx context.Context, lines int) string {
	rc, err := n.ctr.Logs(ctx)
	if err != nil {
		return ""
	}
	defer rc.Close()
	b, _ := io.ReadAll(io.LimitReader(rc, 4<<20))
	return tail(string(b), lines)
}

func (n *dockerNode) close(ctx context.Context) error {
	n.mu.Lock()
	n.intended = true
	n.mu.Unlock()
	n.thaw(ctx)
	_, err := n.b.cli.ContainerRemove(ctx, n.ctr.GetContainerID(), client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
	if cerrdefs.IsNotFound(err) {
		err = nil
	}
	return err
}
