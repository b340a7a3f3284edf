package zktest

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"time"
)

// Mode is a server's role as the `srvr` four-letter command reports it.
type Mode string

// The modes a serving ZooKeeper reports. A server that is up but has no quorum answers
// `srvr` with "This ZooKeeper instance is not currently serving requests" and no mode, which
// the harness reports as ModeNone.
const (
	ModeNone       Mode = ""
	ModeStandalone Mode = "standalone"
	ModeLeader     Mode = "leader"
	ModeFollower   Mode = "follower"
	ModeObserver   Mode = "observer"
)

// Serving reports whether a server in this mode answers clients.
func (m Mode) Serving() bool { return m != ModeNone }

// fourLetterTimeout bounds one four-letter exchange: a paused (SIGSTOP, docker pause) server
// accepts the TCP connection in the kernel and then never answers.
const fourLetterTimeout = 2 * time.Second

// FourLetter sends a four-letter command (srvr, stat, mntr, cons, ...) to addr and returns the
// whole answer. The servers the harness starts whitelist ruok, srvr, stat, mntr, cons, wchs,
// wchc and dump.
func FourLetter(ctx context.Context, addr, cmd string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, fourLetterTimeout)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return "", fmt.Errorf("zktest: %s %s: %w", cmd, addr, err)
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Now()) })
	defer stop()
	if _, err := io.WriteString(c, cmd); err != nil {
		return "", fmt.Errorf("zktest: %s %s: %w", cmd, addr, err)
	}
	b, err := io.ReadAll(c)
	if err != nil {
		return string(b), fmt.Errorf("zktest: %s %s: %w", cmd, addr, err)
	}
	return string(b), nil
}

// ServerMode asks addr for `srvr` and returns the reported Mode; ModeNone with a nil error
// means the server answered but is not serving (no quorum yet).
func ServerMode(ctx context.Context, addr string) (Mode, error) {
	out, err := FourLetter(ctx, addr, "srvr")
	if err != nil {
		return ModeNone, err
	}
	return parseMode(out), nil
}

func parseMode(srvr string) Mode {
	sc := bufio.NewScanner(strings.NewReader(srvr))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "Mode:"); ok {
			return Mode(strings.TrimSpace(v))
		}
	}
	return ModeNone
}

// waitServing polls `srvr` on addr until it reports a Mode or ctx ends; alive, when not nil,
// is checked between polls so a server process that died is reported at once instead of at
// the deadline.
func waitServing(ctx context.Context, addr string, alive func() error) (Mode, error) {
	const poll = 50 * time.Millisecond
	var last error
	for {
		m, err := ServerMode(ctx, addr)
		if err == nil && m.Serving() {
			return m, nil
		}
		if err != nil {
			last = err
		} else {
			last = fmt.Errorf("zktest: %s answers srvr without a Mode (no quorum yet)", addr)
		}
		if alive != nil {
			if err := alive(); err != nil {
				return ModeNone, err
			}
		}
		t := time.NewTimer(poll)
		select {
		case <-ctx.Done():
			t.Stop()
			return ModeNone, fmt.Errorf("zktest: %s not serving: %w (last: %v)", addr, ctx.Err(), last)
		case <-t.C:
		}
	}
}
