// Package curatortest runs a real Apache Curator 5.4 peer (a small Java program compiled at test
// time against Debian's Curator jars) that Go tests drive, so that interop tests put Go and Java
// recipes into the same election and the same service directory.
//
// The peer is one JVM per Start, driven by a line protocol on stdin/stdout: one command per
// line; zero or more data lines (JSON values) and then "OK" or "ERR <message>"; asynchronous
// "EVENT ..." lines at any time. Events:
//
//	EVENT state <STATE>                      the Curator client's connection state
//	EVENT latch <name> isLeader|notLeader    a LeaderLatch listener callback
//	EVENT cache <name> changed <json list>   a ServiceCache listener, with the cache's instances
//	EVENT cache <name> state <STATE>         a ServiceCache's forwarded connection state
//	EVENT mutex <name> acquired|timeout|released|revoke|error <msg>
//	                                         an InterProcessMutex handle's acquire, release,
//	                                         revocation request (its listener ran)
//	EVENT selector <name> leader|notLeader    a LeaderSelector's takeLeadership began or ended
//	EVENT sem <name> acquired|released|done|error <msg>
//	                                         a semaphore handle's lease, or its work loop
//	EVENT cc <name> <json>|initialized       a CuratorCache listener (see TreeEvent)
//	EVENT groupviews <name> dropped <epochNs> every group view armed by group-views-arm has
//	                                         dropped the member (Java's wall clock)
//
// Commands (see java/zkrecipes/interop/Peer.java): ping, connect, session, get, children,
// latch-start, latch-close, latch-has, latch-participants, latch-leader, latch-ourpath,
// sd-start, sd-close, sd-register, sd-update, sd-unregister, sd-query, sd-query-one, sd-names,
// sd-serialize, sd-deserialize, cache-start, cache-instances, cache-close, mutex-new, rw-new,
// mutex-acquire, mutex-release, mutex-held, mutex-nodes, rw-nodes, revoke, mutex-bench,
// mutex-handoff-bench, mutex-contend-bench, sem-new, sem-acquire, sem-release, sem-work,
// sem-leases, count-set, selector-start, selector-relinquish, selector-close,
// selector-participants, selector-leader, close; and for shared counts, atomic longs,
// persistent and TTL nodes, group members and group views those of
// java/zkrecipes/interop/Nodes.java (count-*, dal-*, pn-*, ttl-*, group-*; see nodes.go),
// and for CuratorCache and the cache and discovery benchmarks those of
// java/zkrecipes/interop/Caches.java (cc-*, sc-bench*, sd-register-bench; see caches.go).
// The payload class is com.example.InstanceDetails (one boolean property, "leader").
//
// testdata/golden holds the exact znode bytes Java Curator writes for a few service instances
// (see its README), for the Go serializer's tests.
//
// Start skips the test when Java or the jars are missing, and fails it when ZK_TEST_REQUIRE is
// set (CI), so interop tests cannot silently stop running there.
package curatortest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// Option configures Start.
type Option func(*config)

type config struct {
	sessionTimeout time.Duration
	namespace      string
}

// WithSessionTimeout sets the Curator client's requested session timeout (default 4s; the
// server clamps it to [2, 20] ticks). Values under 1ms are ignored.
func WithSessionTimeout(d time.Duration) Option {
	return func(c *config) {
		if d >= time.Millisecond {
			c.sessionTimeout = d
		}
	}
}

// WithNamespace gives the Curator client a namespace: every path the peer uses is then
// relative to /<ns>, as in Curator. An empty ns means none.
func WithNamespace(ns string) Option {
	return func(c *config) { c.namespace = ns }
}

// startTimeout bounds JVM start-up plus the first session; generous for a loaded 2-core box.
const startTimeout = 90 * time.Second

