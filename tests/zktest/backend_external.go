package zktest

import (
	"context"
	"fmt"
	"os"
	"strings"
)

// externalBackend uses an ensemble somebody else runs (ZK_TEST_SERVERS). It cannot start,
// stop or partition anything: tests share the ensemble and stay apart through BasePath, and
// ensemble-fault tests skip.
type externalBackend struct {
	servers []string
}

func probeExternal() (backend, error) {
	var servers []string
	for _, s := range strings.Split(os.Getenv(EnvServers), ",") {
		if s = strings.TrimSpace(s); s != "" {
			servers = append(servers, s)
		}
	}
	if len(servers) == 0 {
		return nil, fmt.Errorf("%s is empty: want host:port,host:port", EnvServers)
	}
	return &externalBackend{servers: servers}, nil
}

func (b *externalBackend) name() string { return "external (" + strings.Join(b.servers, ",") + ")" }

func (b *externalBackend) startStandalone(ctx context.Context, cfg config, _ string) (nodeDriver, error) {
	if cfg.tls != nil {
		return nil, fmt.Errorf("%w: the external backend (%s) cannot start a TLS server", ErrUnsupported, EnvServers)
	}
	// Options such as the tick time cannot be applied to a server the harness does not own;
	// a test that depends on them must check Backend().
	for _, s := range b.servers {
		if _, err := waitServing(ctx, s, nil); err != nil {
			return nil, err
		}
	}
	return externalNode{b.servers}, nil
}

func (b *externalBackend) startEnsemble(context.Context, config, string, int) ([]nodeDriver, func(context.Context) error, error) {
	return nil, nil, fmt.Errorf("%w: the external backend (%s) cannot start an ensemble or inject faults into one", ErrUnsupported, EnvServers)
}

// externalNode stands for the whole external ensemble; addr gives its first server.
type externalNode struct{ servers []string }

func (n externalNode) addr() string                      { return n.servers[0] }
func (externalNode) secureAddr() string                  { return "" }
func (externalNode) stop(context.Context) error          { return ErrUnsupported }
func (externalNode) start(context.Context) error         { return ErrUnsupported }
func (externalNode) kill(context.Context) error          { return ErrUnsupported }
func (externalNode) pause(context.Context) error         { return ErrUnsupported }
func (externalNode) unpause(context.Context) error       { return ErrUnsupported }
func (externalNode) partition(context.Context) error     { return ErrUnsupported }
func (externalNode) heal(context.Context) error          { return ErrUnsupported }
func (externalNode) exited() error                       { return nil }
func (externalNode) logTail(context.Context, int) string { return "" }
func (externalNode) close(context.Context) error         { return nil }
