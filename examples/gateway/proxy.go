package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/http/httputil"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Backend is one instance the gateway can send a request to.
type Backend struct {
	ID      string `json:"id"`
	Address string `json:"address"`
	Port    int    `json:"port"`
	Leader  bool   `json:"leader"`
}

// HostPort returns address:port.
func (b Backend) HostPort() string { return net.JoinHostPort(b.Address, strconv.Itoa(b.Port)) }

// Pool chooses backends; it is implemented over a discovery Cache and Providers in zk.go.
type Pool interface {
	// Reader returns the next instance for a read (round-robin over the enabled instances
	// that are not marked down), or an *Unavailable error.
	Reader() (Backend, error)
	// Writer returns the instance whose payload says it leads, or an *Unavailable error.
	Writer() (Backend, error)
	// NoteError reports that b failed to answer (the provider may mark it down).
	NoteError(b Backend)
	// Status describes what the pool sees, for the status endpoint.
	Status() PoolStatus
	// Changed returns a channel that is closed at the pool's next change (an instance
	// added, removed or updated, a new leader): a write waiting for a leader waits on it.
	Changed() <-chan struct{}
}

// PoolStatus is the gateway's view of the service.
type PoolStatus struct {
	Service   string    `json:"service"`
	Instances []Backend `json:"instances"` // every enabled instance, sorted by id
	Leader    string    `json:"leader"`    // id of the write target; "" when there is none
	Down      []string  `json:"down"`      // ids the provider has marked down
}

// Unavailable is a request the gateway cannot route; Reason goes into the 503 answer.
type Unavailable struct{ Reason string }

// Error returns the reason, which the gateway sends in its 503 answer.
func (u *Unavailable) Error() string { return u.Reason }

// OutcomeUnknown is a write that reached the leader, which then failed before it answered:
// the leader may or may not have applied it, so the gateway does not send it again and
// answers 502 with Reason.
type OutcomeUnknown struct{ Reason string }

// Error returns the reason, which the gateway sends in its 502 answer.
func (o *OutcomeUnknown) Error() string { return o.Reason }

// writePolicy is how the gateway carries writes over a failover.
type writePolicy struct {
	// wait is how long a write may wait for a leader (none, or the last one failed
	// before the write reached it) before the gateway answers 503.
	wait time.Duration
	// slots bounds the writes waiting at once; a write that finds it full is answered
	// 503 at once.
	slots chan struct{}
	// retryPause is how long a write waits before it tries a leader that refused it again
	// when the pool has not changed meanwhile (the refusal may have been a moment's).
	retryPause time.Duration
	// onWait, if set (by tests), runs each time a write starts waiting, holding its slot.
	onWait func()
}

// maxReplayBody is the largest request body the gateway keeps so that it can send a write
// again; a larger one is sent once, as it streams in.
const maxReplayBody = 1 << 20

// isRead reports whether a request goes round-robin to any instance; every other method
// goes to the leader.
func isRead(method string) bool { return method == http.MethodGet || method == http.MethodHead }

// router is the round tripper behind the reverse proxy: it picks the backend per attempt,
// so a read whose instance fails is retried on the next one.
type router struct {
	pool      Pool
	transport http.RoundTripper
	log       *slog.Logger
	attempts  int // most instances one read may try
	// writeTransport sends writes, each on a connection of its own: a pooled connection to
	// a leader that has just crashed fails only once the request is written (the outcome is
	// then unknown), while a new one is refused before anything is sent, so the write can
	// wait for the next leader instead.
	writeTransport http.RoundTripper
	writes         writePolicy
	track          *tracker
}

func (rt *router) RoundTrip(req *http.Request) (*http.Response, error) {
	if !isRead(req.Method) {
		return rt.write(req)
	}
	read := true
	// Only a request without a body can be sent again as it was.
	replayable := read && (req.Body == nil || req.Body == http.NoBody)
	var tried []string
	var lastErr error
	for attempt := 0; ; attempt++ {
		var b Backend
		var err error
		b, err = rt.pool.Reader()
		if err != nil {
			if lastErr != nil {
				return nil, &Unavailable{Reason: fmt.Sprintf("%v; before that: %v", err, lastErr)}
			}
			return nil, err
		}
		out := req.Clone(req.Context())
		out.URL.Scheme = "http"
		out.URL.Host = b.HostPort()
		out.Host = req.Host
		resp, err := rt.transport.RoundTrip(out)
		if err == nil {
			rt.track.count(b.ID, true, true)
			resp.Header.Set("X-Gateway-Backend", b.ID)
			return resp, nil
		}
		if req.Context().Err() != nil {
			return nil, err // the client went away; not the instance's fault
		}
		rt.track.count(b.ID, true, false)
		rt.track.leaderFailed(b.ID, time.Now())
		rt.pool.NoteError(b)
		rt.log.Warn("instance failed", "id", b.ID, "addr", b.HostPort(), "method", req.Method, "err", err)
		lastErr = fmt.Errorf("instance %s (%s) failed: %w", b.ID, b.HostPort(), unwrapURL(err))
		tried = append(tried, b.ID)
		if !replayable || attempt+1 >= rt.attempts {
			if len(tried) > 1 {
				return nil, &Unavailable{Reason: fmt.Sprintf("tried %d instances %v; last: %v", len(tried), tried, lastErr)}
			}
			return nil, &Unavailable{Reason: lastErr.Error()}
		}
	}
}

