package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

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
	changed  chan struct{} // closed by set; nil until the first Changed
}

// Changed returns a channel closed at the next set.
func (p *staticPool) Changed() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.changed == nil {
		p.changed = make(chan struct{})
	}
	return p.changed
}

// set replaces the backends, as a change of the service in ZooKeeper would.
func (p *staticPool) set(bs ...Backend) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.backends = bs
	if p.changed != nil {
		close(p.changed)
	}
	p.changed = make(chan struct{})
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

func (p *staticPool) Status() PoolStatus {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := PoolStatus{Service: "test", Instances: append([]Backend{}, p.backends...), Down: []string{}}
	for _, b := range p.backends {
		if b.Leader {
			st.Leader = b.ID
		}
		if p.down[b.ID] {
			st.Down = append(st.Down, b.ID)
		}
	}
	return st
}

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
	return gatewayWith(t, pool, proxyConfig{writeWait: 100 * time.Millisecond, writeQueue: 16})
}

func gatewayWith(t *testing.T, pool Pool, cfg proxyConfig) *httptest.Server {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg.adminPrefix, cfg.readAttempts = "/_gateway/", 3
	cfg.statusPath = "/_status"
	h := newProxy(pool, log, cfg)
	t.Cleanup(h.Close)
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

// A leader that refuses the connection never got the write: once the wait is over with
// no other leader, the answer is 503 naming it.
func TestWriteToRefusingLeaderTimesOut(t *testing.T) {
	pool := &staticPool{down: map[string]bool{}, backends: []Backend{
		backend(t, "node-1", false), deadBackend(t, "node-2", true),
	}}
	gw := gatewayFor(t, pool)
	code, body, h := send(t, gw, http.MethodPost, "book")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "leader node-2") || !strings.Contains(body, "within 100ms") || h.Get("Retry-After") == "" {
		t.Errorf("POST to a dead leader: %d %q %v; want 503 naming the leader and the wait, with Retry-After", code, body, h)
	}
}

// A write held while the leader is dead goes to the next leader once the pool names it,
// with its body, and never to the old leader again.
func TestWriteWaitsForNextLeader(t *testing.T) {
	dead := deadBackend(t, "node-1", true)
	pool := &staticPool{down: map[string]bool{}, backends: []Backend{dead, backend(t, "node-2", false)}}
	waiting := make(chan struct{}, 16)
	gw := gatewayWith(t, pool, proxyConfig{writeWait: 30 * time.Second, writeQueue: 16, onWriteWait: func() { waiting <- struct{}{} }})
	next := backend(t, "node-3", true)
	type answer struct {
		code int
		body string
		h    http.Header
	}
	done := make(chan answer, 1)
	go func() {
		code, body, h := send(t, gw, http.MethodPost, "book")
		done <- answer{code, body, h}
	}()
	// The write waits once it has tried the dead leader.
	awaitSignal(t, waiting, "the write to wait after the dead leader refused it")
	if pool.mu.Lock(); len(pool.errs) != 1 || pool.errs[0] != "node-1" {
		t.Errorf("errors noted: %v, want node-1", pool.errs)
	}
	pool.mu.Unlock()
	pool.set(backend(t, "node-2", false), next)
	select {
	case a := <-done:
		if a.code != 200 || a.body != "node-3 POST book" || a.h.Get("X-Gateway-Write-Wait") == "" {
			t.Errorf("held POST: %d %q %v; want node-3 with the body and the wait in a header", a.code, a.body, a.h)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the held write was not forwarded to the new leader")
	}
}

// A write with no leader at all waits for one to appear.
func TestWriteWaitsForFirstLeader(t *testing.T) {
	pool := &staticPool{down: map[string]bool{}, backends: []Backend{backend(t, "node-1", false)}}
	waiting := make(chan struct{}, 16)
	gw := gatewayWith(t, pool, proxyConfig{writeWait: 30 * time.Second, writeQueue: 16, onWriteWait: func() { waiting <- struct{}{} }})
	done := make(chan string, 1)
	go func() {
		code, body, _ := send(t, gw, http.MethodPut, "x")
		done <- fmt.Sprint(code, " ", body)
	}()
	awaitSignal(t, waiting, "the write to wait for a leader")
	pool.set(backend(t, "node-1", true))
	select {
	case got := <-done:
		if got != "200 node-1 PUT x" {
			t.Errorf("PUT after the election: %s", got)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the held write was not forwarded")
	}
}

// A leader that takes the request and dies before it answers may have applied it: the
// gateway answers 502 (outcome unknown) and does not send it again.
func TestWriteOutcomeUnknownNotResent(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		_, _ = io.ReadAll(r.Body)
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close() // die without an answer
		}
	}))
	t.Cleanup(srv.Close)
	host, port, _ := net.SplitHostPort(strings.TrimPrefix(srv.URL, "http://"))
	p, _ := strconv.Atoi(port)
	dying := Backend{ID: "node-1", Address: host, Port: p, Leader: true}
	pool := &staticPool{down: map[string]bool{}, backends: []Backend{dying}}
	gw := gatewayWith(t, pool, proxyConfig{writeWait: 5 * time.Second, writeQueue: 16})
	code, body, _ := send(t, gw, http.MethodPost, "book")
	if code != http.StatusBadGateway || !strings.Contains(body, "outcome unknown") || !strings.Contains(body, "node-1") {
		t.Errorf("POST to a leader that died mid-request: %d %q; want 502 outcome unknown", code, body)
	}
	if n := hits.Load(); n != 1 {
		t.Errorf("the leader saw the write %d times, want once", n)
	}
}

