package zkrecipes_test

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zkrecipes/zkrecipes/internal/zktest"
)

func TestMain(m *testing.M) { zktest.Main(m) }

// exampleServers gives the runnable Examples a real ZooKeeper: the package's shared test
// server. In your code this is your ensemble's connect string.
func exampleServers() []string {
	srv, err := zktest.SharedServer()
	if err != nil {
		panic("examples need ZooKeeper: " + err.Error())
	}
	return srv.Servers()
}

var exampleSeq atomic.Int64

// exampleNamespace keeps each Example's nodes apart from other runs.
func exampleNamespace() string {
	return fmt.Sprintf("examples/%d-%d", time.Now().UnixNano(), exampleSeq.Add(1))
}