// write sends a request to the leader. While there is no leader, or when the leader it
// tried failed before the request reached it (the connection was refused, or nothing of
// the request was written), the write waits, in a bounded queue, for the pool to change
// and goes to the leader the pool names then; it is answered 503 when the wait runs out or
// the queue is full. Once any of the request may have reached a leader, it is never sent
// again: a failure then is an OutcomeUnknown (502). The leader is looked up again just
// before every attempt, so a write never goes to an instance the pool no longer names.
func (rt *router) write(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	deadline := time.NewTimer(rt.writes.wait)
	defer deadline.Stop()
	start := time.Now()

	body, replayable, err := bufferBody(req)
	if err != nil {
		return nil, err
	}
	queued := false
	defer func() {
		if queued {
			<-rt.writes.slots
		}
	}()
	// wait blocks until changed is closed (or, with pause, that long), the wait runs out
	// or the client goes away. why says what the write was waiting for.
	wait := func(changed <-chan struct{}, pause time.Duration, why string) error {
		if !queued {
			select {
			case rt.writes.slots <- struct{}{}:
				queued = true
			default:
				return &Unavailable{Reason: fmt.Sprintf("%d writes are already waiting for a leader (the queue is full); %s", cap(rt.writes.slots), why)}
			}
		}
		if rt.writes.onWait != nil {
			rt.writes.onWait()
		}
		var retry <-chan time.Time
		if pause > 0 {
			t := time.NewTimer(pause)
			defer t.Stop()
			retry = t.C
		}
		select {
		case <-changed:
			return nil
		case <-retry:
			return nil
		case <-deadline.C:
			return &Unavailable{Reason: fmt.Sprintf("no leader took the write within %v: %s", rt.writes.wait, why)}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	refused := "" // the leader that refused the write, until the pool changes
	for {
		changed := rt.pool.Changed() // before the look-up, so that no change is missed
		b, err := rt.pool.Writer()
		if err != nil {
			if err := wait(changed, 0, err.Error()); err != nil {
				return nil, err
			}
			refused = ""
			continue
		}
		if b.ID == refused {
			if err := wait(changed, rt.writes.retryPause, fmt.Sprintf("leader %s (%s) refused it", b.ID, b.HostPort())); err != nil {
				return nil, err
			}
			refused = ""
			continue
		}
		out := req.Clone(ctx)
		out.URL.Scheme = "http"
		out.URL.Host = b.HostPort()
		out.Host = req.Host
		if replayable {
			out.Body, out.GetBody = body()
		}
		var sent atomic.Bool
		out = out.WithContext(httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
			// Any byte of the request may reach the server once the transport has a
			// connection and begins to write; before that the request provably never left.
			WroteHeaderField: func(string, []string) { sent.Store(true) },
			WroteHeaders:     func() { sent.Store(true) },
		}))
		resp, err := rt.writeTransport.RoundTrip(out)
		if err == nil {
			rt.track.count(b.ID, false, true)
			resp.Header.Set("X-Gateway-Backend", b.ID)
			if waited := time.Since(start); queued {
				resp.Header.Set("X-Gateway-Write-Wait", waited.Round(time.Millisecond).String())
			}
			return resp, nil
		}
		if ctx.Err() != nil {
			return nil, err // the client went away; not the leader's fault
		}
		rt.track.count(b.ID, false, false)
		rt.track.leaderFailed(b.ID, time.Now())
		rt.pool.NoteError(b)
		cause := unwrapURL(err)
		if sent.Load() {
			rt.log.Warn("leader failed after the write was sent; not sending it again", "id", b.ID, "addr", b.HostPort(), "method", req.Method, "err", cause)
			return nil, &OutcomeUnknown{Reason: fmt.Sprintf("leader %s (%s) failed after the request was sent (%v): the write may or may not have been applied", b.ID, b.HostPort(), cause)}
		}
		if !replayable {
			return nil, &Unavailable{Reason: fmt.Sprintf("leader %s (%s) failed (%v) before the request reached it, and its body is too large to send again", b.ID, b.HostPort(), cause)}
		}
		rt.log.Info("leader refused the write before it was sent; waiting for a leader", "id", b.ID, "addr", b.HostPort(), "method", req.Method, "err", cause)
		refused = b.ID
	}
}

