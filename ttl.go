package zkrecipes

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-zookeeper/zk"
)

// ErrTTLUnsupported is matched by the error of CreateTTL when the server refuses TTL
// nodes: ZooKeeper answers UNIMPLEMENTED (-6) unless its zoo.cfg sets
// extendedTypesEnabled=true.
var ErrTTLUnsupported = errors.New("zkrecipes: the server does not support TTL nodes (it needs extendedTypesEnabled=true in zoo.cfg)")

// maxTTL is ZooKeeper's largest TTL (EphemeralType.MAX_EXTENDED_SERVER_ID aside, the TTL
// field has 40 bits of milliseconds).
const maxTTL = time.Duration(0xFFFFFFFFFF) * time.Millisecond

// CreateTTL makes a PERSISTENT_WITH_TTL node at path holding data: a persistent node that
// the server deletes once it has had no children and no change for ttl (checked at the
// server's container reaper interval). A ttl that is not between 1 ms and ZooKeeper's
// maximum gives an error matching ErrInvalidArgument; a server without
// extendedTypesEnabled gives one matching ErrTTLUnsupported. WithParents creates missing
// parents as containers.
//
// Retries and unknown outcomes are those of Create for a non-sequential node: a retry that
// finds the node already there reports success only if it can be the lost attempt's
// (never modified, holding exactly data); otherwise zk.ErrNodeExists.
func (c *Client) CreateTTL(ctx context.Context, path string, data []byte, ttl time.Duration, opts ...CreateOption) (string, error) {
	if err := c.checkPath("createttl", path); err != nil {
		return "", err
	}
	if err := c.checkData("createttl", path, data); err != nil {
		return "", err
	}
	if ttl < time.Millisecond || ttl > maxTTL {
		return "", &OpError{Op: "createttl", Path: path, Err: fmt.Errorf("%w: ttl %v", ErrInvalidArgument, ttl)}
	}
	cc := c.createConfig(opts)
	if data == nil {
		data = []byte{}
	}
	return do(c, ctx, "createttl", path, opIdempotent, func(z *zk.Conn, uncertain bool) (string, error) {
		create := func() (string, error) {
			p, err := z.CreateTTL(c.fullPath(path), data, zk.FlagTTL, cc.acl, ttl)
			if err != nil && strings.Contains(err.Error(), "unknown error: -6") {
				err = fmt.Errorf("%w: %v", ErrTTLUnsupported, err)
			}
			return c.relPath(p), err
		}
		p, err := create()
		if errors.Is(err, zk.ErrNoNode) && cc.parents {
			if err := c.ensureParents(z, path); err != nil {
				return "", err
			}
			p, err = create()
		}
		if uncertain && errors.Is(err, zk.ErrNodeExists) {
			return c.adoptCreated(z, path, data, ModePersistent, err)
		}
		return p, err
	})
}
