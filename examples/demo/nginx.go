package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/zkrecipes/zkrecipes/examples/internal/cluster"
	"github.com/zkrecipes/zkrecipes/examples/internal/procs"
)

// nginxBin is Debian's nginx.
const nginxBin = "/usr/sbin/nginx"

// nginxPath shows the confd way (-nginx): nginxconf renders nginx's configuration from
// ZooKeeper (reads round-robin over every instance, writes to the leader) and reloads nginx
// when it changes; requests through nginx then reach the same nodes as through the gateway.
func (d *demo) nginxPath(ctx context.Context, nodes []*cluster.Node, leader *cluster.Node) error {
	ctx, cancel := d.stepCtx(ctx)
	defer cancel()
	d.section("9. The nginx path: nginxconf renders nginx's config from ZooKeeper (the confd way)")
	if _, err := os.Stat(nginxBin); err != nil {
		return fmt.Errorf("-nginx needs %s (apt-get install nginx): %w", nginxBin, err)
	}
	if err := checkPortFree(d.opts.nginxPort); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "zkrecipes-demo-nginx-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	conf := filepath.Join(dir, "nginx.conf")
	pid := filepath.Join(dir, "run", "nginx.pid")
	nc, err := d.cl.StartNginxconf(
		"-out", conf,
		"-listen", fmt.Sprintf("127.0.0.1:%d", d.opts.nginxPort),
		"-worker-processes", "1",
		"-runtime-dir", filepath.Join(dir, "run"),
		"-check", nginxBin+` -t -q -c "$NGINXCONF_FILE"`,
		"-reload", fmt.Sprintf(`[ ! -s %s ] || %s -s reload -c "$NGINXCONF_FILE"`, pid, nginxBin),
		"-retry", "500ms",
		"-wait", "50ms",
	)
	if err != nil {
		return err
	}
	defer func() { _ = nc.Stop(15 * time.Second) }()
	want := fmt.Sprintf("%d instance(s), leader %s.", len(nodes), leader.ID)
	err = procs.Poll(ctx, 50*time.Millisecond, "nginx config with leader "+leader.ID, func(context.Context) (bool, error) {
		b, err := os.ReadFile(conf)
		if err != nil {
			return false, err
		}
		if !strings.Contains(string(b), want) {
			return false, fmt.Errorf("config does not say %q yet", want)
		}
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("%w\n%s", err, nc.Output())
	}
	d.printf("  nginxconf pid %-7d wrote %s: %s\n", nc.PID(), conf, want)
	nginx, err := procs.Start("nginx", nginxBin, []string{"-c", conf, "-g", "daemon off;"}, nil, nil)
	if err != nil {
		return err
	}
	defer func() {
		if err := nginx.Stop(15 * time.Second); err == nil {
			d.printf("  nginx stopped\n")
		}
	}()
	url := procs.URL(d.opts.nginxPort, hello)
	err = procs.Poll(ctx, 50*time.Millisecond, "nginx serving", func(ctx context.Context) (bool, error) {
		if exited, err := nginx.Exited(); exited {
			return false, &procs.Permanent{Err: fmt.Errorf("nginx exited: %v\n%s", err, nginx.Output())}
		}
		r, err := d.cl.Hello(ctx, "GET", url)
		return err == nil && r.Status == http.StatusOK, err
	})
	if err != nil {
		return err
	}
	d.printf("  nginx pid %-7d http://127.0.0.1:%d\n", nginx.PID(), d.opts.nginxPort)
	for _, m := range []string{"POST", "POST", "GET", "GET", "GET"} {
		r, err := d.cl.Hello(ctx, m, url)
		if err != nil {
			return err
		}
		d.printf("  %-6s %s -> %d %s\n", m, url, r.Status, r.Node)
		if r.Status != http.StatusOK || m == "POST" && r.Node != leader.ID {
			return fmt.Errorf("%s through nginx: %d from %s, want 200 from %s for writes", m, r.Status, r.Node, leader.ID)
		}
	}
	d.ok("through nginx too, writes reach the leader %s and reads every node; a failover rewrites the config and reloads nginx", leader.ID)
	return nil
}
