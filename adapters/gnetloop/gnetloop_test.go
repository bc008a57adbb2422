//go:build linux

package gnetloop

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand"
	"net"
	"sync"
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
	if len(info.Unsupported) != 0 {
		t.Errorf("Unsupported = %v; want none: every Config option maps onto gnet", info.Unsupported)
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
			echoMany(t, addr.String(), 12, 256<<10)
			shutdown(t, b)
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
	shutdown(t, b)
}

// TestSteadyStateAllocs pins the request path: a 64-byte echo round trip allocates nothing
// in the server (or in the client's net.Conn) once warm.
func TestSteadyStateAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under -race (sync.Pool drops items)")
	}
	b, err := New(reactor.Config{Loops: 1})
	if err != nil {
		t.Fatal(err)
	}
	addr, err := b.Start(echo.Handler{})
	if err != nil {
		t.Fatal(err)
	}
	defer shutdown(t, b)
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
}

func echoMany(t *testing.T, addr string, conns, size int) {
	t.Helper()
	var wg sync.WaitGroup
	for i := 0; i < conns; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(20 * time.Second))
			data := make([]byte, size)
			rand.New(rand.NewSource(int64(i))).Read(data)
			go func() {
				for off := 0; off < len(data); off += 10000 {
					if _, err := c.Write(data[off:min(off+10000, len(data))]); err != nil {
						return
					}
				}
			}()
			got := make([]byte, size)
			if _, err := io.ReadFull(c, got); err != nil {
				t.Errorf("conn %d: %v", i, err)
				return
			}
			if !bytes.Equal(got, data) {
				t.Errorf("conn %d: echo differs from what was sent", i)
			}
		}()
	}
	wg.Wait()
}

func shutdown(t *testing.T, b reactor.Backend) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := b.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if err := b.Wait(); !errors.Is(err, reactor.ErrServerClosed) {
		t.Errorf("Wait = %v; want ErrServerClosed", err)
	}
}
