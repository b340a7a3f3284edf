// Package promtest is test support for the Prometheus adapter's tests and the adapters'
// tests against real ZooKeeper. It is for tests only (its helpers take a testing.TB and
// fail the test).
package promtest

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// Lint reports an error for every problem testutil.GatherAndLint finds in reg's metrics.
func Lint(t testing.TB, reg *prometheus.Registry) {
	t.Helper()
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}
