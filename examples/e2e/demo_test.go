package e2e

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/zkrecipes/zkrecipes/examples/internal/procs"
	"github.com/zkrecipes/zkrecipes/tests/zktest"
)

// runDemo runs the demo command (what `make demo` runs) against the test's ZooKeeper with
// free ports and the binaries TestMain built, and returns its transcript.
func runDemo(t *testing.T, args ...string) string {
	srv := zktest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*deadline)
	defer cancel()
	ports := make([]string, 3)
	for i := range ports {
		ports[i] = fmt.Sprint(freePort(t))
	}
	args = append([]string{"-bin", binDir, "-ports", strings.Join(ports, ","), "-gateway-port", fmt.Sprint(freePort(t))}, args...)
	out := &procs.Tail{Max: 1 << 20}
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, "demo"), args...)
	cmd.Env = append(cmd.Environ(), "ZK_SERVERS="+srv.ConnectString())
	cmd.Stdout, cmd.Stderr = out, out
	// The demo stops what it started even when it fails; on a timeout, SIGTERM lets it.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	// If this test process dies, the demo is told to stop (and stops what it started).
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	cmd.WaitDelay = time.Minute
	if err := cmd.Run(); err != nil {
		t.Fatalf("demo %v: %v\n%s", args, err, out)
	}
	return out.String()
}

// TestDemo runs the scenario of `make demo` and checks its transcript reports the steps.
// With -nginx it also routes through Debian's nginx, configured by nginxconf.
func TestDemo(t *testing.T) {
	requireNginx(t)
	out := runDemo(t, "-nginx", "-nginx-port", fmt.Sprint(freePort(t)))
	for _, want := range []string{
		"✓ exactly one leader",
		"✓ all 6 writes were answered by the leader",
		"✓ 6 reads answered by",
		"kill -9",
		", 0 failed;",
		"✓ 0 failed writes across kill -9: they moved to",
		"✓ through nginx too",
		"PASS: every step behaved as described",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("transcript lacks %q:\n%s", want, out)
		}
	}
	t.Logf("transcript:\n%s", out)
}

// TestDemoBenchFailover runs the failover benchmark for two kills.
func TestDemoBenchFailover(t *testing.T) {
	out := runDemo(t, "-bench-failover", "2", "-session-timeout", "1s")
	if !strings.Contains(out, "median") {
		t.Errorf("no median in:\n%s", out)
	}
	t.Logf("transcript:\n%s", out)
}
