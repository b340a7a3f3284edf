package zktest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
)

// Environment variables the harness reads.
const (
	// EnvBackend forces a backend: "docker", "local" or "external".
	EnvBackend = "ZK_TEST_BACKEND"
	// EnvServers lists an external ensemble ("host:port,host:port"); when set and no backend
	// is forced, the external backend is used.
	EnvServers = "ZK_TEST_SERVERS"
	// EnvRequire, when "1" or "true" (CI sets it), makes a missing backend fail tests instead
	// of skipping them.
	EnvRequire = "ZK_TEST_REQUIRE"
	// EnvImage overrides the Docker image (default zkrecipes/zookeeper:3.8; the official
	// zookeeper:3.8 image works the same way).
	EnvImage = "ZK_IMAGE"
)

// ErrUnsupported is returned by node operations the backend cannot perform (every fault on
// an external ensemble).
var ErrUnsupported = errors.New("zktest: operation not supported by this backend")

// backend launches ZooKeeper servers one way (containers, local processes, nothing at all).
type backend interface {
	name() string
	// startStandalone launches one standalone server; it returns once the server serves.
	startStandalone(ctx context.Context, cfg config, label string) (nodeDriver, error)
	// startEnsemble launches n servers that form one ensemble; it returns once they are
	// launched (not necessarily serving) together with a function that removes what the
	// ensemble shares (network, proxies) after the nodes are closed.
	startEnsemble(ctx context.Context, cfg config, label string, n int) ([]nodeDriver, func(context.Context) error, error)
}

// nodeDriver is one server as a backend runs it.
type nodeDriver interface {
	// addr is the host:port clients use now; it changes when a Docker container restarts.
	addr() string
	// secureAddr is the host:port of the TLS port ("" without WithTLS); like addr it
	// changes when a Docker container restarts.
	secureAddr() string
	stop(ctx context.Context) error
	start(ctx context.Context) error
	kill(ctx context.Context) error
	pause(ctx context.Context) error
	unpause(ctx context.Context) error
	partition(ctx context.Context) error
	heal(ctx context.Context) error
	// exited reports why the server is gone if it stopped on its own (nil while it runs or
	// after the harness stopped it on purpose), so waits fail at once instead of at a deadline.
	exited() error
	// logTail returns the end of the server's log, for failure reports.
	logTail(ctx context.Context, lines int) string
	// close removes the server and everything it owns.
	close(ctx context.Context) error
}

var (
	chooseOnce sync.Once
	chosen     backend
	chooseErr  error
)

// currentBackend picks the backend once per test binary and says which on stderr.
func currentBackend() (backend, error) {
	chooseOnce.Do(func() {
		chosen, chooseErr = chooseBackend(context.Background())
		if chooseErr != nil {
			fmt.Fprintf(os.Stderr, "zktest: no ZooKeeper backend: %v\n", chooseErr)
			return
		}
		fmt.Fprintf(os.Stderr, "zktest: ZooKeeper backend: %s\n", chosen.name())
	})
	return chosen, chooseErr
}

func chooseBackend(ctx context.Context) (backend, error) {
	forced := strings.TrimSpace(os.Getenv(EnvBackend))
	switch forced {
	case "docker":
		return probeDocker(ctx)
	case "local":
		return probeLocal()
	case "external":
		return probeExternal()
	case "":
	default:
		return nil, fmt.Errorf("%s=%q: want docker, local or external", EnvBackend, forced)
	}
	if os.Getenv(EnvServers) != "" {
		return probeExternal()
	}
	d, derr := probeDocker(ctx)
	if derr == nil {
		return d, nil
	}
	l, lerr := probeLocal()
	if lerr == nil {
		return l, nil
	}
	return nil, fmt.Errorf("docker: %v; local: %v", derr, lerr)
}

func required() bool {
	v := strings.ToLower(strings.TrimSpace(os.Getenv(EnvRequire)))
	return v == "1" || v == "true" || v == "yes"
}

// unavailable ends the test because there is no backend (or the backend cannot do what the
// test needs): a failure under ZK_TEST_REQUIRE, a skip otherwise.
func unavailable(t testing.TB, err error) {
	t.Helper()
	if required() {
		t.Fatalf("zktest: %v (%s is set, so this fails instead of skipping)", err, EnvRequire)
	}
	t.Skipf("zktest: skipping: %v (set %s=1 to fail instead)", err, EnvRequire)
}

// backendFor returns the backend or ends the test.
func backendFor(t testing.TB) backend {
	t.Helper()
	b, err := currentBackend()
	if err != nil {
		unavailable(t, err)
	}
	return b
}

// Backend names the backend this test binary uses ("docker", "local", "external"), or
// returns an error saying why there is none. It selects the backend on first use.
func Backend() (string, error) {
	b, err := currentBackend()
	if err != nil {
		return "", err
	}
	return strings.Fields(b.name())[0], nil
}
