package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/spf13/cobra"

	"github.com/zkrecipes/zkrecipes"
)

func newLeaderCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "leader",
		Short: "Show or follow an election (LeaderLatch, LeaderSelector, zkrecipes leader)",
		Long: `An election path holds one ephemeral-sequential node per participant: Curator's LeaderLatch
and zkrecipes' leader.Latch write _c_<uuid>-latch-<seq>, Curator's LeaderSelector
_c_<uuid>-lock-<seq>, each holding the participant id. Participants are ordered by the text
after the last marker; the first one whose node can be read leads.`,
	}
	show := &cobra.Command{
		Use:   "show PATH",
		Short: "List the participants in order, the leader, and their sessions",
		Long: `List the participants of the election at PATH in order: the leader first, then the others,
with their ids, nodes, owning sessions and creation times. Warnings point at children that
are no election nodes (which disturb the order), nodes that belong to no session (which never
go away by themselves), and sessions holding more than one node.

Exits with status 3 when PATH does not exist.`,
		Example: `  zkr leader show /myapp/leader
  zkr leader show /myapp/leader --json | jq -r .leader.id`,
		Args: exactArgs(1, "one PATH"),
		RunE: action(func(cmd *cobra.Command, args []string) error {
			if err := checkPath("PATH", args[0]); err != nil {
				return err
			}
			return g.withClient(cmd, false, func(ctx context.Context, c *zkrecipes.Client) error {
				e, err := readElection(ctx, c, args[0])
				if err != nil {
					return noNode(err, "no election at %s: the node does not exist", args[0])
				}
				if g.json {
					return g.printJSON(e, false)
				}
				e.print(g)
				return nil
			})
		}),
	}
	watch := &cobra.Command{
		Use:   "watch PATH",
		Short: "Print the election at PATH, then again at each change, until interrupted",
		Long: `Print the election at PATH as "leader show" does, then again every time its participants
change, until interrupted (Ctrl-C). With --json, one JSON object per line. A PATH that does not
exist yet is waited for.`,
		Example: `  zkr leader watch /myapp/leader
  zkr leader watch /myapp/leader --json | jq -c '{leader: .leader.id}'`,
		Args: exactArgs(1, "one PATH"),
		RunE: action(func(cmd *cobra.Command, args []string) error {
			if err := checkPath("PATH", args[0]); err != nil {
				return err
			}
			return g.withClient(cmd, true, func(ctx context.Context, c *zkrecipes.Client) error {
				return watchChildren(ctx, c, args[0], g.timeout, !g.json, func(ctx context.Context) (string, error) {
					e, err := readElection(ctx, c, args[0])
					if errors.Is(err, zk.ErrNoNode) {
						e, err = &election{Path: args[0], Participants: []participant{}, Warnings: []string{}, Missing: true}, nil
					}
					if err != nil {
						return "", err
					}
					var b strings.Builder
					if g.json {
						sub := *g
						sub.stdout = &b
						err = sub.printJSON(e, true)
					} else {
						sub := *g
						sub.stdout = &b
						e.print(&sub)
					}
					return b.String(), err
				}, g.stdout)
			})
		}),
	}
	cmd.AddCommand(show, watch)
	return cmd
}

// election is what "leader show" prints.
type election struct {
	Path         string        `json:"path"`
	Recipe       string        `json:"recipe"` // "latch", "selector" or "" (empty)
	Leader       *participant  `json:"leader"`
	Participants []participant `json:"participants"`
	Warnings     []string      `json:"warnings"`
	Missing      bool          `json:"missing,omitempty"` // watch: the path does not exist (yet)
}

type participant struct {
	ID      string    `json:"id"`
	Node    string    `json:"node"`
	Session string    `json:"session,omitempty"`
	Created time.Time `json:"created"`
	Leader  bool      `json:"leader"`
	Error   string    `json:"error,omitempty"`
}

