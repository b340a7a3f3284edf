package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/spf13/cobra"

	"github.com/zkrecipes/zkrecipes"
	"github.com/zkrecipes/zkrecipes/discovery"
)

const defaultBase = "/services"

func newServicesCommand(g *globals) *cobra.Command {
	var base string
	cmd := &cobra.Command{
		Use:     "services",
		Aliases: []string{"svc"},
		Short:   "List, show or follow a service directory (ServiceDiscovery)",
		Long: `A service directory, as Curator's ServiceDiscovery and zkrecipes' discovery write it, holds
<base>/<service name>/<instance id>, each instance a JSON document (Curator's
JsonInstanceSerializer). Instances that cannot be decoded or read are reported, not fatal.`,
	}
	cmd.PersistentFlags().StringVar(&base, "base", defaultBase, "the directory's base path")
	list := &cobra.Command{
		Use:   "list [BASE]",
		Short: "List the services under BASE (default --base) with their instance counts",
		Long: `List the services under BASE (default: --base, itself /services by default), each with the
number of its instances and of those enabled. Exits with status 3 when BASE does not exist.`,
		Example: `  zkr services list
  zkr services list /service-discovery --json`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 1 {
				return usageErr("%s takes at most one BASE (see %s --help)", cmd.CommandPath(), cmd.CommandPath())
			}
			return nil
		},
		RunE: action(func(cmd *cobra.Command, args []string) error {
			b := base
			if len(args) == 1 {
				b = args[0]
			}
			if err := checkPath("BASE", b); err != nil {
				return err
			}
			return g.withClient(cmd, false, func(ctx context.Context, c *zkrecipes.Client) error {
				d, problems, err := openDirectory(c, b)
				if err != nil {
					return err
				}
				if ok, _, err := c.Exists(ctx, b); err != nil {
					return err
				} else if !ok {
					return notFound("no service directory at %s: the node does not exist", b)
				}
				names, err := d.Names(ctx)
				if err != nil {
					return err
				}
				out := struct {
					Base     string        `json:"base"`
					Services []serviceLine `json:"services"`
					Problems []string      `json:"problems"`
				}{Base: b, Services: []serviceLine{}}
				for _, name := range names {
					ins, err := d.Instances(ctx, name)
					if err != nil {
						return err
					}
					line := serviceLine{Name: name, Instances: len(ins)}
					for _, in := range ins {
						if in.Enabled {
							line.Enabled++
						}
					}
					out.Services = append(out.Services, line)
				}
				out.Problems = problems.list()
				if g.json {
					return g.printJSON(out, false)
				}
				if len(out.Services) == 0 {
					fmt.Fprintf(g.stdout, "no services under %s\n", b)
				} else {
					tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
					fmt.Fprintln(tw, "SERVICE\tINSTANCES\tENABLED")
					for _, s := range out.Services {
						fmt.Fprintf(tw, "%s\t%d\t%d\n", s.Name, s.Instances, s.Enabled)
					}
					tw.Flush()
				}
				printProblems(g, out.Problems)
				return nil
			})
		}),
	}
	show := &cobra.Command{
		Use:   "show NAME",
		Short: "Show the instances of service NAME, decoded",
		Long: `Show every instance of service NAME under --base: id, address, ports, URI, enabled,
registration time and payload (as JSON). Exits with status 3 when the service does not exist.`,
		Example: `  zkr services show bookService
  zkr services show bookService --json | jq -r '.instances[] | select(.payload.leader) | .id'`,
		Args: exactArgs(1, "one service NAME"),
		RunE: action(func(cmd *cobra.Command, args []string) error {
			if err := checkPath("BASE", base); err != nil {
				return err
			}
			return g.withClient(cmd, false, func(ctx context.Context, c *zkrecipes.Client) error {
				v, err := readService(ctx, c, base, args[0])
				if err != nil {
					return err
				}
				if g.json {
					return g.printJSON(v, false)
				}
				v.print(g)
				return nil
			})
		}),
	}
	watch := &cobra.Command{
		Use:   "watch NAME",
		Short: "Print the instances of service NAME, then again at each change, until interrupted",
		Long: `Print the instances of service NAME as "services show" does, then again every time an
instance comes, goes or changes, until interrupted (Ctrl-C). With --json, one JSON object per
line. A service that does not exist yet is waited for.`,
		Args: exactArgs(1, "one service NAME"),
		RunE: action(func(cmd *cobra.Command, args []string) error {
			if err := checkPath("BASE", base); err != nil {
				return err
			}
			return g.withClient(cmd, true, func(ctx context.Context, c *zkrecipes.Client) error {
				return watchService(ctx, g, c, base, args[0])
			})
		}),
	}
	cmd.AddCommand(list, show, watch)
	return cmd
}

type serviceLine struct {
	Name      string `json:"name"`
	Instances int    `json:"instances"`
	Enabled   int    `json:"enabled"`
}

// problemList collects the nodes a Discovery skipped.
type problemList struct {
	mu   sync.Mutex
	errs []string
}

func (p *problemList) add(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.errs = append(p.errs, err.Error())
}

func (p *problemList) list() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string{}, p.errs...)
}

func (p *problemList) reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.errs = nil
}

func printProblems(g *globals, problems []string) {
	for _, p := range problems {
		fmt.Fprintln(g.stdout, "skipped:", p)
	}
}