// Peer is a running Java Curator process. Its methods may be called from several goroutines;
// commands run one at a time.
type Peer struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stderr *tailBuffer

	cmdMu sync.Mutex
	owed  int // terminators still due to commands whose caller gave up (guarded by cmdMu)

	mu      sync.Mutex
	replies []string
	events  []string
	taken   []bool
	eof     bool
	signal  chan struct{} // closed and replaced whenever a line arrives or output ends

	exited  chan struct{}
	waitErr error

	closeOnce sync.Once
	closeErr  error
}

// CommandError is the peer's "ERR <message>" answer: Java threw while executing Command.
type CommandError struct {
	Command string
	Message string // the Java exception chain, e.g. "java.lang.IllegalArgumentException: ..."
}

// Error returns the command and Java's exception chain.
func (e *CommandError) Error() string {
	return fmt.Sprintf("curatortest: %q: %s", e.Command, e.Message)
}

// ErrExited is returned when the Java process is gone.
var ErrExited = errors.New("curatortest: java peer exited")

// Start compiles the peer (once per test binary; cached across runs), starts a JVM and, unless
// connectString is empty, connects its Curator client and waits for the first session.
// connectString is Curator's "host:port[,host:port...]" (strings.Join(servers, ",")). The
// process is closed (and killed if it does not exit) in t.Cleanup. With an empty connectString
// only the commands that need no ZooKeeper work (sd-serialize, sd-deserialize).
func Start(t testing.TB, connectString string, opts ...Option) *Peer {
	t.Helper()
	if err := Available(); err != nil {
		if required() {
			t.Fatalf("%v (ZK_TEST_REQUIRE is set)", err)
		}
		t.Skip(err)
	}
	cfg := config{sessionTimeout: 4 * time.Second}
	for _, o := range opts {
		o(&cfg)
	}
	classes, err := classesDir()
	if err != nil {
		t.Fatal(err)
	}
	p, err := launch(classes)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Logf("curatortest: closing java peer: %v", err)
		}
		if t.Failed() {
			t.Logf("curatortest: java peer events:\n%s\njava peer stderr (tail):\n%s",
				strings.Join(p.Events(), "\n"), p.stderr.String())
		}
	})
	if connectString == "" {
		return p
	}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	line := fmt.Sprintf("connect %s %d", connectString, cfg.sessionTimeout.Milliseconds())
	if cfg.namespace != "" {
		line += " " + cfg.namespace
	}
	if _, err := p.Cmd(ctx, line); err != nil {
		t.Fatal(err)
	}
	return p
}

// required reads ZK_TEST_REQUIRE as tests/zktest does.
func required() bool {
	v := os.Getenv("ZK_TEST_REQUIRE")
	return v == "1" || v == "true"
}

