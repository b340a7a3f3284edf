package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/zkrecipes/zkrecipes"
)

// node is one child as zkr read it.
type node struct {
	Name    string    `json:"node"`
	Data    []byte    `json:"-"`
	Owner   int64     `json:"-"`
	Created time.Time `json:"-"`
	Version int32     `json:"-"`
	Err     error     `json:"-"` // it could not be read (NoAuth), or it went away meanwhile
}

// readChildren lists path's children and reads each one's data and stat. A child that
// went away between the listing and its read is left out; one that cannot be read keeps
// its name with Err set. A missing path is zk.ErrNoNode.
func readChildren(ctx context.Context, c *zkrecipes.Client, path string) ([]node, error) {
	names, _, err := c.Children(ctx, path)
	if err != nil {
		return nil, err
	}
	out := make([]node, 0, len(names))
	for _, name := range names {
		n, err := readNode(ctx, c, zkrecipes.JoinPath(path, name))
		switch {
		case errors.Is(err, zk.ErrNoNode):
			continue
		case err != nil && ctx.Err() != nil:
			return nil, err
		}
		n.Name = name
		out = append(out, n)
	}
	return out, nil
}

func readNode(ctx context.Context, c *zkrecipes.Client, p string) (node, error) {
	data, st, err := c.Get(ctx, p)
	if errors.Is(err, zk.ErrNoAuth) {
		ok, st2, err2 := c.Exists(ctx, p)
		n := node{Err: fmt.Errorf("cannot read: %w", zk.ErrNoAuth)}
		if err2 == nil && ok {
			n.Owner, n.Created = st2.EphemeralOwner, time.UnixMilli(st2.Ctime)
		}
		return n, nil
	}
	if err != nil {
		return node{}, err
	}
	return node{Data: data, Owner: st.EphemeralOwner, Created: time.UnixMilli(st.Ctime), Version: st.Version}, nil
}
