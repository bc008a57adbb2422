package reactortest

import (
	"bytes"
	"sync/atomic"
	"testing"
	"time"

	"github.com/reactorlab/reactor/reactor"
)

// drainHandler writes drainSize bytes on every "g" it reads and records what Buffered says, and
// how often OnDrain comes and with what pending.
type drainHandler struct {
	reactor.NopHandler
	conns      chan reactor.Conn
	afterWrite atomic.Int64 // Buffered right after the last burst was written
	drains     atomic.Int32
	atDrain    atomic.Int64 // Buffered in the last OnDrain
}

const (
	drainLowWater = 16 << 10
	// drainSize is more than loopback's kernel buffers take from a peer that does not read (its
	// receive window stays small when nothing is read; the sender's buffer grows to 4 MiB).
	drainSize = 8 << 20
)

func (h *drainHandler) OnOpen(c reactor.Conn) { h.conns <- c }

func (h *drainHandler) OnData(c reactor.Conn, in []byte) (int, reactor.Action) {
	chunk := bytes.Repeat([]byte("drained!"), 8<<10)
	for _, b := range in {
		if b != 'g' {
			c.Write([]byte{b}) // a small echo: never above the low-water mark
			continue
		}
		for off := 0; off < drainSize; off += len(chunk) {
			c.Write(chunk)
		}
		h.afterWrite.Store(int64(c.Buffered()))
	}
	return len(in), reactor.None
}

func (h *drainHandler) OnDrain(c reactor.Conn) {
	h.atDrain.Store(int64(c.Buffered()))
	h.drains.Add(1)
}

// testDrain: Buffered counts output not yet taken by the kernel, and OnDrain comes, on the
// owner, once each time it falls to Config.LowWater from above, and never for output that
// never rose above it.
func (s *suite) testDrain(t *testing.T) {
	const rounds = 2
	h := &drainHandler{conns: make(chan reactor.Conn, 1)}
	oc := NewOrderChecker(h)
	srv := s.start(t, reactor.Config{LowWater: drainLowWater, MaxOutbound: 4 * drainSize}, oc)
	c := srv.dial(t)
	// A small, fixed receive buffer: left to itself the kernel grows it after the first round
	// (tcp_rmem's maximum can be tens of MiB) until it takes most of a round's burst, and the
	// output would no longer stay pending while the peer does not read.
	c.SetReadBuffer(64 << 10)
	sc := serverConn(t, h.conns)

	// Small output, taken by the kernel at once: no OnDrain.
	c.Write([]byte("small"))
	readFull(t, c, len("small"))
	time.Sleep(50 * time.Millisecond)
	if n := h.drains.Load(); n != 0 {
		t.Errorf("OnDrain called %d times for output that never rose above the low-water mark; want none", n)
	}

	want := bytes.Repeat([]byte("drained!"), drainSize/8)
	for r := 1; r <= rounds; r++ {
		c.Write([]byte("g"))
		// The peer does not read: the output stays pending above the mark.
		if !eventually(ioTimeout, func() bool { return h.afterWrite.Load() > 0 }) {
			t.Fatalf("round %d: the burst was not written within %v", r, ioTimeout)
		}
		if n := h.afterWrite.Load(); n <= drainLowWater {
			t.Errorf("round %d: Buffered right after writing %d bytes in a callback = %d; want > %d (the low-water mark)", r, drainSize, n, drainLowWater)
		}
		time.Sleep(200 * time.Millisecond)
		if n := sc.Buffered(); n <= drainLowWater {
			t.Errorf("round %d: Buffered from another goroutine, the peer not reading = %d; want > %d", r, n, drainLowWater)
		}
		if n := h.drains.Load(); n != int32(r-1) {
			t.Errorf("round %d: OnDrain called before the peer read; %d calls, want %d", r, n, r-1)
		}
		h.afterWrite.Store(0)

		// The peer reads everything: the pending output falls, and OnDrain comes.
		got := readFull(t, c, drainSize)
		if !bytes.Equal(got, want) {
			t.Fatalf("round %d: the %d bytes read differ from those written", r, len(got))
		}
		if !eventually(ioTimeout, func() bool { return h.drains.Load() >= int32(r) }) {
			t.Fatalf("round %d: no OnDrain within %v of the peer reading everything", r, ioTimeout)
		}
		if n := h.atDrain.Load(); n > drainLowWater {
			t.Errorf("round %d: Buffered in OnDrain = %d; want ≤ %d (the low-water mark)", r, n, drainLowWater)
		}
		time.Sleep(50 * time.Millisecond)
		if n := h.drains.Load(); n != int32(r) {
			t.Errorf("round %d: OnDrain called %d times in all; want %d, once per fall", r, n, r)
		}
		if n := sc.Buffered(); n > drainLowWater {
			t.Errorf("round %d: Buffered after OnDrain = %d; want ≤ %d", r, n, drainLowWater)
		}
	}
	c.Close()
	srv.shutdown()
	oc.Check(t)
}
