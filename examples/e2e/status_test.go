package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/zkrecipes/zkrecipes/tests/zktest"
)

// chromiumBin is Debian's Chromium, which .ci/run installs.
const chromiumBin = "/usr/bin/chromium"

// envArtifacts names the directory the browser test leaves its screenshot in (default: a
// new directory under the system's temporary directory; the test log says where).
const envArtifacts = "ZKRECIPES_ARTIFACTS"

func requireChromium(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(chromiumBin); err != nil {
		if v := os.Getenv(zktest.EnvRequire); v == "1" || v == "true" {
			t.Fatalf("%s is missing and %s is set: apt-get install -y chromium", chromiumBin, zktest.EnvRequire)
		}
		t.Skipf("%s is missing: apt-get install -y chromium", chromiumBin)
	}
}

// TestStatusPageFollowsFailover loads the gateway's live status page in headless Chromium,
// kills the leader, and checks in the page's DOM, without reloading it, that the leader row
// moves to the new leader and that the failover is shown; the page's screenshot is kept.
func TestStatusPageFollowsFailover(t *testing.T) {
	requireChromium(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*deadline)
	defer cancel()
	e := start(t, ctx, 3)
	gw, err := e.cl.StartGateway(ctx, freePort(t))
	if err != nil {
		t.Fatal(err)
	}
	leader, err := e.cl.WaitLeader(ctx, e.nodes...)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.cl.WaitGateway(ctx, leader.ID, ids(e.nodes)...); err != nil {
		t.Fatal(err)
	}
	checkWrites(t, ctx, e.cl, gw.URL(hello), leader.ID)

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumBin),
		chromedp.NoSandbox, // CI runs as root
		chromedp.DisableGPU,
		chromedp.WindowSize(1000, 600),
	)
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	defer acancel()
	bctx, bcancel := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	defer bcancel()

	leaderRow := func(id string) string {
		return fmt.Sprintf(`document.querySelector('tr[data-id=%q]')?.dataset.role === "leader" && document.getElementById("leader").textContent === %q`, id, id)
	}
	// The first Run starts the browser, which lives as long as bctx.
	if err := chromedp.Do(bctx,
		chromedp.Navigate(gw.URL("/_status")),
		chromedp.Poll[chromedp.Void](leaderRow(leader.ID), chromedp.WithPollingTimeout(deadline)),
	); err != nil {
		t.Fatalf("the page never showed %s as leader: %v", leader.ID, err)
	}
	rows, err := chromedp.Run(bctx, chromedp.Evaluate[int](`document.querySelectorAll("#instances tr").length`))
	if err != nil || rows != 3 {
		t.Fatalf("instance rows: %d (%v), want 3", rows, err)
	}

	if err := leader.Proc.Kill(); err != nil {
		t.Fatal(err)
	}
	// A write right after the kill finds the leader gone (the gateway holds it): the
	// failover the page shows starts then.
	held := make(chan error, 1)
	go func() {
		r, err := e.cl.Hello(ctx, "POST", gw.URL(hello))
		if err == nil && r.Status != 200 {
			err = fmt.Errorf("%d %s", r.Status, r.Body)
		}
		held <- err
	}()
	// The predicate returns the new leader's id once the leader row has moved off the
	// killed node (and the headline agrees), false until then.
	newLeader := fmt.Sprintf(`(() => { const r = document.querySelector('tr[data-role="leader"]'); `+
		`return r && r.dataset.id !== %q && document.getElementById("leader").textContent === r.dataset.id && r.dataset.id; })()`, leader.ID)
	next, err := chromedp.Run(bctx, chromedp.Poll[string](newLeader, chromedp.WithPollingTimeout(deadline)))
	if err != nil {
		t.Fatalf("the page did not move the leader row off the killed %s: %v", leader.ID, err)
	}
	failover, err := chromedp.Run(bctx, chromedp.Poll[string](
		`document.getElementById("failover").textContent.startsWith("Last failover") && document.getElementById("failover").textContent`,
		chromedp.WithPollingTimeout(deadline)))
	if err != nil {
		t.Fatalf("the page shows no failover: %v", err)
	}
	if err := <-held; err != nil {
		t.Errorf("the write sent during the failover: %v", err)
	}
	t.Logf("the page shows %s leading after the kill of %s: %q", next, leader.ID, failover)
	if want := fmt.Sprintf("Last failover: %s → %s", leader.ID, next); len(failover) < len(want) || failover[:len(want)] != want {
		t.Errorf("failover line %q, want it to start with %q", failover, want)
	}

	png, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	dir := os.Getenv(envArtifacts)
	if dir == "" {
		if dir, err = os.MkdirTemp("", "zkrecipes-artifacts-"); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	shot := filepath.Join(dir, "gateway-status-after-failover.png")
	if err := os.WriteFile(shot, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot of the status page after the failover: %s (%d bytes, taken %s)", shot, len(png), time.Now().Format(time.RFC3339))
}
