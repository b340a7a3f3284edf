package curatortest

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// TreeEvent is one event of a Java CuratorCache listener (CuratorCacheListener.event), or
// its initialized() call (Type "initialized", nothing else set).
type TreeEvent struct {
	Type string // NODE_CREATED, NODE_CHANGED, NODE_DELETED, or initialized
	Path string // as Curator reports it: relative to the peer's namespace
	Old  []byte // oldData's bytes: NODE_CHANGED, NODE_DELETED; nil when Curator passed none
	New  []byte // data's bytes: NODE_CREATED, NODE_CHANGED
}

// String renders the event as "NODE_CHANGED /a old>new".
func (e TreeEvent) String() string {
	switch e.Type {
	case "NODE_CREATED":
		return fmt.Sprintf("%s %s=%s", e.Type, e.Path, e.New)
	case "NODE_CHANGED":
		return fmt.Sprintf("%s %s %s>%s", e.Type, e.Path, e.Old, e.New)
	case "NODE_DELETED":
		return fmt.Sprintf("%s %s=%s", e.Type, e.Path, e.Old)
	}
	return e.Type
}

// CuratorCacheStart starts a Java CuratorCache of path (CuratorCache.build with no options)
// called name, whose listener reports every event; it returns at once: see
// CuratorCacheEvents and WaitCuratorCache.
func (p *Peer) CuratorCacheStart(ctx context.Context, name, path string) error {
	if err := words(name, path); err != nil {
		return err
	}
	_, err := p.Cmd(ctx, fmt.Sprintf("cc-start %s %s", name, path))
	return err
}

// CuratorCacheClose closes the CuratorCache.
func (p *Peer) CuratorCacheClose(ctx context.Context, name string) error {
	if err := word(name); err != nil {
		return err
	}
	_, err := p.Cmd(ctx, "cc-close "+name)
	return err
}

// CuratorCacheEvents returns every event the CuratorCache's listener reported so far, in
// order (WaitEvent does not consume them).
func (p *Peer) CuratorCacheEvents(name string) ([]TreeEvent, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.treeEventsLocked(name)
}

func (p *Peer) treeEventsLocked(name string) ([]TreeEvent, error) {
	prefix := "cc " + name + " "
	var out []TreeEvent
	for _, ev := range p.events {
		rest, ok := strings.CutPrefix(ev, prefix)
		if !ok {
			continue
		}
		if rest == "initialized" {
			out = append(out, TreeEvent{Type: rest})
			continue
		}
		var raw struct {
			Type string  `json:"type"`
			Path string  `json:"path"`
			Old  *string `json:"old"`
			New  *string `json:"new"`
		}
		if err := json.Unmarshal([]byte(rest), &raw); err != nil {
			return out, fmt.Errorf("curatortest: curator cache %s: event %q: %v", name, rest, err)
		}
		te := TreeEvent{Type: raw.Type, Path: raw.Path}
		for _, f := range []struct {
			in  *string
			out *[]byte
		}{{raw.Old, &te.Old}, {raw.New, &te.New}} {
			if f.in == nil {
				continue
			}
			b, err := base64.StdEncoding.DecodeString(*f.in)
			if err != nil {
				return out, fmt.Errorf("curatortest: curator cache %s: event %q: %v", name, rest, err)
			}
			*f.out = append([]byte{}, b...)
		}
		out = append(out, te)
	}
	return out, nil
}

// WaitCuratorCache waits until the CuratorCache has reported at least n events (initialized
// counts) and returns all of them.
func (p *Peer) WaitCuratorCache(ctx context.Context, name string, n int) ([]TreeEvent, error) {
	for {
		p.mu.Lock()
		evs, err := p.treeEventsLocked(name)
		eof, sig := p.eof, p.signal
		p.mu.Unlock()
		if err != nil || len(evs) >= n {
			return evs, err
		}
		if eof {
			return evs, fmt.Errorf("curatortest: waiting for curator cache %s: %w", name, p.exitError())
		}
		select {
		case <-sig:
		case <-ctx.Done():
			return evs, fmt.Errorf("curatortest: curator cache %s: %d of %d events: %w", name, len(evs), n, ctx.Err())
		}
	}
}

// durations decodes a JSON array of nanoseconds.
func (p *Peer) durations(ctx context.Context, line string) ([]time.Duration, error) {
	var ns []int64
	if err := p.cmdJSON(ctx, line, &ns); err != nil {
		return nil, err
	}
	out := make([]time.Duration, len(ns))
	for i, n := range ns {
		out[i] = time.Duration(n)
	}
	return out, nil
}

// CuratorCacheStartBench runs warm and then n primed starts of a CuratorCache of path on
// the peer's client: build, add a listener, start, and wait for initialized, timed on the
// JVM's clock; each cache is closed after its round. It returns the n samples.
func (p *Peer) CuratorCacheStartBench(ctx context.Context, path string, warm, n int) ([]time.Duration, error) {
	if err := word(path); err != nil {
		return nil, err
	}
	return p.durations(ctx, fmt.Sprintf("cc-start-bench %s %d %d", path, warm, n))
}

// ServiceCacheBenchSetup prepares ServiceCacheBench: a ServiceDiscovery on the peer's client
// registers instances DYNAMIC instances of service under basePath (ids i00000, i00001, ...,
// 16 at a time), and a second ServiceDiscovery on a session of its own starts a ServiceCache
// of the service. Once per peer.
func (p *Peer) ServiceCacheBenchSetup(ctx context.Context, basePath, service string, instances int) error {
	if err := words(basePath, service); err != nil {
		return err
	}
	_, err := p.Cmd(ctx, fmt.Sprintf("sc-bench-setup %s %s %d", basePath, service, instances))
	return err
}

// ServiceCacheBench runs n updates (updateService of the next instance, its payload's leader
// flipped) and returns, for each, the JVM time from the call to the other session's
// ServiceCache listener (cacheChanged).
func (p *Peer) ServiceCacheBench(ctx context.Context, n int) ([]time.Duration, error) {
	return p.durations(ctx, fmt.Sprintf("sc-bench %d", n))
}

// RegisterBench makes n registerService calls of new DYNAMIC instances of service (random
// ids) one after another, on a ServiceDiscovery under basePath that the peer keeps between
// calls, and returns each call's JVM time.
func (p *Peer) RegisterBench(ctx context.Context, basePath, service string, n int) ([]time.Duration, error) {
	if err := words(basePath, service); err != nil {
		return nil, err
	}
	return p.durations(ctx, fmt.Sprintf("sd-register-bench %s %s %d", basePath, service, n))
}
