//go:build linux

package gnetloop

import (
	"errors"
	"io"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/reactorlab/reactor/reactor"
	"github.com/reactorlab/reactor/reactor/reactortest"
)

// modes are gnet's two trigger modes, which take different read and write paths.
var modes = []struct {
	name string
	cfg  reactor.Config
}{
	{"LevelTriggered", reactor.Config{Loops: 2}},
	{"EdgeTriggered", reactor.Config{Loops: 2, EdgeTriggered: true}},
}

// forModes runs f once for each trigger mode.
func forModes(t *testing.T, f func(t *testing.T, cfg reactor.Config)) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) { f(t, m.cfg) })
	}
}

// aborter writes a greeting as each connection opens, hands the connection to the test and,
// with inData set, aborts it from OnData after writing an answer that must never be sent.
type aborter struct {
	reactor.NopHandler
	greeting int
	inData   bool
	conns    chan reactor.Conn
	closed   chan error
}

func (h *aborter) OnOpen(c reactor.Conn) {
	c.Write([]byte(strings.Repeat("g", h.greeting)))
	h.conns <- c
}

func (h *aborter) OnData(c reactor.Conn, in []byte) (int, reactor.Action) {
	if h.inData {
		c.Write([]byte("never sent"))
		c.Abort(nil)
	}
	return len(in), reactor.None
}

func (h *aborter) OnClose(_ reactor.Conn, err error) { h.closed <- err }

// TestAbortResets: Abort ends the connection with a reset, which the peer reads as
// ECONNRESET rather than an end of stream — whether the handler aborts with a reply written in
// the same callback (which is dropped), or another goroutine aborts while gnet holds output
// the peer has not read.
func TestAbortResets(t *testing.T) {
	forModes(t, func(t *testing.T, cfg reactor.Config) {
		t.Run("InCallback", func(t *testing.T) {
			h := &aborter{inData: true, conns: make(chan reactor.Conn, 1), closed: make(chan error, 1)}
			b, addr := reactortest.Start(t, New, cfg, h)
			defer reactortest.Stop(t, b)
			c := reactortest.Dial(t, addr)
			<-h.conns
			c.Write([]byte("x"))
			got, err := io.ReadAll(c)
			if len(got) != 0 || !errors.Is(err, syscall.ECONNRESET) {
				t.Errorf("peer read %q, %v; want nothing, then ECONNRESET", got, err)
			}
			if err := <-h.closed; !errors.Is(err, reactor.ErrConnClosed) {
				t.Errorf("OnClose(%v); want ErrConnClosed for Abort(nil)", err)
			}
		})
		t.Run("FromAnotherGoroutine", func(t *testing.T) {
			const greeting = 8 << 20 // more than the socket buffers of a peer that does not read
			cfg.MaxOutbound = 2 * greeting
			h := &aborter{greeting: greeting, conns: make(chan reactor.Conn, 1), closed: make(chan error, 1)}
			b, addr := reactortest.Start(t, New, cfg, h)
			defer reactortest.Stop(t, b)
			c := reactortest.Dial(t, addr)
			sc := <-h.conns
			time.Sleep(50 * time.Millisecond) // let the kernel's buffers fill
			if sc.Buffered() == 0 {
				t.Fatalf("Buffered() = 0 with %d bytes written to a peer that does not read; the test needs output held", greeting)
			}
			cause := errors.New("test abort")
			sc.Abort(cause)
			if err := <-h.closed; err != cause {
				t.Errorf("OnClose(%v); want the Abort's cause", err)
			}
			got, err := io.ReadAll(c)
			if !errors.Is(err, syscall.ECONNRESET) || len(got) >= greeting {
				t.Errorf("peer read %d of %d bytes, then %v; want fewer, then ECONNRESET", len(got), greeting, err)
			}
		})
	})
}