func launch(classes string) (*Peer, error) {
	args := []string{
		// Short-lived test JVMs on a shared 2-core box: fast start-up beats peak throughput.
		"-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-XX:-UsePerfData", "-Xmx256m",
		"-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
		"-cp", classes + string(os.PathListSeparator) + Classpath(),
		peerClass,
	}
	cmd := exec.Command("java", args...)
	p := &Peer{
		cmd:    cmd,
		stderr: &tailBuffer{max: 64 << 10},
		signal: make(chan struct{}),
		exited: make(chan struct{}),
	}
	cmd.Stderr = p.stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("curatortest: %w", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("curatortest: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("curatortest: starting java: %w", err)
	}
	p.stdin = stdin
	go func() {
		p.read(stdout)
		// Wait only after stdout is drained: it closes the pipe.
		p.waitErr = cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

func (p *Peer) read(stdout io.Reader) {
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 64<<10), 256<<20)
	for sc.Scan() {
		line := sc.Text()
		p.mu.Lock()
		if strings.HasPrefix(line, "EVENT ") {
			p.events = append(p.events, strings.TrimPrefix(line, "EVENT "))
			p.taken = append(p.taken, false)
		} else {
			p.replies = append(p.replies, line)
		}
		p.notifyLocked()
		p.mu.Unlock()
	}
	// Keep the JVM from blocking on a full pipe if scanning stopped early (over-long line).
	_, _ = io.Copy(io.Discard, stdout)
	p.mu.Lock()
	p.eof = true
	p.notifyLocked()
	p.mu.Unlock()
}

func (p *Peer) notifyLocked() {
	close(p.signal)
	p.signal = make(chan struct{})
}

func (p *Peer) nextReply(ctx context.Context) (string, error) {
	for {
		p.mu.Lock()
		if len(p.replies) > 0 {
			l := p.replies[0]
			p.replies = p.replies[1:]
			p.mu.Unlock()
			return l, nil
		}
		if p.eof {
			p.mu.Unlock()
			return "", p.exitError()
		}
		sig := p.signal
		p.mu.Unlock()
		select {
		case <-sig:
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
}

func (p *Peer) exitError() error {
	return fmt.Errorf("%w; stderr tail:\n%s", ErrExited, p.stderr.String())
}

func isTerminator(line string) bool {
	return line == "OK" || line == "ERR" || strings.HasPrefix(line, "ERR ")
}

// Cmd sends one command line and returns its data lines. A Java exception comes back as a
// *CommandError. If ctx ends first, the command still runs to completion in Java; its answer
// is discarded by the next Cmd.
func (p *Peer) Cmd(ctx context.Context, line string) ([]string, error) {
	if strings.ContainsAny(line, "\r\n") {
		return nil, fmt.Errorf("curatortest: command contains a line break: %q", line)
	}
	p.cmdMu.Lock()
	defer p.cmdMu.Unlock()
	for p.owed > 0 {
		l, err := p.nextReply(ctx)
		if err != nil {
			return nil, fmt.Errorf("curatortest: %q: %w", line, err)
		}
		if isTerminator(l) {
			p.owed--
		}
	}
	if _, err := io.WriteString(p.stdin, line+"\n"); err != nil {
		select {
		case <-p.exited:
			return nil, fmt.Errorf("curatortest: %q: %w", line, p.exitError())
		default:
			return nil, fmt.Errorf("curatortest: %q: %w", line, err)
		}
	}
	p.owed = 1
	var data []string
	for {
		l, err := p.nextReply(ctx)
		if err != nil {
			return data, fmt.Errorf("curatortest: %q: %w", line, err)
		}
		switch {
		case l == "OK":
			p.owed = 0
			return data, nil
		case isTerminator(l):
			p.owed = 0
			return data, &CommandError{Command: line, Message: strings.TrimPrefix(strings.TrimPrefix(l, "ERR"), " ")}
		}
		data = append(data, l)
	}
}

// cmdJSON runs a command that answers with exactly one JSON line and decodes it into v.
func (p *Peer) cmdJSON(ctx context.Context, line string, v any) error {
	data, err := p.Cmd(ctx, line)
	if err != nil {
		return err
	}
	if len(data) != 1 {
		return fmt.Errorf("curatortest: %q: want one data line, got %q", line, data)
	}
	if err := json.Unmarshal([]byte(data[0]), v); err != nil {
		return fmt.Errorf("curatortest: %q: decoding %q: %w", line, data[0], err)
	}
	return nil
}

// WaitEvent returns the earliest event (without the "EVENT " prefix) that matches and that no
// earlier WaitEvent returned, waiting for one to arrive if needed. Events are kept from the
// start of the process, so an event that came before the call is found too; each event is
// returned at most once, so waiting twice for "isLeader" needs two such events.
// match runs with the peer's event lock held: it must not call the Peer.
func (p *Peer) WaitEvent(ctx context.Context, match func(event string) bool) (string, error) {
	return p.waitEvent(ctx, match, nil)
}

// waitEvent is WaitEvent; when stream is non-nil, the found event also consumes every earlier
// event of its stream, so that events describing a superseded state are never returned later.
func (p *Peer) waitEvent(ctx context.Context, match, stream func(event string) bool) (string, error) {
	next := 0
	for {
		p.mu.Lock()
		for ; next < len(p.events); next++ {
			if !p.taken[next] && match(p.events[next]) {
				p.taken[next] = true
				for i := 0; stream != nil && i < next; i++ {
					if stream(p.events[i]) {
						p.taken[i] = true
					}
				}
				ev := p.events[next]
				p.mu.Unlock()
				return ev, nil
			}
		}
		if p.eof {
			p.mu.Unlock()
			return "", fmt.Errorf("curatortest: waiting for an event: %w", p.exitError())
		}
		sig := p.signal
		p.mu.Unlock()
		select {
		case <-sig:
		case <-ctx.Done():
			return "", fmt.Errorf("curatortest: waiting for an event (have %q): %w", p.Events(), ctx.Err())
		}
	}
}

// Events returns every event received so far, oldest first, whether or not WaitEvent took it.
func (p *Peer) Events() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.events...)
}

// WaitState waits for the Curator client's connection state event, e.g. "SUSPENDED", "LOST",
// "RECONNECTED".
func (p *Peer) WaitState(ctx context.Context, state string) error {
	_, err := p.WaitEvent(ctx, func(ev string) bool { return ev == "state "+state })
	return err
}

// Close closes every recipe and the Curator client (so ephemeral nodes go away at once) and
// waits for the JVM to exit, killing it after 30s. It is called by t.Cleanup; calling it
// earlier is fine, later calls return the first result.
func (p *Peer) Close() error {
	p.closeOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, err := p.Cmd(ctx, "close")
		_ = p.stdin.Close()
		select {
		case <-p.exited:
		case <-ctx.Done():
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
		if err != nil && !errors.Is(err, ErrExited) {
			p.closeErr = err
		}
	})
	return p.closeErr
}

