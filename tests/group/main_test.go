package group_test

import (
	"testing"

	"github.com/zkrecipes/zkrecipes/tests/zktest"
)

func TestMain(m *testing.M) { zktest.Main(m) }