func readElection(ctx context.Context, c *zkrecipes.Client, path string) (*election, error) {
	nodes, err := readChildren(ctx, c, path)
	if err != nil {
		return nil, err
	}
	e := &election{Path: path, Participants: []participant{}, Warnings: []string{}}
	marker := ""
	for _, n := range nodes {
		switch {
		case strings.Contains(n.Name, markerLatch):
			marker = markerLatch
		case marker == "" && strings.Contains(n.Name, markerLock):
			marker = markerLock
		}
	}
	switch marker {
	case markerLatch:
		e.Recipe = "latch"
	case markerLock:
		e.Recipe = "selector"
	}
	byName := map[string]node{}
	names := make([]string, 0, len(nodes))
	for _, n := range nodes {
		byName[n.Name] = n
		names = append(names, n.Name)
	}
	sortByKey(names, func(s string) string { return orderKey(s, marker) })
	sessions := map[int64][]string{}
	for _, name := range names {
		n := byName[name]
		p := participant{ID: string(n.Data), Node: name, Created: n.Created}
		if n.Err != nil {
			p.Error = n.Err.Error()
		}
		if isEphemeral(n.Owner) {
			p.Session = sessionHex(n.Owner)
			sessions[n.Owner] = append(sessions[n.Owner], name)
		} else {
			e.Warnings = append(e.Warnings, fmt.Sprintf("%s is %s, owned by no session: it never goes away by itself and takes part in the order", name, nodeMode(n.Owner)))
		}
		if marker == "" || !strings.Contains(name, marker) || !hasSequence(orderKey(name, marker)) {
			e.Warnings = append(e.Warnings, fmt.Sprintf("%s is no %s node: it takes part in the order all the same", name, strings.TrimSuffix(marker, "-")))
		}
		if e.Leader == nil && n.Err == nil {
			p.Leader = true
		}
		e.Participants = append(e.Participants, p)
		if p.Leader {
			e.Leader = &e.Participants[len(e.Participants)-1]
		}
	}
	if marker == markerLatch {
		for _, name := range names {
			if !strings.Contains(name, markerLatch) && strings.Contains(name, markerLock) {
				e.Warnings = append(e.Warnings, "latch- and lock- nodes share this path: LeaderLatch and LeaderSelector must not share one")
				break
			}
		}
	}
	owners := make([]int64, 0, len(sessions))
	for s := range sessions {
		owners = append(owners, s)
	}
	slices.Sort(owners)
	for _, s := range owners {
		if len(sessions[s]) > 1 {
			e.Warnings = append(e.Warnings, fmt.Sprintf("session %s holds %d nodes (%s): one is probably left over from an abandoned join",
				sessionHex(s), len(sessions[s]), strings.Join(sessions[s], ", ")))
		}
	}
	// The leader pointer must survive the slice's growth: set it again now that it is final.
	for i := range e.Participants {
		if e.Participants[i].Leader {
			e.Leader = &e.Participants[i]
		}
	}
	return e, nil
}

func (e *election) print(g *globals) {
	kind := map[string]string{"latch": "LeaderLatch", "selector": "LeaderSelector", "": "empty"}[e.Recipe]
	switch {
	case e.Missing:
		fmt.Fprintf(g.stdout, "election %s: the path does not exist\n", e.Path)
	case len(e.Participants) == 0:
		fmt.Fprintf(g.stdout, "election %s: no participants\n", e.Path)
	default:
		leader := "none (no node can be read)"
		if e.Leader != nil {
			leader = fmt.Sprintf("%q", e.Leader.ID)
		}
		fmt.Fprintf(g.stdout, "election %s (%s): %d participants, leader %s\n", e.Path, kind, len(e.Participants), leader)
		tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "#\tID\tSESSION\tCREATED\tNODE")
		for i, p := range e.Participants {
			mark := ""
			if p.Leader {
				mark = "  leader"
			}
			if p.Error != "" {
				mark = "  " + p.Error
			}
			fmt.Fprintf(tw, "%d\t%q\t%s\t%s\t%s%s\n", i, p.ID, p.Session, p.Created.UTC().Format(time.RFC3339), p.Node, mark)
		}
		tw.Flush()
	}
	for _, w := range e.Warnings {
		fmt.Fprintln(g.stdout, "warning:", w)
	}
}

// watchChildren prints render's output for path now and after every change of its
// children or of its existence, skipping repeats (and, with stamp, under a line with the
// time), until ctx ends, which is no error.
func watchChildren(ctx context.Context, c *zkrecipes.Client, path string, timeout time.Duration, stamp bool,
	render func(context.Context) (string, error), out io.Writer) error {
	last := ""
	// A RECONNECTED with WatchesLost (a new session, or a replaced go-zk connection) means
	// the watch set before it never fires: look again.
	lost := make(chan struct{}, 1)
	stop := c.Listen(func(sc zkrecipes.StateChange) {
		if sc.WatchesLost {
			select {
			case lost <- struct{}{}:
			default:
			}
		}
	})
	defer stop()
	for {
		rctx, cancel := context.WithTimeout(ctx, timeout)
		var ev <-chan zk.Event
		_, _, ch, err := c.ChildrenW(rctx, path)
		if errors.Is(err, zk.ErrNoNode) {
			var ok bool
			ok, _, ch, err = c.ExistsW(rctx, path)
			if err == nil && ok {
				cancel()
				continue // created meanwhile: watch its children
			}
		}
		if err == nil {
			ev = ch
			var s string
			s, err = render(rctx)
			if err == nil && s != last {
				last = s
				if stamp {
					s = fmt.Sprintf("--- %s\n%s", time.Now().Format(time.RFC3339), s)
				}
				_, err = io.WriteString(out, s)
			}
		}
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-ev:
		case <-lost:
		}
	}
}
