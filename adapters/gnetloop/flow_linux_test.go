//go:build linux

package gnetloop

import (
	"errors"
	"net"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/reactorlab/reactor/reactor"
	"github.com/reactorlab/reactor/reactor/reactortest"
)

// pausing pauses every connection as it opens, or once OnData has seen pauseAt bytes, and
// checks that the bytes it is given follow
// the pattern patternByte makes.
type pausing struct {
	reactor.NopHandler
	conns   chan reactor.Conn
	got     atomic.Int64 // bytes seen by OnData, written by the loop
	bad     int          // loop only: the first offset out of pattern, or -1
	pauseAt int          // 0: pause in OnOpen
	paused  bool         // loop only
}

func patternByte(i int) byte { return byte(i % 251) }

func (h *pausing) OnOpen(c reactor.Conn) {
	if h.pauseAt == 0 {
		c.PauseRead()
		c.PauseRead() // idempotent
		h.paused = true
	}
	h.conns <- c
}

func (h *pausing) OnData(c reactor.Conn, in []byte) (int, reactor.Action) {
	got := int(h.got.Load())
	for i, b := range in {
		if b != patternByte(got+i) && h.bad < 0 {
			h.bad = got + i
		}
	}
	if h.got.Add(int64(len(in))) >= int64(h.pauseAt) && !h.paused {
		c.PauseRead()
		h.paused = true
	}
	return len(in), reactor.None
}

// TestPauseRead: a paused connection stops reading its socket, in either of gnet's trigger
// modes. The peer's writes block once the kernel's buffers are full, the server holds no more
// than a read or a read burst of the input, and OnData is not called; after ResumeRead every
// byte arrives, in order.
func TestPauseRead(t *testing.T) {
	t.Run("OnOpen", func(t *testing.T) { testPauseRead(t, false, 0) })
	t.Run("OnData", func(t *testing.T) { testPauseRead(t, false, 1<<20) })
}

// pauseOnOpen pauses every connection as it opens and reports how each closed.
type pauseOnOpen struct {
	reactor.NopHandler
	closed chan error
}

func (h *pauseOnOpen) OnOpen(c reactor.Conn)             { c.PauseRead() }
func (h *pauseOnOpen) OnClose(_ reactor.Conn, err error) { h.closed <- err }

