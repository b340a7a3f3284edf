package zkrecipes

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/go-zookeeper/zk"

	"github.com/zkrecipes/zkrecipes/internal/pipeline"
)

// CreateMode is the kind of node to create.
type CreateMode int

// The node kinds ZooKeeper supports (TTL nodes are left to Conn()).
const (
	ModePersistent CreateMode = iota
	ModeEphemeral
	ModePersistentSequential
	ModeEphemeralSequential
	// ModeContainer is a persistent node the server deletes once its last child is gone.
	ModeContainer
)

var modeNames = [...]string{"PERSISTENT", "EPHEMERAL", "PERSISTENT_SEQUENTIAL", "EPHEMERAL_SEQUENTIAL", "CONTAINER"}

// String returns ZooKeeper's name for the mode.
func (m CreateMode) String() string {
	if m >= 0 && int(m) < len(modeNames) {
		return modeNames[m]
	}
	return fmt.Sprintf("CreateMode(%d)", int(m))
}

// Sequential reports whether the server appends a sequence number to the name.
func (m CreateMode) Sequential() bool {
	return m == ModePersistentSequential || m == ModeEphemeralSequential
}

// Ephemeral reports whether the node lives only as long as the session.
func (m CreateMode) Ephemeral() bool { return m == ModeEphemeral || m == ModeEphemeralSequential }

func (m CreateMode) flags() (int32, error) {
	switch m {
	case ModePersistent:
		return zk.FlagPersistent, nil
	case ModeEphemeral:
		return zk.FlagEphemeral, nil
	case ModePersistentSequential:
		return zk.FlagSequence, nil
	case ModeEphemeralSequential:
		return zk.FlagEphemeralSequential, nil
	case ModeContainer:
		return zk.FlagContainer, nil
	}
	return 0, fmt.Errorf("%w: unknown create mode %d", ErrInvalidArgument, int(m))
}

// CreateOption modifies one create.
type CreateOption func(*createConfig)

type createConfig struct {
	parents bool
	acl     []zk.ACL
	// beforeSend, set through internal/pipeline, runs before each attempt of a protected
	// create is sent, with its target path.
	beforeSend func(target string)
}

func init() {
	pipeline.BeforeSend = func(fn func(target string)) any {
		return CreateOption(func(c *createConfig) { c.beforeSend = fn })
	}
}

// WithParents creates missing parent nodes (and the namespace) as containers with empty
// data and the Client's ACL, as Curator's creatingParentContainersIfNeeded does.
func WithParents() CreateOption { return func(c *createConfig) { c.parents = true } }

// WithNodeACL gives the new node acl instead of the Client's default ACL.
func WithNodeACL(acl []zk.ACL) CreateOption { return func(c *createConfig) { c.acl = acl } }

func (c *Client) createConfig(opts []CreateOption) createConfig {
	cc := createConfig{acl: c.cfg.acl}
	for _, o := range opts {
		o(&cc)
	}
	if len(cc.acl) == 0 {
		cc.acl = c.cfg.acl
	}
	return cc
}

