package client_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/zkrecipes/zkrecipes"
	"github.com/zkrecipes/zkrecipes/tests/zktest"
)

// BenchmarkRoundTrip compares the Client's operations with raw go-zk calls on the same
// server and connection, side by side in one run: the ratio is the Client's overhead
// (context handling, retry wrapper, namespace mapping, error wrapping).
func BenchmarkRoundTrip(b *testing.B) {
	srv := zktest.Start(b)
	base := zktest.BasePath(b)
	c := connect(b, srv.Servers(), zkrecipes.WithSessionTimeout(4*time.Second))
	raw := c.Conn()
	bg := context.Background()
	ctx, cancel := context.WithCancel(bg)
	defer cancel()
	if _, err := c.Create(bg, base+"/node", []byte("data"), zkrecipes.ModePersistent, zkrecipes.WithParents()); err != nil {
		b.Fatal(err)
	}
	b.Run("get/raw", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if _, _, err := raw.Get(base + "/node"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("get/client-background", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if _, _, err := c.Get(bg, base+"/node"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("get/client-cancellable", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if _, _, err := c.Get(ctx, base+"/node"); err != nil {
				b.Fatal(err)
			}
		}
	})
	seq := 0 // sub-benchmarks run more than once; names must not repeat
	b.Run("create/raw", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			seq++
			if _, err := raw.Create(base+"/r"+strconv.Itoa(seq), nil, 0, zk.WorldACL(zk.PermAll)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("create/client", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			seq++
			if _, err := c.Create(ctx, base+"/c"+strconv.Itoa(seq), nil, zkrecipes.ModePersistent); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("create-protected-ephemeral-seq/client", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if _, err := c.CreateProtected(ctx, base+"/p/n-", nil, zkrecipes.ModeEphemeralSequential, zkrecipes.WithParents()); err != nil {
				b.Fatal(err)
			}
		}
	})
}