// bufferBody reads a request body of at most maxReplayBody bytes into memory, so that the
// write can be sent again; body returns a fresh reader of it each time. A larger body is
// left streaming (replayable false), with what was read put back in front.
func bufferBody(req *http.Request) (body func() (io.ReadCloser, func() (io.ReadCloser, error)), replayable bool, err error) {
	if req.Body == nil || req.Body == http.NoBody {
		return func() (io.ReadCloser, func() (io.ReadCloser, error)) {
			return http.NoBody, func() (io.ReadCloser, error) { return http.NoBody, nil }
		}, true, nil
	}
	data, err := io.ReadAll(io.LimitReader(req.Body, maxReplayBody+1))
	if err != nil {
		return nil, false, fmt.Errorf("reading the request body: %w", err)
	}
	if len(data) > maxReplayBody {
		req.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(data), req.Body), req.Body}
		return nil, false, nil
	}
	fresh := func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }
	return func() (io.ReadCloser, func() (io.ReadCloser, error)) {
		rc, _ := fresh()
		return rc, fresh
	}, true, nil
}

func unwrapURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// proxyConfig tunes newProxy.
type proxyConfig struct {
	adminPrefix    string        // path prefix of the status endpoints, e.g. "/_gateway/"
	readAttempts   int           // instances one read may try
	backendTimeout time.Duration // bound on an instance's response headers (0: none)
	writeWait      time.Duration // how long a write may wait for a leader
	writeQueue     int           // writes that may wait at once
	statusPath     string        // the live status page (HTML; its JSON at statusPath+".json"); "" for none
	onWriteWait    func()        // tests: see writePolicy.onWait
}

// gatewayHandler is the gateway's handler: the reverse proxy, the status endpoints under
// the admin prefix and the live status page. Close stops the status page's tracking.
type gatewayHandler struct {
	http.Handler
	track *tracker
}

// Close stops following the pool for the status page; the handler still serves.
func (g *gatewayHandler) Close() { g.track.Close() }

// newProxy returns the gateway's handler: the reverse proxy plus the status endpoints under
// cfg.adminPrefix and the status page at cfg.statusPath.
func newProxy(pool Pool, log *slog.Logger, cfg proxyConfig) *gatewayHandler {
	adminPrefix := cfg.adminPrefix
	transport := &http.Transport{
		Proxy: nil, // never send instance traffic through an HTTP_PROXY
		DialContext: (&net.Dialer{
			Timeout:   2 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		MaxIdleConns:          256,
		MaxIdleConnsPerHost:   64,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: cfg.backendTimeout,
		// Pass bodies through as they are: no gzip added on the way in, none removed on
		// the way out.
		DisableCompression: true,
	}
	writeTransport := transport.Clone()
	writeTransport.DisableKeepAlives = true
	rt := &router{pool: pool, transport: transport, writeTransport: writeTransport, log: log, attempts: max(1, cfg.readAttempts),
		writes: writePolicy{wait: cfg.writeWait, slots: make(chan struct{}, max(1, cfg.writeQueue)), retryPause: 250 * time.Millisecond, onWait: cfg.onWriteWait}}
	rt.track = newTracker(pool, func() int { return len(rt.writes.slots) })
	proxy := &httputil.ReverseProxy{
		// The router sets the destination per attempt.
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetXForwarded()
			pr.Out.URL.Scheme = "http"
			pr.Out.URL.Host = "backend.invalid"
			pr.Out.Host = pr.In.Host
		},
		Transport: rt,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			var u *Unavailable
			if errors.As(err, &u) {
				w.Header().Set("Retry-After", "1")
				http.Error(w, "gateway: "+u.Reason, http.StatusServiceUnavailable)
				return
			}
			var o *OutcomeUnknown
			if errors.As(err, &o) {
				http.Error(w, "gateway: outcome unknown: "+o.Reason, http.StatusBadGateway)
				return
			}
			if r.Context().Err() != nil {
				return // the client is gone; nobody reads this answer
			}
			log.Warn("proxy error", "method", r.Method, "path", r.URL.Path, "err", err)
			http.Error(w, "gateway: "+err.Error(), http.StatusBadGateway)
		},
		ErrorLog:   slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		BufferPool: &bufferPool{},
	}
	mux := http.NewServeMux()
	mux.Handle("/", proxy)
	mux.HandleFunc("GET "+adminPrefix+"status", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(pool.Status())
	})
	mux.HandleFunc("GET "+adminPrefix+"health", func(w http.ResponseWriter, r *http.Request) {
		st := pool.Status()
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		switch {
		case len(st.Instances) == 0:
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintf(w, "no instance of %s\n", st.Service)
		case st.Leader == "":
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintf(w, "%d instances of %s, no leader\n", len(st.Instances), st.Service)
		default:
			fmt.Fprintf(w, "%d instances of %s, leader %s\n", len(st.Instances), st.Service, st.Leader)
		}
	})
	if cfg.statusPath != "" {
		handleStatus(mux, cfg.statusPath, pool, rt.track)
	}
	return &gatewayHandler{Handler: mux, track: rt.track}
}

// bufferPool recycles the buffers that copy response bodies (32 KiB each), which the
// proxy would otherwise allocate per request.
type bufferPool struct{ p sync.Pool }

func (b *bufferPool) Get() []byte {
	if v, ok := b.p.Get().(*[]byte); ok {
		return *v
	}
	return make([]byte, 32<<10)
}

func (b *bufferPool) Put(buf []byte) { b.p.Put(&buf) }
