package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/spf13/cobra"

	"github.com/zkrecipes/zkrecipes"
)

func newLocksCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "locks",
		Short: "Show who holds and who waits for a lock (mutex, read/write lock, semaphore)",
	}
	show := &cobra.Command{
		Use:   "show PATH",
		Short: "Show the holders and waiters of the lock at PATH",
		Long: `Show the holders and the waiters of the lock at PATH, in queue order, with their sessions and
data. The kind is recognised from the layout:

  mutex       _c_<uuid>-lock-<seq> nodes (InterProcessMutex, LeaderSelector, zkrecipes lock.Mutex):
              the first holds the lock
  rwlock      _c_<uuid>-__READ__<seq> and -__WRIT__<seq> nodes in one queue: a writer holds
              when first, a reader when no writer is ahead of it
  semaphore   PATH/leases (one node per lease held) and PATH/locks (a mutex that the
              acquiring client holds while it takes a lease)

A node whose data is __REVOKE__ has been asked to release. Exits with status 3 when PATH does
not exist.`,
		Example: `  zkr locks show /myapp/locks/reindex
  zkr locks show /myapp/semaphores/jobs --json`,
		Args: exactArgs(1, "one PATH"),
		RunE: action(func(cmd *cobra.Command, args []string) error {
			if err := checkPath("PATH", args[0]); err != nil {
				return err
			}
			return g.withClient(cmd, false, func(ctx context.Context, c *zkrecipes.Client) error {
				v, err := readLock(ctx, c, args[0])
				if err != nil {
					return noNode(err, "no lock at %s: the node does not exist", args[0])
				}
				if g.json {
					return g.printJSON(v, false)
				}
				v.print(g)
				return nil
			})
		}),
	}
	cmd.AddCommand(show)
	return cmd
}

// lockView is what "locks show" prints.
type lockView struct {
	Path     string      `json:"path"`
	Kind     string      `json:"kind"` // "mutex", "rwlock", "semaphore" or "empty"
	Holders  []lockEntry `json:"holders"`
	Waiters  []lockEntry `json:"waiters"`
	Acquirer *lockEntry  `json:"acquirer,omitempty"` // semaphore: the holder of PATH/locks
	Warnings []string    `json:"warnings"`
}

type lockEntry struct {
	Node    string    `json:"node"`
	Mode    string    `json:"mode,omitempty"` // rwlock: "read" or "write"
	Session string    `json:"session,omitempty"`
	Data    string    `json:"data"`
	Created time.Time `json:"created"`
	Revoke  bool      `json:"revokeRequested,omitempty"`
	Error   string    `json:"error,omitempty"`
}

func entryOf(n node) lockEntry {
	e := lockEntry{Node: n.Name, Data: preview(n.Data, 60), Created: n.Created, Revoke: string(n.Data) == revokeData}
	if isEphemeral(n.Owner) {
		e.Session = sessionHex(n.Owner)
	}
	if n.Err != nil {
		e.Error = n.Err.Error()
	}
	return e
}

func readLock(ctx context.Context, c *zkrecipes.Client, path string) (*lockView, error) {
	nodes, err := readChildren(ctx, c, path)
	if err != nil {
		return nil, err
	}
	v := &lockView{Path: path, Holders: []lockEntry{}, Waiters: []lockEntry{}, Warnings: []string{}}
	names := map[string]bool{}
	rw := false
	for _, n := range nodes {
		names[n.Name] = true
		rw = rw || strings.Contains(n.Name, markerRead) || strings.Contains(n.Name, markerWrite)
	}
	switch {
	case names["leases"] || names["locks"] && !rw:
		return readSemaphore(ctx, c, path, v)
	case rw:
		v.Kind = "rwlock"
		sortNodes(nodes, rwOrderKey)
		writerAhead := false
		for i, n := range nodes {
			e := entryOf(n)
			writer := strings.Contains(n.Name, markerWrite)
			e.Mode = "read"
			if writer {
				e.Mode = "write"
			}
			holds := writer && i == 0 || !writer && !writerAhead
			if writer {
				writerAhead = true
			}
			if !strings.Contains(n.Name, markerRead) && !writer {
				v.Warnings = append(v.Warnings, fmt.Sprintf("%s is no read/write lock node: it takes part in the queue all the same", n.Name))
			}
			v.add(e, holds)
		}
	case len(nodes) == 0:
		v.Kind = "empty"
	default:
		v.Kind = "mutex"
		sortNodes(nodes, func(s string) string { return orderKey(s, markerLock) })
		for i, n := range nodes {
			if !strings.Contains(n.Name, markerLock) {
				v.Warnings = append(v.Warnings, fmt.Sprintf("%s is no lock node: it takes part in the queue all the same", n.Name))
			}
			v.add(entryOf(n), i == 0)
		}
	}
	v.warnOwnerless()
	return v, nil
}

