package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	_ "embed"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"text/template"
	"time"
)

//go:embed nginx.conf.tmpl
var defaultTemplate string

// Backend is one instance as the template sees it.
type Backend struct {
	ID      string
	Address string
	Port    int
	Leader  bool
}

// HostPort returns address:port, bracketing IPv6 addresses as nginx expects.
func (b Backend) HostPort() string { return net.JoinHostPort(b.Address, strconv.Itoa(b.Port)) }

// Data is what a template is executed with.
type Data struct {
	BasePath        string
	Service         string
	Upstream        string    // a prefix for upstream names derived from Service
	Listen          string    // the listen directive's argument, e.g. "80" or "127.0.0.1:8081"
	WorkerProcesses string    // "auto" or a number
	RuntimeDir      string    // where pid, logs and temp files go; "" keeps nginx's defaults
	Instances       []Backend // every enabled instance, sorted by id
	Leader          *Backend  // the one instance whose payload says leader; nil if none (or several)
}

var (
	hostPattern     = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$`)
	upstreamInvalid = regexp.MustCompile(`[^A-Za-z0-9_]`)
)

// upstreamName turns a service name into something nginx accepts as an upstream name.
func upstreamName(service string) string {
	return upstreamInvalid.ReplaceAllString(service, "_")
}

// validBackend reports why an instance read from ZooKeeper must not go into the config:
// its address and id end up in nginx syntax, so anything that could break out of it (a
// ';', a brace, a newline) keeps the instance out.
func validBackend(b Backend) error {
	if b.Port <= 0 || b.Port > 65535 {
		return fmt.Errorf("port %d out of range", b.Port)
	}
	if net.ParseIP(b.Address) == nil && !hostPattern.MatchString(b.Address) {
		return fmt.Errorf("address %q is neither an IP address nor a host name", b.Address)
	}
	if strings.ContainsAny(b.ID, "\r\n") {
		return fmt.Errorf("id %q contains a line break", b.ID)
	}
	return nil
}

// Renderer renders a template to a file the confd way: the new config is written next to
// the live one, checked, and moved over it in one rename only if the check passes; then
// nginx is told to reload. A config that fails the check never becomes live, so the last
// good one stays.
type Renderer struct {
	Template *template.Template
	Out      string // the live config file
	Check    string // shell command checking $NGINXCONF_FILE (the candidate); "" skips
	Reload   string // shell command run after a new config went live; "" skips
	Timeout  time.Duration
	Log      *slog.Logger

	rejected      [sha256.Size]byte // the last candidate that failed the check
	reloadPending bool              // the last reload failed: try again on the next Apply
}

// Result says what Apply did.
type Result int

// Apply's results.
const (
	Unchanged Result = iota // the rendered config equals the live one
	Updated                 // a new config went live (and the reload command ran)
)

// ParseTemplate reads a template file, or the default template when path is "".
func ParseTemplate(path string) (*template.Template, error) {
	text, name := defaultTemplate, "nginx.conf.tmpl"
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		text, name = string(b), filepath.Base(path)
	}
	t, err := template.New(name).Option("missingkey=error").Parse(text)
	if err != nil {
		return nil, fmt.Errorf("template %s: %w", name, err)
	}
	return t, nil
}

// Apply renders d and makes it the live config if it differs from it and passes the
// check. A failed check or reload is an error; in the first case the live config is
// untouched.
func (r *Renderer) Apply(ctx context.Context, d Data) (Result, error) {
	var buf bytes.Buffer
	if err := r.Template.Execute(&buf, d); err != nil {
		return Unchanged, fmt.Errorf("render: %w", err)
	}
	cur, err := os.ReadFile(r.Out)
	if err != nil && !os.IsNotExist(err) {
		return Unchanged, err
	}
	if err == nil && bytes.Equal(cur, buf.Bytes()) {
		if r.reloadPending {
			return Unchanged, r.reload(ctx)
		}
		return Unchanged, nil
	}
	sum := sha256.Sum256(buf.Bytes())
	if sum == r.rejected {
		return Unchanged, fmt.Errorf("the rendered config is the one the check rejected last time; keeping %s", r.Out)
	}

	dir := filepath.Dir(r.Out)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(r.Out)+".*.tmp")
	if err != nil {
		return Unchanged, err
	}
	candidate := tmp.Name()
	keep := false
	defer func() {
		if !keep {
			os.Remove(candidate)
		}
	}()
	_, err = tmp.Write(buf.Bytes())
	if err == nil {
		err = tmp.Chmod(0o644)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return Unchanged, fmt.Errorf("write %s: %w", candidate, err)
	}
	if r.Check != "" {
		if out, err := r.run(ctx, r.Check, candidate); err != nil {
			r.rejected = sum
			return Unchanged, fmt.Errorf("check failed, keeping the last good config %s: %w\n%s", r.Out, err, out)
		}
	}
	if err := os.Rename(candidate, r.Out); err != nil {
		return Unchanged, err
	}
	keep = true
	syncDir(dir)
	r.Log.Info("config updated", "file", r.Out, "instances", len(d.Instances), "leader", leaderID(d.Leader))
	r.reloadPending = true
	return Updated, r.reload(ctx)
}

func (r *Renderer) reload(ctx context.Context) error {
	if r.Reload == "" {
		r.reloadPending = false
		return nil
	}
	if out, err := r.run(ctx, r.Reload, r.Out); err != nil {
		return fmt.Errorf("reload: %w\n%s", err, out)
	}
	r.reloadPending = false
	r.Log.Info("reloaded", "command", r.Reload)
	return nil
}

// run runs a shell command with NGINXCONF_FILE set to file.
func (r *Renderer) run(ctx context.Context, command, file string) (string, error) {
	if r.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, r.Timeout)
		defer cancel()
	}
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", command)
	cmd.Env = append(os.Environ(), "NGINXCONF_FILE="+file)
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// syncDir makes a rename durable; failing to is not worth failing the update for.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}

func leaderID(b *Backend) string {
	if b == nil {
		return ""
	}
	return b.ID
}
