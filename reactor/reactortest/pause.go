package reactortest

import (
	"errors"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/reactorlab/reactor/reactor"
)

// pauseHeapBound is how much the heap may grow while a paused connection's peer sends 8 MiB:
// 1 MiB, plus two default read buffers for a backend that holds one per connection and one
// per loop. Client and server share the process, so it covers both; the peer's data is
// allocated before the first measurement and its writes block in the kernel. Measured: 7 KiB
// on std. A backend that kept reading into its inbound buffer would grow by the megabytes the
// peer got into the kernel (MaxInbound is raised to 16 MiB so that it is not closed instead).
const pauseHeapBound = 1<<20 + 2*reactor.DefaultReadBufferSize

// testPauseRead: PauseRead stops OnData while the peer keeps sending, the server's memory stays
// flat, and ResumeRead delivers every byte in order; a paused connection still closes on a
// reset.
func (s *suite) testPauseRead(t *testing.T) {
	t.Run("InOnOpen", func(t *testing.T) { s.testPauseFlat(t, false) })
	t.Run("AfterFirstBytes", func(t *testing.T) { s.testPauseFlat(t, true) })
	t.Run("ResetWhilePaused", s.testPauseReset)
}

// patternAt is the byte at offset n of the stream the peer sends: a period of 251, prime, so a
// chunk delivered twice, lost or out of place shows.
func patternAt(n int) byte { return byte(n % 251) }

// testPauseFlat: the handler pauses in OnOpen, or in OnData once the first bytes came; the peer
// sends 8 MiB and blocks once the windows fill. While paused, OnData is never called and the
// heap stays within pauseHeapBound. A function posted from the test's goroutine resumes; every
// byte then arrives, in order, and the peer's writes complete.
func (s *suite) testPauseFlat(t *testing.T, afterFirst bool) {
	const size, first = 8 << 20, 1000
	var paused atomic.Bool
	var calledPaused, received atomic.Int64
	var badAt atomic.Int64
	badAt.Store(-1)
	pos, pausedOnce := 0, false // the owner's only
	var oc *OrderChecker
	oc, conns := openedConns(1, func(c reactor.Conn, in []byte) (int, reactor.Action) {
		if paused.Load() {
			calledPaused.Add(1)
		}
		for i, b := range in {
			if b != patternAt(pos+i) && badAt.Load() < 0 {
				badAt.Store(int64(pos + i))
			}
		}
		pos += len(in)
		received.Store(int64(pos))
		if afterFirst && pos >= first && !pausedOnce {
			pausedOnce = true
			paused.Store(true)
			c.PauseRead()
		}
		return len(in), reactor.None
	})
	if !afterFirst {
		inner := oc.inner.(funcHandler)
		open := inner.open
		inner.open = func(c reactor.Conn) {
			paused.Store(true)
			c.PauseRead()
			open(c)
		}
		oc.inner = inner
	}
	srv := s.start(t, reactor.Config{MaxInbound: 16 << 20}, oc)

	data := make([]byte, size)
	for i := range data {
		data[i] = patternAt(i)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)

	c := srv.dial(t)
	sc := serverConn(t, conns)
	var sent atomic.Int64
	wrote := make(chan error, 1)
	go func() {
		// Ends when all is written, or at the write deadline ioTimeout sets.
		var err error
		if afterFirst {
			_, err = c.Write(data[:first])
			sent.Add(first)
			if err == nil && !eventually(ioTimeout, paused.Load) {
				err = errors.New("the handler did not pause after the first bytes")
			}
		}
		for off := int(sent.Load()); off < size && err == nil; {
			var n int
			n, err = c.Write(data[off:min(off+64<<10, size)])
			off += n
			sent.Add(int64(n))
		}
		wrote <- err
	}()

	// Wait for the peer to be held up: nothing more goes into the kernel for 200ms.
	stalled := func() bool {
		n := sent.Load()
		time.Sleep(200 * time.Millisecond)
		return sent.Load() == n
	}
	if !eventually(ioTimeout, stalled) {
		t.Fatalf("the peer kept sending for %v to a paused connection", ioTimeout)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	grew := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("paused: the peer got %d of %d bytes into the kernel, then stalled; heap grew by %d KiB", sent.Load(), size, grew>>10)
	if grew > pauseHeapBound {
		t.Errorf("heap grew by %d KiB while the connection was paused; want ≤ %d KiB", grew>>10, pauseHeapBound>>10)
	}
	if n := calledPaused.Load(); n != 0 {
		t.Errorf("OnData called %d times while paused; want none", n)
	}
	want := int64(0)
	if afterFirst {
		want = first
	}
	if got := received.Load(); got != want {
		t.Errorf("OnData saw %d bytes before resuming; want %d, those before the pause", got, want)
	}

	if err := sc.Post(func(c reactor.Conn) {
		paused.Store(false)
		c.ResumeRead()
	}); err != nil {
		t.Fatalf("Post: %v", err)
	}
	select {
	case err := <-wrote:
		if err != nil {
			t.Fatalf("the peer's writes after ResumeRead: %v (OnData saw %d of the %d bytes sent)", err, received.Load(), sent.Load())
		}
	case <-time.After(ioTimeout + time.Second):
		t.Fatalf("the peer's writes did not complete after ResumeRead")
	}
	if !eventually(ioTimeout, func() bool { return received.Load() == size }) {
		t.Fatalf("OnData saw %d of %d bytes after ResumeRead", received.Load(), size)
	}
	if at := badAt.Load(); at >= 0 {
		t.Errorf("byte %d differs from what the peer sent: bytes lost, repeated or out of order", at)
	}
	c.Close()
	srv.shutdown()
	oc.Check(t)
}

// testPauseReset: a connection paused in OnOpen, whose peer sends a little and then resets,
// still closes: OnClose runs.
func (s *suite) testPauseReset(t *testing.T) {
	closed := make(chan error, 1)
	oc := NewOrderChecker(funcHandler{
		open:  func(c reactor.Conn) { c.PauseRead() },
		close: func(_ reactor.Conn, err error) { closed <- err },
	})
	srv := s.start(t, reactor.Config{}, oc)
	c := srv.dial(t)
	c.Write([]byte("unread"))
	time.Sleep(20 * time.Millisecond)
	c.SetLinger(0)
	c.Close()
	select {
	case err := <-closed:
		t.Logf("OnClose after a reset while paused: %v", err)
	case <-time.After(5 * time.Second):
		t.Fatalf("a paused connection whose peer reset was not closed within 5s")
	}
	srv.shutdown()
	oc.Check(t)
}
