//go:build linux

package netpoller

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/cloudwego/netpoll"

	"github.com/reactorlab/reactor/protocols/echo"
	"github.com/reactorlab/reactor/reactor"
	"github.com/reactorlab/reactor/reactor/reactortest"
)

// netpoll has no loop a dialed connection could share with the one that dialed it: each
// connection's callbacks run on pooled goroutines, one at a time, so a pair's may overlap.
func TestConformance(t *testing.T) { reactortest.Run(t, New, reactortest.GoroutinePerConn()) }

func TestInfo(t *testing.T) {
	info := Info()
	if info.Name != "netpoll" || !info.Available || info.Model == "" || info.Progression == "" {
		t.Errorf("Info() = %+v; want name netpoll, available, with a model and a progression step", info)
	}
}

// TestUnsupported: every option listed as unsupported makes New fail with ErrNotSupported.
func TestUnsupported(t *testing.T) {
	set := map[string]reactor.Config{
		"EdgeTriggered":  {EdgeTriggered: true},
		"ReadBufferSize": {ReadBufferSize: 4096},
	}
	for _, name := range Info().Unsupported {
		if strings.Contains(name, " ") {
			continue // a contract point under a condition, not an option New refuses
		}
		cfg, ok := set[name]
		if !ok {
			t.Errorf("Unsupported lists %q, which this test does not know how to set", name)
			continue
		}
		if _, err := New(cfg); !errors.Is(err, reactor.ErrNotSupported) {
			t.Errorf("New with %s: %v; want ErrNotSupported", name, err)
		}
		delete(set, name)
	}
	for name := range set {
		t.Errorf("%s is rejected by nothing in Unsupported", name)
	}
}

// TestTwoServersOneProcess: netpoll's pollers are process-wide. Two backends with different
// loop counts serve side by side, and shutting one down leaves the other serving.
func TestTwoServersOneProcess(t *testing.T) {
	a, err := New(reactor.Config{Loops: 1})
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(reactor.Config{Loops: 3})
	if err != nil {
		t.Fatal(err)
	}
	addrA, err := a.Start(echo.Handler{})
	if err != nil {
		t.Fatal(err)
	}
	addrB, err := b.Start(echo.Handler{})
	if err != nil {
		t.Fatal(err)
	}
	reactortest.EchoMany(t, addrA.String(), 8, 64<<10)
	reactortest.EchoMany(t, addrB.String(), 8, 64<<10)
	reactortest.Stop(t, a)
	reactortest.EchoMany(t, addrB.String(), 8, 64<<10)
	reactortest.Stop(t, b)
}

// TestSlowReaderPacesItsOwnReplies: a peer that sends far more than MaxOutbound of echo
// traffic but reads slowly is served completely: its own replies pause the processing of its
// input instead of tripping the outbound limit. (MaxInbound is large: the whole 4 MiB may sit
// in netpoll's buffer while the handler waits.)
func TestSlowReaderPacesItsOwnReplies(t *testing.T) {
	b, err := New(reactor.Config{Loops: 1, MaxOutbound: 256 << 10, MaxInbound: 8 << 20})
	if err != nil {
		t.Fatal(err)
	}
	addr, err := b.Start(echo.Handler{})
	if err != nil {
		t.Fatal(err)
	}
	defer reactortest.Stop(t, b)
	c, err := net.Dial("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	const size = 4 << 20
	data := make([]byte, size)
	rand.New(rand.NewSource(1)).Read(data)
	go c.Write(data)
	got := make([]byte, 0, size)
	buf := make([]byte, 32<<10)
	for len(got) < size {
		time.Sleep(time.Millisecond) // a slow reader
		n, err := c.Read(buf)
		if err != nil {
			t.Fatalf("after %d of %d bytes: %v", len(got), size, err)
		}
		got = append(got, buf[:n]...)
	}
	if !bytes.Equal(got, data) {
		t.Fatal("echo differs from what was sent")
	}
}

// TestSteadyStateAllocs pins the request path: a 64-byte echo round trip through the adapter
// allocates no more than the same round trip through a minimal echo written on netpoll's own
// API. (netpoll itself allocates a task closure each time input wakes a connection.)
func TestSteadyStateAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under -race (sync.Pool drops items)")
	}
	raw := allocsPerEcho(t, startRawEcho(t))
	b, err := New(reactor.Config{Loops: 1})
	if err != nil {
		t.Fatal(err)
	}
	addr, err := b.Start(echo.Handler{})
	if err != nil {
		t.Fatal(err)
	}
	defer reactortest.Stop(t, b)
	got := allocsPerEcho(t, addr.String())
	if got > raw+0.05 {
		t.Errorf("%.2f allocations per echo round trip through the adapter; netpoll alone makes %.2f", got, raw)
	}
}

// startRawEcho serves echo straight on netpoll until the test ends.
func startRawEcho(t *testing.T) string {
	t.Helper()
	ln, err := netpoll.CreateListener("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	evl, err := netpoll.NewEventLoop(func(_ context.Context, c netpoll.Connection) error {
		r, w := c.Reader(), c.Writer()
		in, err := r.Next(r.Len())
		if err != nil {
			return err
		}
		out, err := w.Malloc(len(in))
		if err != nil {
			return err
		}
		copy(out, in)
		r.Release()
		return w.Flush()
	})
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan struct{})
	go func() {
		defer close(served)
		evl.Serve(ln)
	}()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		for {
			evl.Shutdown(ctx)
			select {
			case <-served:
				return
			case <-ctx.Done():
				t.Error("raw netpoll echo did not stop")
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	})
	return ln.Addr().String()
}

func allocsPerEcho(t *testing.T, addr string) float64 {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	msg, back := bytes.Repeat([]byte("x"), 64), make([]byte, 64)
	roundTrip := func() {
		if _, err := c.Write(msg); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(c, back); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 100; i++ {
		roundTrip()
	}
	return testing.AllocsPerRun(1000, roundTrip)
}
