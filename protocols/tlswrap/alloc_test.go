//go:build linux && !race

package tlswrap_test

import (
	"io"
	"runtime"
	"testing"

	"github.com/reactorlab/reactor/adapters/epoll"
	"github.com/reactorlab/reactor/protocols/echo"
	"github.com/reactorlab/reactor/protocols/tlswrap"
	"github.com/reactorlab/reactor/reactor"
	"github.com/reactorlab/reactor/reactor/reactortest"
)

// TestEchoAllocs pins the allocations of an established TLS connection's steady state: a
// 512-byte echo round trip over epoll, sealed and opened by the client's crypto/tls and by the
// wrapper, counted across the whole process (client and server loop alike). crypto/tls
// allocates each time it reads from its transport (readFromUntil's atLeastReader escapes to the
// heap): the server's read of the record, its read that finds no more ciphertext (the
// would-block that ends the wrapper's loop), and the client's read make the 3 a trip measured
// with go1.26 — a memory profile puts all of them in readFromUntil. The wrapper adds none, and
// one more a trip fails the test. (Not under -race, which allocates on its own.)
func TestEchoAllocs(t *testing.T) {
	_, addr := reactortest.Start(t, epoll.New, reactor.Config{Loops: 1}, wrap(t, echo.Handler{}, tlswrap.Config{}))
	c := dialTLS(t, addr, clientConfig(t))
	msg, got := make([]byte, 512), make([]byte, 512)
	trip := func() {
		if _, err := c.Write(msg); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(c, got); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 100; i++ {
		trip() // warm: pools, buffers
	}
	const trips = 500
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for i := 0; i < trips; i++ {
		trip()
	}
	runtime.ReadMemStats(&after)
	const perTrip = 3 // crypto/tls's own, client and server
	if n := after.Mallocs - before.Mallocs; n > perTrip*trips+trips/10 {
		t.Errorf("%d allocations in %d TLS echo round trips; want at most %d a trip, crypto/tls's own (plus one for every ten trips: the runtime's own)", n, trips, perTrip)
	}
}