// TestPauseReadEdgeTriggered: gnet's edge-triggered reader re-triggers itself until the socket
// is empty, so a pause cannot hold; PauseRead says so by aborting with ErrNotSupported.
func TestPauseReadEdgeTriggered(t *testing.T) {
	h := &pauseOnOpen{closed: make(chan error, 1)}
	b, addr := reactortest.Start(t, New, reactor.Config{Loops: 1, EdgeTriggered: true}, h)
	defer reactortest.Stop(t, b)
	// The abort may reach the client before its connect returns: the error is not the point.
	if c, err := net.Dial("tcp", addr); err == nil {
		defer c.Close()
	}
	select {
	case err := <-h.closed:
		if !errors.Is(err, reactor.ErrNotSupported) {
			t.Errorf("PauseRead in edge-triggered mode closed the connection with %v; want ErrNotSupported", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("PauseRead in edge-triggered mode neither paused honestly nor refused within 5s")
	}
}

func testPauseRead(t *testing.T, et bool, pauseAt int) {
	const total = 64 << 20
	h := &pausing{conns: make(chan reactor.Conn, 1), bad: -1, pauseAt: pauseAt}
	cfg := reactor.Config{Loops: 1, EdgeTriggered: et, MaxInbound: 32 << 20}
	b, addr := reactortest.Start(t, New, cfg, h)
	defer reactortest.Stop(t, b)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sc := <-h.conns

	data := make([]byte, total)
	for i := range data {
		data[i] = patternByte(i)
	}
	// The peer writes until the kernel's buffers are full and its write stalls.
	c.SetWriteDeadline(time.Now().Add(time.Second))
	sent, err := c.Write(data)
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("the peer wrote %d of %d bytes (%v); want its write to stall on a paused connection", sent, total, err)
	}
	type state struct{ got, held int }
	onLoop := func(f func(reactor.Conn) state) state {
		ch := make(chan state, 1)
		if err := sc.Post(func(c reactor.Conn) { ch <- f(c) }); err != nil {
			t.Fatalf("Post: %v", err)
		}
		return <-ch
	}
	st := onLoop(func(c reactor.Conn) state { return state{int(h.got.Load()), c.(*conn).gc.InboundBuffered()} })
	t.Logf("paused: the peer wrote %d bytes before stalling; the server holds %d", sent, st.held)
	if st.got < pauseAt || st.got >= pauseAt+reactor.DefaultReadBufferSize {
		t.Errorf("OnData saw %d bytes; want the %d before the pause and less than a read more", st.got, pauseAt)
	}
	// Level-triggered, gnet reads nothing once paused. Edge-triggered, the burst gnet began on
	// the connection's first event ends when the socket runs dry, at most a few reads later.
	if limit := 4 * reactor.DefaultReadBufferSize; !et && st.held > 0 || et && st.held > limit {
		t.Errorf("the server holds %d bytes read while paused; want %d at most", st.held, map[bool]int{false: 0, true: limit}[et])
	}

	onLoop(func(c reactor.Conn) state { c.ResumeRead(); c.ResumeRead(); return state{} })
	c.SetWriteDeadline(time.Now().Add(20 * time.Second))
	if _, err := c.Write(data[sent:]); err != nil {
		t.Fatalf("writing the rest after ResumeRead: %v", err)
	}
	for deadline := time.Now().Add(20 * time.Second); h.got.Load() < total; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("OnData saw %d of %d bytes after ResumeRead", h.got.Load(), total)
		}
	}
	if st := onLoop(func(reactor.Conn) state { return state{got: h.bad} }); st.got >= 0 {
		t.Errorf("byte %d arrived out of order", st.got)
	}
}

// draining is a Drainer that writes a burst larger than LowWater when asked and reports its
// OnDrain calls with the pending output it saw.
type draining struct {
	reactor.NopHandler
	conns  chan reactor.Conn
	drains chan int
}

func (h *draining) OnOpen(c reactor.Conn) { h.conns <- c }
func (h *draining) OnDrain(c reactor.Conn) {
	h.drains <- c.Buffered()
}

// TestDrain: output far above LowWater, held back by a peer that does not read, is reported
// by Buffered; OnDrain comes once the peer has read enough for it to fall to LowWater, and not
// before.
func TestDrain(t *testing.T) {
	const burst, lowWater = 8 << 20, 64 << 10
	h := &draining{conns: make(chan reactor.Conn, 1), drains: make(chan int, 4)}
	b, addr := reactortest.Start(t, New, reactor.Config{Loops: 1, LowWater: lowWater, MaxOutbound: 2 * burst}, h)
	defer reactortest.Stop(t, b)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sc := <-h.conns
	if err := sc.AsyncWrite(make([]byte, burst)); err != nil {
		t.Fatal(err)
	}
	if n := sc.Buffered(); n <= lowWater {
		t.Errorf("Buffered() = %d right after an AsyncWrite of %d; want more than LowWater %d", n, burst, lowWater)
	}
	select {
	case n := <-h.drains:
		t.Fatalf("OnDrain (Buffered %d) while the peer has read nothing", n)
	case <-time.After(200 * time.Millisecond):
	}
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	buf := make([]byte, 64<<10)
	for read := 0; read < burst; {
		n, err := c.Read(buf)
		if err != nil {
			t.Fatalf("read %d of %d bytes: %v", read, burst, err)
		}
		read += n
	}
	select {
	case n := <-h.drains:
		if n > lowWater {
			t.Errorf("OnDrain saw Buffered() = %d; want at most LowWater %d", n, lowWater)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no OnDrain after the peer read everything")
	}
	select {
	case n := <-h.drains:
		t.Errorf("a second OnDrain (Buffered %d) without output above LowWater in between", n)
	case <-time.After(100 * time.Millisecond):
	}
}
