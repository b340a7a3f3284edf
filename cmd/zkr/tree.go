package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/go-zookeeper/zk"
	"github.com/spf13/cobra"

	"github.com/zkrecipes/zkrecipes"
	"github.com/zkrecipes/zkrecipes/discovery"
)

func newTreeCommand(g *globals) *cobra.Command {
	var depth, maxNodes int
	cmd := &cobra.Command{
		Use:   "tree [PATH]",
		Short: "Print the subtree at PATH (default /) with Curator layouts recognised",
		Long: `Print the subtree at PATH (default /) one node per line, indented, with each node's mode
(ephemeral and its session, or persistent: servers report containers and TTL nodes as
persistent) and what it is recognised as:
latch participants, lock, read/write lock and semaphore lease nodes (with their ids or data),
service instances (decoded: id, address, port), revocation requests. Other data is shown as
quoted text or, when binary, as its length and first bytes.

Nodes the client may not read are shown and marked. Exits with status 3 when PATH does not
exist.`,
		Example: `  zkr tree /myapp
  zkr tree /services --depth 2 --json`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 1 {
				return usageErr("%s takes at most one PATH (see %s --help)", cmd.CommandPath(), cmd.CommandPath())
			}
			return nil
		},
		RunE: action(func(cmd *cobra.Command, args []string) error {
			path := "/"
			if len(args) == 1 {
				path = args[0]
			}
			if err := checkPath("PATH", path); err != nil {
				return err
			}
			if maxNodes < 1 {
				return usageErr("--max-nodes must be at least 1, not %d", maxNodes)
			}
			return g.withClient(cmd, false, func(ctx context.Context, c *zkrecipes.Client) error {
				w := &walker{c: c, depth: depth, left: maxNodes}
				root, err := w.walk(ctx, path, 0)
				if err != nil {
					return noNode(err, "%s does not exist", path)
				}
				if g.json {
					return g.printJSON(root, false)
				}
				root.print(g, 0)
				if w.cut {
					fmt.Fprintf(g.stdout, "(stopped after %d nodes: see --max-nodes)\n", maxNodes)
				}
				return nil
			})
		}),
	}
	cmd.Flags().IntVar(&depth, "depth", -1, "how many levels below PATH to show (-1: all)")
	cmd.Flags().IntVar(&maxNodes, "max-nodes", 10000, "stop after this many nodes")
	return cmd
}

// treeNode is one node of "tree".
type treeNode struct {
	Path     string        `json:"path"`
	Name     string        `json:"name"`
	Mode     string        `json:"mode"`
	Session  string        `json:"session,omitempty"`
	Size     int           `json:"dataLength"`
	Data     string        `json:"data,omitempty"`
	Recipe   string        `json:"recipe,omitempty"`
	Instance *instanceView `json:"instance,omitempty"`
	Error    string        `json:"error,omitempty"`
	More     int           `json:"childrenNotShown,omitempty"`
	Children []*treeNode   `json:"children,omitempty"`
}

type walker struct {
	c     *zkrecipes.Client
	depth int
	left  int
	cut   bool
	json  *discovery.JSONSerializer[json.RawMessage]
}

func (w *walker) walk(ctx context.Context, path string, level int) (*treeNode, error) {
	w.left--
	name := path[strings.LastIndex(path, "/")+1:]
	if path == "/" {
		name = "/"
	}
	t := &treeNode{Path: path, Name: name}
	n, err := readNode(ctx, w.c, path)
	if err != nil {
		return nil, err
	}
	t.Mode, t.Size = nodeMode(n.Owner), len(n.Data)
	if isEphemeral(n.Owner) {
		t.Session = sessionHex(n.Owner)
	}
	if n.Err != nil {
		t.Error = n.Err.Error()
	} else {
		w.describe(t, n.Data)
	}
	children, _, err := w.c.Children(ctx, path)
	switch {
	case errors.Is(err, zk.ErrNoNode):
		return t, nil
	case errors.Is(err, zk.ErrNoAuth):
		if t.Error == "" {
			t.Error = "cannot list children: " + err.Error()
		}
		return t, nil
	case err != nil:
		return nil, err
	}
	if w.depth >= 0 && level >= w.depth {
		t.More = len(children)
		return t, nil
	}
	slices.Sort(children)
	for i, child := range children {
		if w.left <= 0 {
			w.cut = true
			t.More = len(children) - i
			break
		}
		ct, err := w.walk(ctx, zkrecipes.JoinPath(path, child), level+1)
		if errors.Is(err, zk.ErrNoNode) {
			continue // deleted meanwhile
		}
		if err != nil {
			return nil, err
		}
		t.Children = append(t.Children, ct)
	}
	return t, nil
}

// describe fills in what the node is recognised as.
func (w *walker) describe(t *treeNode, data []byte) {
	if string(data) == revokeData {
		t.Recipe = "revocation requested"
	}
	if kind := recipeNode(t.Name); kind != "" {
		if t.Recipe != "" {
			t.Recipe = kind + ", " + t.Recipe
		} else {
			t.Recipe = kind
		}
	}
	if len(data) > 0 && data[0] == '{' && bytes.Contains(data, []byte(`"registrationTimeUTC"`)) {
		if w.json == nil {
			w.json = discovery.JSON[json.RawMessage]()
		}
		in, err := w.json.Deserialize(data)
		if err == nil {
			views := viewOf("", in.Name, []discovery.Instance[json.RawMessage]{in}, nil)
			t.Instance = &views.Instances[0]
			t.Recipe = "service instance"
			return
		}
		t.Recipe = "malformed service instance: " + err.Error()
	}
	t.Data = preview(data, 60)
}

func (t *treeNode) print(g *globals, level int) {
	var b strings.Builder
	b.WriteString(strings.Repeat("  ", level))
	b.WriteString(t.Name)
	b.WriteString("  [" + t.Mode)
	if t.Session != "" {
		b.WriteString(" " + t.Session)
	}
	b.WriteString("]")
	if t.Recipe != "" {
		b.WriteString("  " + t.Recipe)
	}
	if in := t.Instance; in != nil {
		fmt.Fprintf(&b, " %s %s:%s enabled=%t payload=%s", in.ID, in.Address, port(in.Port), in.Enabled, strings.TrimSpace(string(in.Payload)))
	} else if t.Data != "" {
		b.WriteString("  " + t.Data)
	}
	if t.Error != "" {
		b.WriteString("  (" + t.Error + ")")
	}
	if t.More > 0 {
		fmt.Fprintf(&b, "  (+%d children not shown)", t.More)
	}
	fmt.Fprintln(g.stdout, b.String())
	for _, c := range t.Children {
		c.print(g, level+1)
	}
}