// When as many writes as the queue holds are waiting, the next one is answered 503 at once.
func TestWriteQueueFull(t *testing.T) {
	pool := &staticPool{down: map[string]bool{}, backends: []Backend{backend(t, "node-1", false)}}
	waiting := make(chan struct{}, 16)
	gw := gatewayWith(t, pool, proxyConfig{writeWait: 30 * time.Second, writeQueue: 1, onWriteWait: func() { waiting <- struct{}{} }})
	held := make(chan string, 1)
	go func() {
		code, body, _ := send(t, gw, http.MethodPost, "first")
		held <- fmt.Sprint(code, " ", body)
	}()
	awaitSignal(t, waiting, "the first write to take the queue's only slot")
	if code, body, _ := send(t, gw, http.MethodPost, "second"); code != http.StatusServiceUnavailable || !strings.Contains(body, "queue is full") {
		t.Errorf("second POST: %d %q; want 503 saying the queue is full", code, body)
	}
	pool.set(backend(t, "node-1", true))
	if got := <-held; got != "200 node-1 POST first" {
		t.Errorf("first POST after the election: %s", got)
	}
}

// awaitSignal waits up to 20 s for a signal on ch.
func awaitSignal(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(20 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
}

// The status JSON counts requests per instance and records the last failover, from the
// first refused write to the moment the gateway saw the new leader.
func TestStatusPage(t *testing.T) {
	dead := deadBackend(t, "node-1", true)
	pool := &staticPool{down: map[string]bool{}, backends: []Backend{dead, backend(t, "node-2", false)}}
	waiting := make(chan struct{}, 16)
	gw := gatewayWith(t, pool, proxyConfig{writeWait: 30 * time.Second, writeQueue: 16, onWriteWait: func() { waiting <- struct{}{} }})
	if code, _, _ := send(t, gw, http.MethodGet, ""); code != 200 {
		t.Fatalf("GET: %d", code)
	}
	done := make(chan int, 1)
	go func() {
		code, _, _ := send(t, gw, http.MethodPost, "w")
		done <- code
	}()
	awaitSignal(t, waiting, "the write to wait after the leader refused it")
	st := statusOf(t, gw)
	if st.HeldWrites != 1 || st.LastFailover != nil || st.Leader != "node-1" {
		t.Errorf("while the write is held: %+v; want 1 held write, leader node-1, no failover yet", st)
	}
	pool.set(backend(t, "node-2", true))
	if code := <-done; code != 200 {
		t.Fatalf("held write: %d", code)
	}
	st = statusOf(t, gw)
	if f := st.LastFailover; f == nil || f.From != "node-1" || f.To != "node-2" || f.Millis < 0 {
		t.Errorf("last failover = %+v, want node-1 -> node-2", f)
	}
	if len(st.Instances) != 1 || st.Instances[0].ID != "node-2" || st.Instances[0].Writes != 1 || st.Instances[0].Reads+st.Instances[0].Writes < 1 {
		t.Errorf("instances = %+v, want node-2 with its write counted", st.Instances)
	}
	resp, err := gw.Client().Get(gw.URL + "/_status")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(page), `fetch(location.pathname + ".json"`) {
		t.Errorf("/_status: %d, %d bytes; want the page that polls its JSON", resp.StatusCode, len(page))
	}
}

func statusOf(t *testing.T, gw *httptest.Server) statusPage {
	t.Helper()
	resp, err := gw.Client().Get(gw.URL + "/_status.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st statusPage
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	return st
}