// Create makes a node at path with data and returns the path it got (with the sequence
// suffix for sequential modes), relative to the namespace. Without WithParents a missing
// parent fails with zk.ErrNoNode. A nil data is stored as empty.
//
// Retries and unknown outcomes: a create of a non-sequential node is retried after a
// connection loss. When a retry then finds the node already there, Create reports
// success only if the node can be the lost attempt's: an ephemeral node owned by this
// session, or a persistent or container node never modified (version 0), in both cases
// holding exactly data (as Curator's idempotent create checks: another session that
// wrote the same bytes at the same moment cannot be told apart). Otherwise it fails with
// zk.ErrNodeExists: someone else made the node, or changed it since. A node it cannot read
// (zk.ErrNoAuth) gives ErrOutcomeUnknown. A sequential create is not retried once an
// attempt may have reached the server, because a replay would make a second node: it
// fails with an error matching ErrOutcomeUnknown instead. Use CreateProtected for
// sequential nodes. If ctx ends while an attempt is in flight, or retries run out after
// an attempt whose reply was lost, the error matches ErrOutcomeUnknown (see Settled).
func (c *Client) Create(ctx context.Context, path string, data []byte, mode CreateMode, opts ...CreateOption) (string, error) {
	if err := c.checkPath("create", path); err != nil {
		return "", err
	}
	if err := c.checkData("create", path, data); err != nil {
		return "", err
	}
	flags, err := mode.flags()
	if err != nil {
		return "", &OpError{Op: "create", Path: path, Err: err}
	}
	cc := c.createConfig(opts)
	kind := opIdempotent
	if mode.Sequential() {
		kind = opOnce
	}
	return do(c, ctx, "create", path, kind, func(z *zk.Conn, uncertain bool) (string, error) {
		p, err := c.createOnce(z, path, data, flags, cc)
		if uncertain && errors.Is(err, zk.ErrNodeExists) && !mode.Sequential() {
			// A lost reply may hide our own success: the node counts as ours only if
			// it is provably the one the lost attempt made.
			return c.adoptCreated(z, path, data, mode, err)
		}
		return p, err
	})
}

// adoptCreated decides whether the existing node at path is the one an earlier attempt
// of this create made (see Create); exists is the NodeExists error of the retry.
func (c *Client) adoptCreated(z *zk.Conn, path string, data []byte, mode CreateMode, exists error) (string, error) {
	got, st, err := z.Get(c.fullPath(path))
	switch {
	case errors.Is(err, zk.ErrNoNode):
		// Gone again: it may have been ours, deleted by someone since.
		return "", unknownOutcome(exists)
	case errors.Is(err, zk.ErrNoAuth):
		return "", unknownOutcome(exists) // it may be ours, made with an ACL we cannot read
	case err != nil:
		return "", err
	}
	if !bytes.Equal(got, data) {
		return "", &settledError{exists}
	}
	if mode.Ephemeral() {
		if st.EphemeralOwner == z.SessionID() {
			return path, nil
		}
		return "", &settledError{exists}
	}
	if st.EphemeralOwner == 0 && st.Version == 0 {
		return path, nil
	}
	return "", &settledError{exists}
}