// Kill ends the JVM with SIGKILL, like a crash: its ZooKeeper session stays until the server
// expires it, and so do its ephemeral nodes. Cleanup then has nothing left to do.
func (p *Peer) Kill() {
	p.closeOnce.Do(func() {
		_ = p.cmd.Process.Kill()
		_ = p.stdin.Close()
		<-p.exited
	})
}

// SessionID returns the Curator client's current ZooKeeper session id.
func (p *Peer) SessionID(ctx context.Context) (int64, error) {
	var id int64
	err := p.cmdJSON(ctx, "session", &id)
	return id, err
}

// Node is a znode as the peer read it.
type Node struct {
	Data           []byte // nil when the znode has null data
	EphemeralOwner int64
	Version        int32
	NumChildren    int32
}

// Get reads a znode's exact bytes through the peer's Curator client (paths are relative to
// its namespace, if any).
func (p *Peer) Get(ctx context.Context, path string) (Node, error) {
	if err := word(path); err != nil {
		return Node{}, err
	}
	var raw struct {
		Data           *string `json:"data"`
		EphemeralOwner int64   `json:"ephemeralOwner"`
		Version        int32   `json:"version"`
		NumChildren    int32   `json:"numChildren"`
	}
	if err := p.cmdJSON(ctx, "get "+path, &raw); err != nil {
		return Node{}, err
	}
	n := Node{EphemeralOwner: raw.EphemeralOwner, Version: raw.Version, NumChildren: raw.NumChildren}
	if raw.Data != nil {
		b, err := base64.StdEncoding.DecodeString(*raw.Data)
		if err != nil {
			return Node{}, fmt.Errorf("curatortest: get %s: %w", path, err)
		}
		n.Data = b
	}
	return n, nil
}

// Children lists a znode's children, sorted.
func (p *Peer) Children(ctx context.Context, path string) ([]string, error) {
	if err := word(path); err != nil {
		return nil, err
	}
	var names []string
	err := p.cmdJSON(ctx, "children "+path, &names)
	return names, err
}

// word checks that s is one non-empty protocol token.
func word(s string) error {
	if s == "" || strings.ContainsAny(s, " \t\r\n") {
		return fmt.Errorf("curatortest: %q must be non-empty and without whitespace", s)
	}
	return nil
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if over := len(b.buf) - b.max; over > 0 {
		b.buf = append(b.buf[:0], b.buf[over:]...)
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(bytes.TrimSpace(b.buf))
}
