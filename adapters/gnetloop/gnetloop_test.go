//go:build linux

package gnetloop

import (
	"bytes"
	"errors"
	"io"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/reactorlab/reactor/protocols/echo"
	"github.com/reactorlab/reactor/reactor"
	"github.com/reactorlab/reactor/reactor/reactortest"
)

func TestConformance(t *testing.T) { reactortest.Run(t, New) }

func TestInfo(t *testing.T) {
	info := Info()
	if info.Name != "gnet" || !info.Available || info.Model == "" || info.Progression == "" {
		t.Errorf("Info() = %+v; want name gnet, available, with a model and a progression step", info)
	}
	if !slices.Contains(info.Unsupported, "PauseRead with EdgeTriggered") {
		t.Errorf("Unsupported = %v; want PauseRead with EdgeTriggered listed: gnet's edge-triggered reader empties the socket whatever the pause", info.Unsupported)
	}
	if len(info.Unsupported) != 1 {
		t.Errorf("Unsupported = %v; want only PauseRead with EdgeTriggered: every Config option maps onto gnet, and every other contract point is kept", info.Unsupported)
	}
}

func TestBadAddress(t *testing.T) {
	for _, addr := range []string{"nonsense", "127.0.0.1:99999", "127.0.0.1:port"} {
		if _, err := New(reactor.Config{Addr: addr}); err == nil {
			t.Errorf("New(Addr %q) = nil error; want one", addr)
		}
	}
}

// TestOptions runs byte-exact echo over several connections with each of gnet's switches
// that reactor.Config exposes, with port 0 (reuseport listeners must all share one port).
func TestOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  reactor.Config
	}{
		{"edge-triggered", reactor.Config{EdgeTriggered: true}},
		{"reuseport", reactor.Config{ReusePort: true}},
		{"reuseport+edge, 3 loops, small reads", reactor.Config{ReusePort: true, EdgeTriggered: true, Loops: 3, ReadBufferSize: 4 << 10}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			cfg.Addr = "127.0.0.1:0"
			if cfg.Loops == 0 {
				cfg.Loops = 2
			}
			b, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			addr, err := b.Start(echo.Handler{})
			if err != nil {
				t.Fatal(err)
			}
			if addr.(*net.TCPAddr).Port == 0 {
				t.Fatalf("Start returned %v; want the bound port", addr)
			}
			reactortest.EchoMany(t, addr.String(), 12, 256<<10)
			reactortest.Stop(t, b)
		})
	}
}

// TestStartTwice: a backend serves once.
func TestStartTwice(t *testing.T) {
	b, err := New(reactor.Config{Loops: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Start(echo.Handler{}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Start(echo.Handler{}); !errors.Is(err, reactor.ErrAlreadyStarted) {
		t.Errorf("second Start: %v; want ErrAlreadyStarted", err)
	}
	reactortest.Stop(t, b)
}

// TestSteadyStateAllocs pins the request path: a 64-byte echo round trip allocates nothing
// in the server (or in the client's net.Conn) once warm, also while the server counts
// (Config.Stats, what serve --metrics-addr turns on).
func TestSteadyStateAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under -race (sync.Pool drops items)")
	}
	t.Run("plain", func(t *testing.T) { steadyStateAllocs(t, nil) })
	t.Run("counting", func(t *testing.T) { steadyStateAllocs(t, new(reactor.Stats)) })
}

func steadyStateAllocs(t *testing.T, st *reactor.Stats) {
	b, err := New(reactor.Config{Loops: 1, Stats: st})
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
	if got := testing.AllocsPerRun(500, roundTrip); got >= 0.5 {
		t.Errorf("%.2f allocations per echo round trip; want 0", got)
	}
	if st == nil {
		return
	}
	// The loop counts what it sent as the write returns, which may be after the client read it.
	const want = 601 * 64
	if s := statsWithin(st, func(s reactor.StatsSnapshot) bool { return s.Sent == want }); s.Received != want || s.Sent != want {
		t.Errorf("received %d, sent %d; want %d each: 601 round trips of 64 bytes (AllocsPerRun makes one more to warm up)", s.Received, s.Sent, want)
	}
}