// createOnce is one attempt: create, and with parents, create missing ancestors and try
// again. It returns the namespace-relative path.
func (c *Client) createOnce(z *zk.Conn, path string, data []byte, flags int32, cc createConfig) (string, error) {
	if data == nil {
		data = []byte{}
	}
	create := func() (string, error) {
		full := c.fullPath(path)
		var p string
		var err error
		if flags == zk.FlagContainer {
			p, err = z.CreateContainer(full, data, flags, cc.acl)
		} else {
			p, err = z.Create(full, data, flags, cc.acl)
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
	return p, err
}

// ensureParents creates every missing ancestor of path (server path, namespace included)
// as a container.
func (c *Client) ensureParents(z *zk.Conn, path string) error {
	full := c.fullPath(path)
	parent, _ := SplitPath(full)
	if parent == "/" {
		return nil
	}
	var missing []string
	for p := parent; p != "/"; p, _ = SplitPath(p) {
		ok, _, err := z.Exists(p)
		if err != nil {
			return err
		}
		if ok {
			break
		}
		missing = append(missing, p)
	}
	for i := len(missing) - 1; i >= 0; i-- {
		_, err := z.CreateContainer(missing[i], []byte{}, zk.FlagContainer, c.cfg.acl)
		if err != nil && !errors.Is(err, zk.ErrNodeExists) {
			return fmt.Errorf("create parent %s: %w", c.relPath(missing[i]), err)
		}
	}
	return nil
}

// EnsurePath creates path and its missing ancestors as containers (a no-op for nodes
// that exist).
func (c *Client) EnsurePath(ctx context.Context, path string) error {
	if err := c.checkPath("ensure", path); err != nil {
		return err
	}
	if path == "/" && c.ns == "" {
		return nil
	}
	_, err := do(c, ctx, "ensure", path, opIdempotent, func(z *zk.Conn, _ bool) (struct{}, error) {
		if err := c.ensureParents(z, path); err != nil {
			return struct{}{}, err
		}
		_, err := z.CreateContainer(c.fullPath(path), []byte{}, zk.FlagContainer, c.cfg.acl)
		if errors.Is(err, zk.ErrNodeExists) {
			err = nil
		}
		return struct{}{}, err
	})
	return err
}

// Multi runs ops atomically: all succeed or none is applied. ops are *zk.CreateRequest,
// *zk.DeleteRequest, *zk.SetDataRequest and *zk.CheckVersionRequest with paths relative to
// the namespace; a CreateRequest with a nil Acl gets the Client's ACL. When the
// transaction fails, the error wraps the first failing operation's error and the
// responses say which one failed.
//
// Unlike Curator, Multi is not retried once an attempt may have reached the server: a
// replay of a transaction that did commit could commit it a second time, or fail for a
// reason that hides the first commit. It is retried only when go-zk proves the request
// was never sent (zk.ErrNoServer) or the server refused it (zk.ErrSessionMoved).
// Otherwise a connection loss, or a ctx that ends while the attempt is in flight, gives
// an error matching ErrOutcomeUnknown (see Settled): find out from the data, or make the
// transaction able to tell, as leader.Term.Multi does.
func (c *Client) Multi(ctx context.Context, ops ...any) ([]zk.MultiResponse, error) {
	mapped := make([]any, len(ops))
	first := ""
	for i, op := range ops {
		var p string
		switch o := op.(type) {
		case *zk.CreateRequest:
			cp := *o
			if cp.Acl == nil {
				cp.Acl = c.cfg.acl
			}
			if cp.Data == nil {
				cp.Data = []byte{}
			}
			p, cp.Path = o.Path, c.fullPath(o.Path)
			mapped[i] = &cp
		case *zk.DeleteRequest:
			cp := *o
			p, cp.Path = o.Path, c.fullPath(o.Path)
			mapped[i] = &cp
		case *zk.SetDataRequest:
			cp := *o
			p, cp.Path = o.Path, c.fullPath(o.Path)
			mapped[i] = &cp
		case *zk.CheckVersionRequest:
			cp := *o
			p, cp.Path = o.Path, c.fullPath(o.Path)
			mapped[i] = &cp
		default:
			return nil, &OpError{Op: "multi", Err: fmt.Errorf("%w: unsupported operation %T", ErrInvalidArgument, op)}
		}
		if err := c.checkPath("multi", p); err != nil {
			return nil, err
		}
		if first == "" {
			first = p
		}
	}
	res, err := do(c, ctx, "multi", first, opOnce, func(z *zk.Conn, _ bool) ([]zk.MultiResponse, error) {
		res, err := z.Multi(mapped...)
		for i := range res {
			if res[i].String != "" {
				res[i].String = c.relPath(res[i].String)
			}
			if err == nil && res[i].Error != nil {
				err = res[i].Error
			}
		}
		return res, err
	})
	return res, err
}

// isProtectedName reports whether name carries a Curator protection prefix
// (_c_<36-char uuid>-) and returns the prefix.
func protectedPrefix(name string) (string, bool) {
	if len(name) < 40 || !strings.HasPrefix(name, "_c_") || name[39] != '-' {
		return "", false
	}
	if !isUUID(name[3:39]) {
		return "", false
	}
	return name[:40], true
}

// ProtectedName reports whether a node name carries a Curator protection prefix
// (_c_<uuid>-) and returns the name without it.
func ProtectedName(name string) (unprotected string, ok bool) {
	p, ok := protectedPrefix(name)
	if !ok {
		return name, false
	}
	return name[len(p):], true
}
