package e2e

import (
	"context"
	"io"
	"net/http"
	"testing"
	"time"
)

// BenchmarkGatewayOverhead measures, side by side in one run, a GET of the hello endpoint
// sent to an instance directly and the same GET through the gateway (which picks an
// instance round-robin). Both use one keep-alive client. Each iteration does one of each,
// so both see the same machine load; it reports both latencies, the overhead and the
// ratio gateway/direct.
func BenchmarkGatewayOverhead(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*deadline)
	defer cancel()
	e := start(b, ctx, 3)
	gw, err := e.cl.StartGateway(ctx, freePort(b))
	if err != nil {
		b.Fatal(err)
	}
	leader, err := e.cl.WaitLeader(ctx, e.nodes...)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := e.cl.WaitGateway(ctx, leader.ID, ids(e.nodes)...); err != nil {
		b.Fatal(err)
	}
	client := &http.Client{Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 4}}
	defer client.CloseIdleConnections()
	get := func(url string) {
		resp, err := client.Get(url)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("GET %s: %d", url, resp.StatusCode)
		}
	}
	direct, via := e.nodes[0].URL(hello), gw.URL(hello)
	for range 200 { // warm up connections and both processes
		get(direct)
		get(via)
	}
	var dDirect, dGateway time.Duration
	for i := 0; b.Loop(); i++ {
		// Alternate the order so neither side always runs right after the other.
		if i%2 == 0 {
			t := time.Now()
			get(direct)
			dDirect += time.Since(t)
			t = time.Now()
			get(via)
			dGateway += time.Since(t)
		} else {
			t := time.Now()
			get(via)
			dGateway += time.Since(t)
			t = time.Now()
			get(direct)
			dDirect += time.Since(t)
		}
	}
	n := float64(b.N)
	b.ReportMetric(float64(dDirect.Microseconds())/n, "direct-µs/req")
	b.ReportMetric(float64(dGateway.Microseconds())/n, "gateway-µs/req")
	b.ReportMetric(float64((dGateway-dDirect).Microseconds())/n, "overhead-µs/req")
	b.ReportMetric(float64(dGateway)/float64(dDirect), "ratio")
}
