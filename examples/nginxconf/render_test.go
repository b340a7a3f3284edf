package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"text/template"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var discard = slog.New(slog.NewTextHandler(io.Discard, nil))

func testConfig(runtimeDir string) config {
	return config{basePath: "/service-discovery", service: "bookService", listen: "127.0.0.1:1", workerProcesses: "1", runtimeDir: runtimeDir}
}

func three(leader string) []Backend {
	var out []Backend
	for i, id := range []string{"node-3", "node-1", "node-2"} {
		out = append(out, Backend{ID: id, Address: "127.0.0.1", Port: 8070 + 10*i, Leader: id == leader})
	}
	return out
}

// nginxBinary returns Debian's nginx, or ends the test: CI (ZK_TEST_REQUIRE=1) installs it.
func nginxBinary(t *testing.T) string {
	const bin = "/usr/sbin/nginx"
	if _, err := os.Stat(bin); err != nil {
		if v := os.Getenv("ZK_TEST_REQUIRE"); v == "1" || v == "true" {
			t.Fatalf("%s missing (ZK_TEST_REQUIRE is set): apt-get install -y nginx", bin)
		}
		t.Skipf("%s missing: apt-get install -y nginx", bin)
	}
	return bin
}

// TestTemplateNginxAccepts runs the real `nginx -t` on what the built-in template renders
// for an empty service, a service without leader and a healthy one: an empty upstream
// must never reach nginx.
func TestTemplateNginxAccepts(t *testing.T) {
	nginx := nginxBinary(t)
	tmpl, err := ParseTemplate("")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name      string
		instances []Backend
		want      []string
		dontWant  []string
	}{
		{"empty", nil, []string{`return 503 "nginx: no instance of bookService`}, []string{"upstream", "limit_except"}},
		{"no-leader", three(""), []string{"upstream bookService_read", `return 503 "nginx: no leader`}, []string{"bookService_write", "limit_except"}},
		{"leader", three("node-2"), []string{"upstream bookService_read", "upstream bookService_write", "limit_except GET", "server 127.0.0.1:8080; # node-1"}, []string{"return 503"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			d := buildData(testConfig(dir), tc.instances, discard)
			var b strings.Builder
			if err := tmpl.Execute(&b, d); err != nil {
				t.Fatal(err)
			}
			conf := b.String()
			for _, w := range tc.want {
				if !strings.Contains(conf, w) {
					t.Errorf("config lacks %q:\n%s", w, conf)
				}
			}
			for _, w := range tc.dontWant {
				if strings.Contains(conf, w) {
					t.Errorf("config has %q:\n%s", w, conf)
				}
			}
			file := filepath.Join(dir, "nginx.conf")
			if err := os.WriteFile(file, []byte(conf), 0o644); err != nil {
				t.Fatal(err)
			}
			if out, err := exec.Command(nginx, "-t", "-q", "-c", file).CombinedOutput(); err != nil {
				t.Fatalf("nginx -t rejects the config: %v\n%s\n%s", err, out, conf)
			}
		})
	}
}

func TestApplyKeepsLastGoodConfig(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "app.conf")
	reloads := filepath.Join(dir, "reloads")
	r := &Renderer{
		Template: template.Must(template.New("t").Parse("service {{.Service}}\n")),
		Out:      out,
		Check:    `! grep -q BROKEN "$NGINXCONF_FILE"`,
		Reload:   `echo "$NGINXCONF_FILE" >> ` + reloads,
		Log:      discard,
	}
	ctx := context.Background()
	apply := func(service string) (Result, error) { return r.Apply(ctx, Data{Service: service}) }
	live := func() string {
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	reloadCount := func() int {
		b, _ := os.ReadFile(reloads)
		return strings.Count(string(b), "\n")
	}

	if res, err := apply("one"); err != nil || res != Updated {
		t.Fatalf("first apply: %v %v", res, err)
	}
	if live() != "service one\n" || reloadCount() != 1 {
		t.Fatalf("live %q, %d reloads", live(), reloadCount())
	}
	if res, err := apply("one"); err != nil || res != Unchanged || reloadCount() != 1 {
		t.Fatalf("same data: %v %v, %d reloads; want Unchanged without reload", res, err, reloadCount())
	}
	if res, err := apply("BROKEN"); err == nil || res != Unchanged {
		t.Fatalf("rejected config: %v %v; want an error", res, err)
	}
	if live() != "service one\n" || reloadCount() != 1 {
		t.Fatalf("after a failed check: live %q, %d reloads; want the last good config, no reload", live(), reloadCount())
	}
	if res, err := apply("two"); err != nil || res != Updated || live() != "service two\n" || reloadCount() != 2 {
		t.Fatalf("after recovery: %v %v live %q %d reloads", res, err, live(), reloadCount())
	}
	if b, _ := os.ReadFile(reloads); !strings.HasSuffix(string(b), out+"\n") {
		t.Errorf("reload saw NGINXCONF_FILE %q, want the live file %s", b, out)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".tmp") {
			t.Errorf("candidate %s left behind", e.Name())
		}
	}
}

func TestApplyRetriesFailedReload(t *testing.T) {
	dir := t.TempDir()
	flag := filepath.Join(dir, "nginx-up")
	r := &Renderer{
		Template: template.Must(template.New("t").Parse("x\n")),
		Out:      filepath.Join(dir, "app.conf"),
		Reload:   `test -e ` + flag,
		Log:      discard,
	}
	if _, err := r.Apply(context.Background(), Data{}); err == nil {
		t.Fatal("reload should fail while nginx is not up")
	}
	if err := os.WriteFile(flag, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if res, err := r.Apply(context.Background(), Data{}); err != nil || res != Unchanged {
		t.Fatalf("second apply: %v %v; want the reload retried and Unchanged", res, err)
	}
}

func TestBuildData(t *testing.T) {
	in := append(three("node-1"),
		Backend{ID: "evil", Address: "1.2.3.4; } server { listen 81", Port: 80},
		Backend{ID: "noport", Address: "127.0.0.1", Port: 0},
		Backend{ID: "host", Address: "books.example.com", Port: 8000},
	)
	d := buildData(testConfig(""), in, discard)
	var ids []string
	for _, b := range d.Instances {
		ids = append(ids, b.ID)
	}
	if got := strings.Join(ids, ","); got != "host,node-1,node-2,node-3" {
		t.Errorf("instances %s", got)
	}
	if d.Leader == nil || d.Leader.ID != "node-1" {
		t.Errorf("leader %+v", d.Leader)
	}
	two := three("node-1")
	two[0].Leader = true
	if d := buildData(testConfig(""), two, discard); d.Leader != nil {
		t.Errorf("two instances claim leadership, got leader %s; want none", d.Leader.ID)
	}
}
