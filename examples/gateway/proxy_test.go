package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// staticPool is a Pool over a fixed list, for testing the proxy's routing alone (the
// discovery side is tested end to end with real processes in examples/e2e).
type staticPool struct {
	mu       sync.Mutex
	backends []Backend
	next     int
	down     map[string]bool
	errs     []string
}

func (p *staticPool) Reader() (Backend, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for range p.backends {
		b := p.backends[p.next%len(p.backends)]
		p.next++
		if !p.down[b.ID] {
			return b, nil
		}
	}
	return Backend{}, &Unavailable{Reason: "no instance"}
}

func (p *staticPool) Writer() (Backend, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, b := range p.backends {
		if b.Leader {
			return b, nil
		}
	}
	return Backend{}, &Unavailable{Reason: "no leader"}
}

func (p *staticPool) NoteError(b Backend) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down[b.ID] = true
	p.errs = append(p.errs, b.ID)
}

func (p *staticPool) Status() PoolStatus { return PoolStatus{Service: "test"} }

// backend starts an HTTP server answering with its id, like bookservice's hello.
func backend(t *testing.T, id string, leader bool) Backend {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %s %s", id, r.Method, body)
	}))
	t.Cleanup(srv.Close)
	host, port, _ := net.SplitHostPort(strings.TrimPrefix(srv.URL, "http://"))
	p, _ := strconv.Atoi(port)
	return Backend{ID: id, Address: host, Port: p, Leader: leader}
}

// deadBackend is an address where nothing listens.
func deadBackend(t *testing.T, id string, leader bool) Backend {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return Backend{ID: id, Address: "127.0.0.1", Port: port, Leader: leader}
}

func gatewayFor(t *testing.T, pool Pool) *httptest.Server {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	h := newProxy(pool, log, "/_gateway/", 3, 0)
	gw := httptest.NewServer(h)
	t.Cleanup(func() {
		gw.Close()
		gw.Client().CloseIdleConnections()
	})
	return gw
}

func send(t *testing.T, gw *httptest.Server, method, body string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), method, gw.URL+"/microservice/test/hello", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := gw.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

func TestReadsRoundRobinWritesToLeader(t *testing.T) {
	pool := &staticPool{down: map[string]bool{}, backends: []Backend{
		backend(t, "node-1", false), backend(t, "node-2", true), backend(t, "node-3", false),
	}}
	gw := gatewayFor(t, pool)
	count := map[string]int{}
	for range 6 {
		code, body, h := send(t, gw, http.MethodGet, "")
		if code != 200 {
			t.Fatalf("GET: %d %s", code, body)
		}
		id := strings.Fields(body)[0]
		if h.Get("X-Gateway-Backend") != id {
			t.Errorf("X-Gateway-Backend %q, answered by %s", h.Get("X-Gateway-Backend"), id)
		}
		count[id]++
	}
	if count["node-1"] != 2 || count["node-2"] != 2 || count["node-3"] != 2 {
		t.Errorf("GETs spread %v, want 2 each", count)
	}
	for _, m := range []string{"POST", "PUT", "DELETE", "PATCH"} {
		code, body, _ := send(t, gw, m, "book")
		if code != 200 || body != "node-2 "+m+" book" {
			t.Errorf("%s: %d %q, want node-2 with the body", m, code, body)
		}
	}
	if code, _, h := send(t, gw, http.MethodHead, ""); code != 200 || h.Get("X-Gateway-Backend") == "" {
		t.Errorf("HEAD: %d %v", code, h)
	}
}

func TestReadRetriedElsewhere(t *testing.T) {
	pool := &staticPool{down: map[string]bool{}, backends: []Backend{
		deadBackend(t, "node-1", false), backend(t, "node-2", true),
	}}
	gw := gatewayFor(t, pool)
	for range 4 {
		code, body, _ := send(t, gw, http.MethodGet, "")
		if code != 200 || !strings.HasPrefix(body, "node-2 ") {
			t.Fatalf("GET: %d %q, want node-2", code, body)
		}
	}
	if strings.Join(pool.errs, ",") != "node-1" {
		t.Errorf("errors noted: %v, want node-1 once", pool.errs)
	}
}

func TestWriteNotRetried(t *testing.T) {
	pool := &staticPool{down: map[string]bool{}, backends: []Backend{
		backend(t, "node-1", false), deadBackend(t, "node-2", true),
	}}
	gw := gatewayFor(t, pool)
	code, body, h := send(t, gw, http.MethodPost, "book")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "leader node-2") || h.Get("Retry-After") == "" {
		t.Errorf("POST to a dead leader: %d %q %v; want 503 naming the leader, with Retry-After", code, body, h)
	}
}

func TestUnavailable(t *testing.T) {
	gw := gatewayFor(t, &staticPool{down: map[string]bool{}, backends: []Backend{backend(t, "node-1", false)}})
	if code, body, _ := send(t, gw, http.MethodDelete, ""); code != 503 || !strings.Contains(body, "no leader") {
		t.Errorf("DELETE without leader: %d %q", code, body)
	}
	if code, body, _ := send(t, gw, http.MethodGet, ""); code != 200 || !strings.HasPrefix(body, "node-1") {
		t.Errorf("GET without leader: %d %q", code, body)
	}
	gw = gatewayFor(t, &staticPool{down: map[string]bool{}})
	if code, body, _ := send(t, gw, http.MethodGet, ""); code != 503 || !strings.Contains(body, "no instance") {
		t.Errorf("GET without instances: %d %q", code, body)
	}
}
