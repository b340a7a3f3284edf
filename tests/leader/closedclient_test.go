package leader_test

import (
	"context"
	"errors"
	"testing"

	"github.com/zkrecipes/zkrecipes"
	"github.com/zkrecipes/zkrecipes/leader"
	"github.com/zkrecipes/zkrecipes/tests/internal/testkit"
	"github.com/zkrecipes/zkrecipes/tests/zktest"
)

// New and Run on a closed Client fail at once with an error that matches
// zkrecipes.ErrClosed.
func TestNewAndRunOnClosedClient(t *testing.T) {
	srv := zktest.Start(t)
	c := testkit.Connect(t, srv.Servers(), testkit.Namespace(t))
	if err := c.Close(testkit.Ctx(t)); err != nil {
		t.Fatal(err)
	}
	if l, err := leader.New(c, "/e"); !errors.Is(err, zkrecipes.ErrClosed) || l != nil {
		t.Errorf("New on a closed client = %v, %v; want ErrClosed", l, err)
	}
	err := leader.Run(testkit.Ctx(t), c, "/e", "a", func(context.Context, leader.Term) error {
		t.Error("fn ran on a closed client")
		return nil
	})
	if !errors.Is(err, zkrecipes.ErrClosed) {
		t.Errorf("Run on a closed client = %v; want ErrClosed", err)
	}
	// Bad arguments are reported along with it.
	if _, err := leader.New(c, "rel"); !errors.Is(err, zkrecipes.ErrClosed) || !errors.Is(err, leader.ErrInvalidOption) {
		t.Errorf("New(closed client, bad path) = %v; want ErrClosed and ErrInvalidOption", err)
	}
}