func (v *lockView) add(e lockEntry, holds bool) {
	if holds {
		v.Holders = append(v.Holders, e)
	} else {
		v.Waiters = append(v.Waiters, e)
	}
}

func (v *lockView) warnOwnerless() {
	for _, e := range append(append([]lockEntry{}, v.Holders...), v.Waiters...) {
		if e.Session == "" && e.Error == "" {
			v.Warnings = append(v.Warnings, fmt.Sprintf("%s is owned by no session: it never goes away by itself", e.Node))
		}
	}
}

// readSemaphore reads InterProcessSemaphoreV2's layout: every child of PATH/leases is a
// lease held; the first node of PATH/locks is the client taking a lease right now (and
// waiting, while the leases are all out).
func readSemaphore(ctx context.Context, c *zkrecipes.Client, path string, v *lockView) (*lockView, error) {
	v.Kind = "semaphore"
	leases, err := readChildren(ctx, c, zkrecipes.JoinPath(path, "leases"))
	if err != nil && !errors.Is(err, zk.ErrNoNode) {
		return nil, err
	}
	sortNodes(leases, func(s string) string { return orderKey(s, markerLease) })
	for _, n := range leases {
		v.Holders = append(v.Holders, entryOf(n))
	}
	locks, err := readChildren(ctx, c, zkrecipes.JoinPath(path, "locks"))
	if err != nil && !errors.Is(err, zk.ErrNoNode) {
		return nil, err
	}
	sortNodes(locks, func(s string) string { return orderKey(s, markerLock) })
	for i, n := range locks {
		e := entryOf(n)
		e.Node = "locks/" + e.Node
		if i == 0 {
			v.Acquirer = &e
			continue
		}
		v.Waiters = append(v.Waiters, e)
	}
	for i := range v.Holders {
		v.Holders[i].Node = "leases/" + v.Holders[i].Node
	}
	v.warnOwnerless()
	return v, nil
}

func sortNodes(nodes []node, key func(string) string) {
	names := make([]string, len(nodes))
	byName := make(map[string]node, len(nodes))
	for i, n := range nodes {
		names[i] = n.Name
		byName[n.Name] = n
	}
	sortByKey(names, key)
	for i, name := range names {
		nodes[i] = byName[name]
	}
}

func (v *lockView) print(g *globals) {
	switch v.Kind {
	case "empty":
		fmt.Fprintf(g.stdout, "lock %s: free (no nodes)\n", v.Path)
	case "semaphore":
		fmt.Fprintf(g.stdout, "semaphore %s: %d leases held, %d waiting\n", v.Path, len(v.Holders), len(v.Waiters)+btoi(v.Acquirer != nil))
	default:
		fmt.Fprintf(g.stdout, "%s %s: %d holding, %d waiting\n", v.Kind, v.Path, len(v.Holders), len(v.Waiters))
	}
	tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
	if len(v.Holders)+len(v.Waiters) > 0 || v.Acquirer != nil {
		fmt.Fprintln(tw, "STATE\tMODE\tSESSION\tCREATED\tDATA\tNODE")
	}
	row := func(state string, e lockEntry) {
		note := ""
		if e.Revoke {
			note = "  revocation requested"
		}
		if e.Error != "" {
			note = "  " + e.Error
		}
		mode := e.Mode
		if mode == "" {
			mode = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s%s\n", state, mode, e.Session, e.Created.UTC().Format(time.RFC3339), e.Data, e.Node, note)
	}
	for _, e := range v.Holders {
		row("holds", e)
	}
	if v.Acquirer != nil {
		row("acquiring", *v.Acquirer)
	}
	for _, e := range v.Waiters {
		row("waits", e)
	}
	tw.Flush()
	for _, w := range v.Warnings {
		fmt.Fprintln(g.stdout, "warning:", w)
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
