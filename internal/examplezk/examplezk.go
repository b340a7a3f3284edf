// Package examplezk gives the runnable Examples of the library's packages a real ZooKeeper
// without making the root module depend on the test harness: the address comes from the
// environment (ZKRECIPES_EXAMPLE_SERVERS), which `make test` sets by running the root
// module's tests under tests/cmd/withzk. Only _test.go files import it.
//
// Without that variable the Examples are not run (the unit tests still are), unless
// ZK_TEST_REQUIRE is set, as CI sets it: then the test binary fails, so a CI without
// ZooKeeper fails instead of passing with its Examples silently left out.
package examplezk

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

const (
	envServers = "ZKRECIPES_EXAMPLE_SERVERS"
	envRequire = "ZK_TEST_REQUIRE"
)

// Main runs the package's tests and Examples. When no ZooKeeper is configured it runs the
// tests alone (it sets -run to the tests and fuzz targets, unless -run was given), or, when
// ZK_TEST_REQUIRE is "1" or "true", exits with status 1 before running anything.
func Main(m *testing.M) {
	if len(servers()) == 0 {
		if v := strings.ToLower(os.Getenv(envRequire)); v == "1" || v == "true" {
			fmt.Fprintf(os.Stderr, "examplezk: %s is empty and %s is set: the Examples need ZooKeeper "+
				"(run the tests through `make test`, or tests/cmd/withzk)\n", envServers, envRequire)
			os.Exit(1)
		}
		flag.Parse()
		if f := flag.Lookup("test.run"); f != nil && f.Value.String() == "" {
			fmt.Fprintf(os.Stderr, "examplezk: %s is empty: running the unit tests without the Examples\n", envServers)
			_ = f.Value.Set("^(Test|Fuzz)")
		}
	}
	os.Exit(m.Run())
}

// Servers is the ZooKeeper the Examples connect to. In your code this is your ensemble's
// connect string. It panics when none is configured (Main keeps Examples from running then).
func Servers() []string {
	s := servers()
	if len(s) == 0 {
		panic("examples need ZooKeeper: " + envServers + " is empty")
	}
	return s
}

func servers() []string {
	var out []string
	for _, s := range strings.Split(os.Getenv(envServers), ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

var seq atomic.Int64

// Namespace returns a namespace no other run uses, so Examples sharing one server (and
// repeated runs) stay apart.
func Namespace() string {
	return fmt.Sprintf("examples/%d-%d", time.Now().UnixNano(), seq.Add(1))
}
