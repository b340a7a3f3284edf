package client_test

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zkrecipes/zkrecipes/tests/zktest"
)

func TestMain(m *testing.M) { zktest.Main(m) }

var exampleSeq atomic.Int64

// exampleNamespace keeps each test's nodes apart from other runs.
func exampleNamespace() string {
	return fmt.Sprintf("examples/%d-%d", time.Now().UnixNano(), exampleSeq.Add(1))
}
