package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"sync"
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
}

func (rt *router) RoundTrip(req *http.Request) (*http.Response, error) {
	read := isRead(req.Method)
	// Only a request without a body can be sent again as it was.
	replayable := read && (req.Body == nil || req.Body == http.NoBody)
	var tried []string
	var lastErr error
	for attempt := 0; ; attempt++ {
		var b Backend
		var err error
		if read {
			b, err = rt.pool.Reader()
		} else {
			b, err = rt.pool.Writer()
		}
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
			resp.Header.Set("X-Gateway-Backend", b.ID)
			return resp, nil
		}
		if req.Context().Err() != nil {
			return nil, err // the client went away; not the instance's fault
		}
		rt.pool.NoteError(b)
		rt.log.Warn("instance failed", "id", b.ID, "addr", b.HostPort(), "method", req.Method, "err", err)
		role := "instance"
		if !read {
			role = "leader"
		}
		lastErr = fmt.Errorf("%s %s (%s) failed: %w", role, b.ID, b.HostPort(), unwrapURL(err))
		tried = append(tried, b.ID)
		if !replayable || attempt+1 >= rt.attempts {
			if len(tried) > 1 {
				return nil, &Unavailable{Reason: fmt.Sprintf("tried %d instances %v; last: %v", len(tried), tried, lastErr)}
			}
			return nil, &Unavailable{Reason: lastErr.Error()}
		}
	}
}

func unwrapURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// newProxy returns the gateway's handler: the reverse proxy plus the status endpoints under
// adminPrefix (e.g. "/_gateway/").
// A read is tried on up to readAttempts instances; backendTimeout bounds the wait for an
// instance's response headers (0: no bound).
func newProxy(pool Pool, log *slog.Logger, adminPrefix string, readAttempts int, backendTimeout time.Duration) http.Handler {
	transport := &http.Transport{
		Proxy: nil, // never send instance traffic through an HTTP_PROXY
		DialContext: (&net.Dialer{
			Timeout:   2 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		MaxIdleConns:          256,
		MaxIdleConnsPerHost:   64,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: backendTimeout,
		// Pass bodies through as they are: no gzip added on the way in, none removed on
		// the way out.
		DisableCompression: true,
	}
	rt := &router{pool: pool, transport: transport, log: log, attempts: max(1, readAttempts)}
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
	return mux
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
