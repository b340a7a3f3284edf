// Package oteltest is test support for the otel adapter: an OpenTelemetry SDK that keeps
// every span and metric in memory, with the adapter's hooks wired to it, and the reads
// the adapter's tests make of what it recorded. It is for tests only (its helpers take a
// testing.TB and fail the test).
package oteltest

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/zkrecipes/zkrecipes"
	zkotel "github.com/zkrecipes/zkrecipes/adapters/otel"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// Telemetry is an SDK that keeps everything in memory, and the adapter's hooks on it.
type Telemetry struct {
	Spans  *tracetest.SpanRecorder
	Reader *sdkmetric.ManualReader
	TP     *sdktrace.TracerProvider
	Hooks  zkrecipes.Hooks
}

// New returns a Telemetry whose providers shut down at cleanup, failing the test when
// the adapter's hooks cannot be made.
func New(t testing.TB) *Telemetry {
	t.Helper()
	tel := &Telemetry{Spans: tracetest.NewSpanRecorder(), Reader: sdkmetric.NewManualReader()}
	tel.TP = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(tel.Spans))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(tel.Reader))
	t.Cleanup(func() {
		_ = tel.TP.Shutdown(context.Background())
		_ = mp.Shutdown(context.Background())
	})
	var err error
	tel.Hooks, err = zkotel.NewHooks(zkotel.WithTracerProvider(tel.TP), zkotel.WithMeterProvider(mp))
	if err != nil {
		t.Fatal(err)
	}
	return tel
}

// Ended returns the spans ended so far whose name starts with prefix.
func (tel *Telemetry) Ended(prefix string) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, s := range tel.Spans.Ended() {
		if strings.HasPrefix(s.Name(), prefix) {
			out = append(out, s)
		}
	}
	return out
}

// Metric collects and returns the named metric's data (of the adapter's scope), nil
// when there is none.
func (tel *Telemetry) Metric(t testing.TB, name string) metricdata.Aggregation {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := tel.Reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	for _, sm := range rm.ScopeMetrics {
		if sm.Scope.Name != zkotel.ScopeName {
			continue
		}
		for _, m := range sm.Metrics {
			if m.Name == name {
				return m.Data
			}
		}
	}
	return nil
}

// Key renders an attribute set as "k=v,k=v" (sorted, as the set is).
func Key(s attribute.Set) string {
	var parts []string
	for _, kv := range s.ToSlice() {
		parts = append(parts, string(kv.Key)+"="+kv.Value.String())
	}
	return strings.Join(parts, ",")
}

// Counts returns a histogram's counts, or a sum's or gauge's values, by attribute set
// (rendered by Key).
func (tel *Telemetry) Counts(t testing.TB, name string) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	switch d := tel.Metric(t, name).(type) {
	case metricdata.Histogram[float64]:
		for _, dp := range d.DataPoints {
			out[Key(dp.Attributes)] = float64(dp.Count)
		}
	case metricdata.Sum[int64]:
		for _, dp := range d.DataPoints {
			out[Key(dp.Attributes)] = float64(dp.Value)
		}
	case metricdata.Gauge[int64]:
		for _, dp := range d.DataPoints {
			out[Key(dp.Attributes)] = float64(dp.Value)
		}
	case nil:
	default:
		t.Fatalf("%s: unexpected data %T", name, d)
	}
	return out
}

// ExpectCounts reports an error when the named metric's Counts are not want.
func (tel *Telemetry) ExpectCounts(t testing.TB, name string, want map[string]float64) {
	t.Helper()
	got := tel.Counts(t, name)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("%s:\n  got  %v\n  want %v", name, got, want)
	}
}

// Attrs returns a span's attributes as key -> value.
func Attrs(s sdktrace.ReadOnlySpan) map[string]string {
	out := map[string]string{}
	for _, kv := range s.Attributes() {
		out[string(kv.Key)] = kv.Value.String()
	}
	return out
}
