package main

// This file is the demo's only use of the recipes: it shows what they wrote to ZooKeeper.

import (
	"context"
	"fmt"
	"time"

	"github.com/zkrecipes/zkrecipes"
	"github.com/zkrecipes/zkrecipes/leader"
)

// observer reads the tree that the nodes write, to show it in the transcript.
type observer struct{ c *zkrecipes.Client }

func observe(ctx context.Context, servers string) (*observer, error) {
	c, err := zkrecipes.Connect(ctx, []string{servers}, zkrecipes.WithSessionTimeout(10*time.Second))
	if err != nil {
		return nil, err
	}
	return &observer{c}, nil
}

func (o *observer) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return o.c.Close(ctx)
}

// participant is one latch node, in election order.
type participant struct {
	Node, ID string
	Leader   bool
}

// latch lists the election's nodes the way every participant orders them (Curator's order).
func (o *observer) latch(ctx context.Context, path string) ([]participant, error) {
	ps, err := leader.ListParticipants(ctx, o.c, path)
	if err != nil {
		return nil, err
	}
	out := make([]participant, len(ps))
	for i, p := range ps {
		out[i] = participant{Node: p.Node, ID: p.ID, Leader: p.IsLeader}
	}
	return out, nil
}

// registration returns the raw JSON of one instance znode, as Java Curator reads it.
func (o *observer) registration(ctx context.Context, basePath, service, id string) (string, error) {
	b, _, err := o.c.Get(ctx, fmt.Sprintf("%s/%s/%s", basePath, service, id))
	return string(b), err
}

// instances lists the ids registered under the service.
func (o *observer) instances(ctx context.Context, basePath, service string) ([]string, error) {
	ids, _, err := o.c.Children(ctx, basePath+"/"+service)
	return ids, err
}
