package zkrecipes

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/go-zookeeper/zk"
)

// CreateProtected creates a node whose name carries Curator's protection prefix: the last
// element of path becomes "_c_<uuid>-<name>" (e.g. "_c_37a02f08-149f-45f3-a688-613d01e87f04-latch-"),
// which Curator recognises. It is meant for sequential modes, where a create whose reply
// was lost cannot otherwise be found again.
//
// The uuid stays fixed across the retries of one call, which makes them safe: before each
// retry the parent is listed and a child with the prefix is adopted when it belongs to the
// current session (or is persistent); an ephemeral from an older session is deleted
// instead. When the call gives up with the outcome unknown (ctx ended while an attempt
// was in flight, or retries ran out after a lost reply) the error matches
// ErrOutcomeUnknown, and the Client removes whatever the call created: once the last
// attempt has returned (so that it cannot land after the clean-up looked), and once the
// connection is back, it deletes every child of the parent that carries the call's
// prefix, retrying in the background until done or until the Client closes. The caller
// can therefore treat such a failure as "not applied".
func (c *Client) CreateProtected(ctx context.Context, path string, data []byte, mode CreateMode, opts ...CreateOption) (string, error) {
	if err := c.checkPath("create", path); err != nil {
		return "", err
	}
	if err := c.checkData("create", path, data); err != nil {
		return "", err
	}
	flags, err := mode.flags()
	if err != nil || mode == ModeContainer {
		return "", &OpError{Op: "create", Path: path, Err: fmt.Errorf("%w: protected create of a %v node", ErrInvalidArgument, mode)}
	}
	cc := c.createConfig(opts)
	parent, name := SplitPath(path)
	prefix := "_c_" + newUUID() + "-"
	target := JoinPath(parent, prefix+name)

	find := func(int) (string, bool, error) {
		p, err := c.findProtected(ctx, parent, prefix, mode)
		return p, p != "", err
	}
	p, attempts, inflight, err := doRetry(c, ctx, "create", path, opIdempotent, find, func(z *zk.Conn, _ bool) (string, error) {
		if cc.beforeSend != nil {
			cc.beforeSend(target)
		}
		return c.createOnce(z, target, data, flags, cc)
	})
	if errors.Is(err, ErrOutcomeUnknown) && !c.closed() {
		c.cleanupProtected(parent, prefix, inflight)
	}
	return p, wrapOp("create", path, attempts, inflight, err)
}

// cleanupProtected deletes, in the background, what an abandoned protected create made:
// only after its in-flight attempt (if any) has returned, and only nodes with its prefix.
func (c *Client) cleanupProtected(parent, prefix string, inflight <-chan struct{}) {
	what := "protected create cleanup " + JoinPath(parent, prefix)
	if !c.track() {
		return
	}
	go func() {
		defer c.bg.Done()
		if inflight != nil {
			select {
			case <-inflight:
			case <-c.life.Done():
				return
			}
		}
		c.background(what, func(ctx context.Context) error {
			return c.deleteProtected(ctx, parent, prefix)
		})
	}()
}

// findProtected looks for our node after a failed attempt, after a sync so that a
// lagging server cannot hide it. An ephemeral owned by another (older) session is
// deleted: adopting it would tie us to a session that is gone.
func (c *Client) findProtected(ctx context.Context, parent, prefix string, mode CreateMode) (string, error) {
	if err := c.Sync(ctx, parent); err != nil && !errors.Is(err, zk.ErrNoNode) {
		return "", err
	}
	kids, _, err := c.Children(ctx, parent)
	if errors.Is(err, zk.ErrNoNode) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	for _, k := range kids {
		if !strings.HasPrefix(k, prefix) {
			continue
		}
		p := JoinPath(parent, k)
		ok, st, err := c.Exists(ctx, p)
		if err != nil {
			return "", err
		}
		if !ok {
			continue
		}
		if !mode.Ephemeral() || st.EphemeralOwner == c.SessionID() {
			return p, nil
		}
		if err := c.Delete(ctx, p, st.Version); err != nil && !errors.Is(err, zk.ErrNoNode) {
			return "", err
		}
	}
	return "", nil
}

// deleteProtected deletes every child of parent that starts with prefix. The sync first
// makes the listing see every write of this session that the server has committed.
func (c *Client) deleteProtected(ctx context.Context, parent, prefix string) error {
	if err := c.Sync(ctx, parent); err != nil && !errors.Is(err, zk.ErrNoNode) {
		return err
	}
	kids, _, err := c.Children(ctx, parent)
	if errors.Is(err, zk.ErrNoNode) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, k := range kids {
		if strings.HasPrefix(k, prefix) {
			if err := c.Delete(ctx, JoinPath(parent, k), -1); err != nil && !errors.Is(err, zk.ErrNoNode) {
				return err
			}
		}
	}
	return nil
}

// newUUID returns a random version-4 UUID in lower-case 36-character dashed form.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var s [36]byte
	hex.Encode(s[0:8], b[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], b[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], b[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], b[8:10])
	s[23] = '-'
	hex.Encode(s[24:36], b[10:16])
	return string(s[:])
}

// NewUUID returns a random version-4 UUID in the lower-case dashed form Curator and
// ServiceDiscovery ids use.
func NewUUID() string { return newUUID() }

func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < 36; i++ {
		ch := s[i]
		switch i {
		case 8, 13, 18, 23:
			if ch != '-' {
				return false
			}
		default:
			if !(ch >= '0' && ch <= '9' || ch >= 'a' && ch <= 'f' || ch >= 'A' && ch <= 'F') {
				return false
			}
		}
	}
	return true
}
