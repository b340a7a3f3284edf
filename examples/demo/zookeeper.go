package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/zkrecipes/zkrecipes/examples/internal/procs"
)

// zooKeeper is the server the demo runs against.
type zooKeeper struct {
	addr  string // host:port for clients
	what  string // for the transcript
	stop  func() error
	owned bool   // false for ZK_SERVERS: the demo must not stop it
	tick  string // the server's tickTime, for the transcript
	note  string // why it is not what one would expect, if so
}

// demo's server settings: a 1 s tick allows sessions of 2 s to 20 s, so the demo's short
// session timeout is accepted and a crashed leader is noticed quickly.
const tickTime = time.Second

// startZooKeeper uses $ZK_SERVERS if set, else starts a container from image, else (no
// Docker or no image) a local java process from Debian's zookeeper package.
func startZooKeeper(ctx context.Context, image string, tmp string) (*zooKeeper, error) {
	if s := os.Getenv("ZK_SERVERS"); s != "" {
		return &zooKeeper{addr: s, what: "ZK_SERVERS=" + s + " (already running; its tickTime must allow the session timeout)",
			stop: func() error { return nil }, tick: "of the ZK_SERVERS server"}, nil
	}
	var reasons []string
	zk, err := startContainer(ctx, image)
	if err == nil {
		return zk, nil
	}
	reasons = append(reasons, "docker: "+err.Error())
	zk, err = startLocal(ctx, tmp)
	if err == nil {
		zk.note = "not in Docker: " + strings.TrimPrefix(reasons[0], "docker: ")
		return zk, nil
	}
	reasons = append(reasons, "local java: "+err.Error())
	return nil, fmt.Errorf("no ZooKeeper: %s\n  fix one of them: `make image` builds %s; `apt-get install zookeeper` gives the local fallback; or set ZK_SERVERS=host:port",
		strings.Join(reasons, "; "), image)
}

func docker(ctx context.Context, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, "docker", args...).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("docker %s: %w: %s", args[0], err, strings.TrimSpace(string(out)))
	}
	return strings.TrimSpace(string(out)), nil
}

func startContainer(ctx context.Context, image string) (*zooKeeper, error) {
	if _, err := exec.LookPath("docker"); err != nil {
		return nil, errors.New("no docker command")
	}
	if _, err := docker(ctx, "image", "inspect", "--format", "{{.Id}}", image); err != nil {
		return nil, fmt.Errorf("image %s is missing (run `make image`)", image)
	}
	id, err := docker(ctx, "run", "-d", "--rm",
		"-p", "127.0.0.1::2181",
		"-e", "ZOO_TICK_TIME="+strconv.FormatInt(tickTime.Milliseconds(), 10),
		"-e", "ZOO_MAX_CLIENT_CNXNS=0",
		"-e", "ZOO_4LW_COMMANDS_WHITELIST=srvr,ruok,stat,mntr",
		"--label", "zkrecipes.demo=1",
		image)
	if err != nil {
		return nil, err
	}
	stop := func() error {
		sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, err := docker(sctx, "rm", "-f", id)
		return err
	}
	port, err := docker(ctx, "port", id, "2181/tcp")
	if err != nil {
		_ = stop()
		return nil, err
	}
	// `docker port` prints one line per binding; ours is the 127.0.0.1 one.
	addr := strings.Fields(port)[0]
	if _, p, err := net.SplitHostPort(addr); err == nil {
		addr = net.JoinHostPort("127.0.0.1", p)
	}
	zk := &zooKeeper{addr: addr, what: fmt.Sprintf("container %s of %s, tickTime %v", id[:12], image, tickTime), stop: stop, owned: true, tick: tickTime.String()}
	if err := waitServing(ctx, addr, nil); err != nil {
		logs, _ := docker(context.Background(), "logs", "--tail", "20", id)
		_ = stop()
		return nil, fmt.Errorf("%w\n%s", err, logs)
	}
	return zk, nil
}

func startLocal(ctx context.Context, tmp string) (*zooKeeper, error) {
	const jar = "/usr/share/java/zookeeper.jar"
	if _, err := os.Stat(jar); err != nil {
		return nil, fmt.Errorf("%s missing", jar)
	}
	if _, err := exec.LookPath("java"); err != nil {
		return nil, errors.New("no java command")
	}
	port, err := procs.FreePort()
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(tmp, "zookeeper")
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o755); err != nil {
		return nil, err
	}
	cfg := fmt.Sprintf("tickTime=%d\ndataDir=%s\nclientPort=%d\nclientPortAddress=127.0.0.1\nmaxClientCnxns=0\nadmin.enableServer=false\n4lw.commands.whitelist=srvr,ruok,stat,mntr\n",
		tickTime.Milliseconds(), filepath.Join(dir, "data"), port)
	cfgFile := filepath.Join(dir, "zoo.cfg")
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o644); err != nil {
		return nil, err
	}
	cp := jar
	if _, err := os.Stat("/usr/share/java/slf4j-simple.jar"); err == nil {
		cp += ":/usr/share/java/slf4j-simple.jar"
	}
	p, err := procs.Start("zookeeper", "java", []string{
		"-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
		"-cp", cp, "org.apache.zookeeper.server.quorum.QuorumPeerMain", cfgFile,
	}, nil, nil)
	if err != nil {
		return nil, err
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	zk := &zooKeeper{
		addr: addr,
		what: fmt.Sprintf("local java process (pid %d) from %s, tickTime %v", p.PID(), jar, tickTime),
		stop: func() error {
			// The JVM exits with 128+SIGTERM when asked to stop: that is a clean stop.
			var ee *exec.ExitError
			if err := p.Stop(10 * time.Second); err != nil && !(errors.As(err, &ee) && ee.ExitCode() == 143) {
				return err
			}
			return nil
		},
		owned: true,
		tick:  tickTime.String(),
	}
	if err := waitServing(ctx, addr, p); err != nil {
		_ = p.Kill()
		return nil, fmt.Errorf("%w\n%s", err, p.Output())
	}
	return zk, nil
}

// waitServing waits until `srvr` reports a mode: `ruok` answers imok before the server
// serves anything.
func waitServing(ctx context.Context, addr string, p *procs.Process) error {
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	return procs.Poll(ctx, 100*time.Millisecond, "ZooKeeper at "+addr+" serving", func(ctx context.Context) (bool, error) {
		if p != nil {
			if exited, err := p.Exited(); exited {
				return false, &procs.Permanent{Err: fmt.Errorf("zookeeper exited: %v", err)}
			}
		}
		out, err := fourLetter(ctx, addr, "srvr")
		if err != nil {
			return false, err
		}
		return strings.Contains(out, "Mode:"), nil
	})
}

func fourLetter(ctx context.Context, addr, cmd string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return "", err
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	if _, err := io.WriteString(c, cmd); err != nil {
		return "", err
	}
	var b strings.Builder
	sc := bufio.NewScanner(c)
	for sc.Scan() {
		b.WriteString(sc.Text() + "\n")
	}
	return b.String(), sc.Err()
}
