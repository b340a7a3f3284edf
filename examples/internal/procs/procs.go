// Package procs starts the example commands as real processes and stops them by PID, for
// the demo and the end-to-end tests: a process's output is kept (the tail) for failure
// reports, and stopping is SIGTERM, a grace period, then SIGKILL.
package procs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Process is a started command. Its methods are safe for concurrent use.
type Process struct {
	Name string
	cmd  *exec.Cmd
	out  *Tail
	done chan struct{}
	err  error // Wait's result, valid after done is closed

	mu      sync.Mutex
	stopped bool // Stop or Kill was called: an exit is expected
}

// Start runs path with args and extra environment variables (added to this process's
// environment). Output (stdout and stderr) goes to a kept tail and, if echo is not nil,
// also to echo.
func Start(name, path string, args, env []string, echo io.Writer) (*Process, error) {
	cmd := exec.Command(path, args...)
	cmd.Env = append(os.Environ(), env...)
	tail := &Tail{Max: 64 << 10}
	var w io.Writer = tail
	if echo != nil {
		w = io.MultiWriter(tail, &prefixWriter{prefix: name + "| ", w: echo})
	}
	cmd.Stdout, cmd.Stderr = w, w
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &Process{Name: name, cmd: cmd, out: tail, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// PID returns the process id.
func (p *Process) PID() int { return p.cmd.Process.Pid }

// Done is closed when the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Exited reports whether the process has exited, and how.
func (p *Process) Exited() (bool, error) {
	select {
	case <-p.done:
		return true, p.err
	default:
		return false, nil
	}
}

// Output returns the tail of what the process printed.
func (p *Process) Output() string { return p.out.String() }

// Signal sends sig to the process (not to a process group).
func (p *Process) Signal(sig os.Signal) error {
	if exited, _ := p.Exited(); exited {
		return nil
	}
	err := p.cmd.Process.Signal(sig)
	if errors.Is(err, os.ErrProcessDone) {
		return nil
	}
	return err
}

// Kill ends the process with SIGKILL, as a crash would, and waits for it to be reaped.
func (p *Process) Kill() error {
	p.mu.Lock()
	p.stopped = true
	p.mu.Unlock()
	if err := p.Signal(syscall.SIGKILL); err != nil {
		return fmt.Errorf("kill %s (pid %d): %w", p.Name, p.PID(), err)
	}
	<-p.done
	return nil
}

// Stop asks the process to shut down with SIGTERM and waits up to grace for it to exit,
// then kills it. It returns an error if the process had to be killed or exited with a
// failure status. Stop after an exit returns how it exited.
func (p *Process) Stop(grace time.Duration) error {
	p.mu.Lock()
	p.stopped = true
	p.mu.Unlock()
	if exited, err := p.Exited(); exited {
		return p.exitError(err)
	}
	if err := p.Signal(syscall.SIGTERM); err != nil {
		return fmt.Errorf("stop %s (pid %d): %w", p.Name, p.PID(), err)
	}
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-p.done:
		return p.exitError(p.err)
	case <-t.C:
		_ = p.Kill()
		return fmt.Errorf("%s (pid %d) did not exit within %v of SIGTERM; killed it", p.Name, p.PID(), grace)
	}
}

func (p *Process) exitError(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s (pid %d) exited: %w", p.Name, p.PID(), err)
}

// CheckAlive returns an error, with the tail of its output, if the process exited although
// nobody stopped it.
func (p *Process) CheckAlive() error {
	exited, err := p.Exited()
	if !exited {
		return nil
	}
	p.mu.Lock()
	stopped := p.stopped
	p.mu.Unlock()
	if stopped {
		return nil
	}
	return fmt.Errorf("%s (pid %d) exited unexpectedly (%v); its output ends with:\n%s", p.Name, p.PID(), err, p.Output())
}

// Tail is an io.Writer that keeps the last Max bytes written to it.
type Tail struct {
	Max int
	mu  sync.Mutex
	b   []byte
}

// Write appends to the tail.
func (t *Tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.Max {
		t.b = append([]byte(nil), t.b[len(t.b)-t.Max:]...)
	}
	return len(p), nil
}

// String returns what is kept.
func (t *Tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}

// prefixWriter prefixes every line with the process name, so interleaved output stays
// readable. Lines are written whole when possible.
type prefixWriter struct {
	prefix string
	w      io.Writer
	mu     sync.Mutex
	buf    []byte
}

func (pw *prefixWriter) Write(p []byte) (int, error) {
	pw.mu.Lock()
	defer pw.mu.Unlock()
	pw.buf = append(pw.buf, p...)
	for {
		i := strings.IndexByte(string(pw.buf), '\n')
		if i < 0 {
			break
		}
		line := pw.prefix + string(pw.buf[:i+1])
		pw.buf = pw.buf[i+1:]
		if _, err := io.WriteString(pw.w, line); err != nil {
			return len(p), nil // the echo is best effort; the tail still has it
		}
	}
	return len(p), nil
}

// FreePort returns a TCP port on 127.0.0.1 that nothing listened on a moment ago. Another
// process can take it before the caller binds it; the kernel hands ports out in turn, so
// that is rare.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Poll calls cond every interval until it returns true, returns an error or ctx ends. The
// error on ctx's end includes the last condition error, which says what was still wrong.
func Poll(ctx context.Context, interval time.Duration, what string, cond func(ctx context.Context) (bool, error)) error {
	var last error
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		ok, err := cond(ctx)
		if ok && err == nil {
			return nil
		}
		if err != nil {
			var perm *Permanent
			if errors.As(err, &perm) {
				return fmt.Errorf("%s: %w", what, perm.Err)
			}
			last = err
		}
		select {
		case <-ctx.Done():
			if last != nil {
				return fmt.Errorf("%s: %w (last: %v)", what, ctx.Err(), last)
			}
			return fmt.Errorf("%s: %w", what, ctx.Err())
		case <-t.C:
		}
	}
}

// Permanent wraps an error that makes Poll stop at once (a process died, say).
type Permanent struct{ Err error }

// Error returns the wrapped error's text.
func (p *Permanent) Error() string { return p.Err.Error() }

// Unwrap returns the wrapped error.
func (p *Permanent) Unwrap() error { return p.Err }

// Response is what Do read from one HTTP exchange.
type Response struct {
	Status int
	Body   string
	Header http.Header
}

// Do sends one request and reads the whole answer; the client's timeout applies.
func Do(ctx context.Context, c *http.Client, method, url string) (Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, nil)
	if err != nil {
		return Response{}, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return Response{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return Response{}, err
	}
	return Response{Status: resp.StatusCode, Body: strings.TrimSpace(string(b)), Header: resp.Header}, nil
}

// URL returns http://127.0.0.1:port + path.
func URL(port int, path string) string {
	return "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) + path
}