// openDirectory opens a read-only view of the directory at base whose payloads stay raw
// JSON. Instances that cannot be used are collected in the returned list.
func openDirectory(c *zkrecipes.Client, base string) (*discovery.Discovery[json.RawMessage], *problemList, error) {
	problems := &problemList{}
	d, err := discovery.New[json.RawMessage](c, base,
		discovery.WithErrorHandler(problems.add),
		discovery.WithLogger(c.Logger()))
	if err != nil {
		return nil, nil, usageErr("%v", err)
	}
	return d, problems, nil
}

// serviceView is what "services show" prints.
type serviceView struct {
	Base      string         `json:"base"`
	Name      string         `json:"name"`
	Instances []instanceView `json:"instances"`
	Problems  []string       `json:"problems"`
	Missing   bool           `json:"missing,omitempty"` // watch: the service does not exist (yet)
}

type instanceView struct {
	ID         string          `json:"id"`
	Address    string          `json:"address"`
	Port       *int            `json:"port"`
	SSLPort    *int            `json:"sslPort"`
	URI        string          `json:"uri,omitempty"`
	Enabled    bool            `json:"enabled"`
	Type       string          `json:"serviceType"`
	Registered time.Time       `json:"registered"`
	Payload    json.RawMessage `json:"payload"`
}

func readService(ctx context.Context, c *zkrecipes.Client, base, name string) (*serviceView, error) {
	d, problems, err := openDirectory(c, base)
	if err != nil {
		return nil, err
	}
	svc := zkrecipes.JoinPath(base, name)
	if err := checkPath("NAME", svc); err != nil {
		return nil, err
	}
	if ok, _, err := c.Exists(ctx, svc); err != nil {
		return nil, err
	} else if !ok {
		return nil, notFound("no service %q under %s: %s does not exist", name, base, svc)
	}
	ins, err := d.Instances(ctx, name)
	if err != nil {
		return nil, err
	}
	return viewOf(base, name, ins, problems.list()), nil
}

func viewOf(base, name string, ins []discovery.Instance[json.RawMessage], problems []string) *serviceView {
	v := &serviceView{Base: base, Name: name, Instances: []instanceView{}, Problems: problems}
	if v.Problems == nil {
		v.Problems = []string{}
	}
	for _, in := range ins {
		iv := instanceView{ID: in.ID, Address: in.Address, Port: in.Port, SSLPort: in.SSLPort,
			Enabled: in.Enabled, Type: string(in.ServiceType), Registered: time.UnixMilli(in.RegistrationTimeUTC).UTC(),
			Payload: in.Payload}
		if in.URISpec != nil {
			iv.URI = in.URI(nil)
		}
		if len(iv.Payload) == 0 {
			iv.Payload = json.RawMessage("null")
		}
		v.Instances = append(v.Instances, iv)
	}
	return v
}

func (v *serviceView) print(g *globals) {
	switch {
	case v.Missing:
		fmt.Fprintf(g.stdout, "service %s under %s: does not exist\n", v.Name, v.Base)
	case len(v.Instances) == 0:
		fmt.Fprintf(g.stdout, "service %s under %s: no instances\n", v.Name, v.Base)
	default:
		fmt.Fprintf(g.stdout, "service %s under %s: %d instances\n", v.Name, v.Base, len(v.Instances))
		tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tADDRESS\tPORT\tSSL\tENABLED\tTYPE\tREGISTERED\tURI\tPAYLOAD")
		for _, in := range v.Instances {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%t\t%s\t%s\t%s\t%s\n", in.ID, in.Address, port(in.Port), port(in.SSLPort),
				in.Enabled, in.Type, in.Registered.Format(time.RFC3339), in.URI, strings.TrimSpace(string(in.Payload)))
		}
		tw.Flush()
	}
	printProblems(g, v.Problems)
}

func port(p *int) string {
	if p == nil {
		return "-"
	}
	return fmt.Sprint(*p)
}

// watchService prints the service now and at every change of its cache, until ctx ends.
func watchService(ctx context.Context, g *globals, c *zkrecipes.Client, base, name string) error {
	d, problems, err := openDirectory(c, base)
	if err != nil {
		return err
	}
	cache, err := d.Cache(name)
	if err != nil {
		return usageErr("%v", err)
	}
	changed := make(chan struct{}, 1)
	stop := cache.Listen(func(discovery.CacheEvent[json.RawMessage]) {
		select {
		case changed <- struct{}{}:
		default:
		}
	})
	defer stop()
	sctx, cancel := context.WithTimeout(ctx, g.timeout)
	err = cache.Start(sctx)
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = cache.Close(cctx)
	}()
	svc := zkrecipes.JoinPath(base, name)
	last := ""
	for {
		ok, _, err := c.Exists(ctx, svc)
		if err != nil && !errors.Is(err, zk.ErrNoNode) {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		v := viewOf(base, name, cache.Instances(), problems.list())
		v.Missing = !ok
		problems.reset()
		var b strings.Builder
		sub := *g
		sub.stdout = &b
		if g.json {
			err = sub.printJSON(v, true)
		} else {
			v.print(&sub)
		}
		if err != nil {
			return err
		}
		if s := b.String(); s != last {
			last = s
			if !g.json {
				s = fmt.Sprintf("--- %s\n%s", time.Now().Format(time.RFC3339), s)
			}
			fmt.Fprint(g.stdout, s)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
		}
	}
}
