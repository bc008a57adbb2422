package evioloop

import (
	"bytes"
	"io"
	"testing"
	"time"

	"github.com/reactorlab/reactor/reactor"
	"github.com/reactorlab/reactor/reactor/reactortest"
)

// settled polls st until cond holds of a snapshot, or 5 s pass; it returns the last snapshot.
func settled(st *reactor.Stats, cond func(reactor.StatsSnapshot) bool) reactor.StatsSnapshot {
	deadline := time.Now().Add(5 * time.Second)
	for {
		s := st.Snapshot()
		if cond(s) || time.Now().After(deadline) {
			return s
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestStatsSentWhileOpen: evio says nothing of the writes it makes, yet what it wrote is
// counted as sent, and no longer as buffered, while the connections stay open and quiet:
// after a reply held by evio and written over many of its writes, whether Write or AsyncWrite
// made it, and after a reply that waited on a peer that did not read.
func TestStatsSentWhileOpen(t *testing.T) {
	// Replies held by evio over many writes, on both loops; and one well past what loopback
	// socket buffers take, for the peer that does not read.
	const size, big, conns = 1 << 20, 16 << 20, 4
	reply := bytes.Repeat([]byte("r"), size)
	h := handler{data: func(c reactor.Conn, in []byte) (int, reactor.Action) {
		switch in[0] {
		case 'w':
			c.Write(reply)
		case 'b':
			c.Write(make([]byte, big))
		case 'a':
			go func() {
				for p := reply; len(p) > 0; p = p[4<<10:] {
					c.AsyncWrite(p[:4<<10])
				}
			}()
		}
		return len(in), reactor.None
	}}
	st := new(reactor.Stats)
	_, addr := start(t, reactor.Config{Stats: st, MaxOutbound: 2 * big}, h)
	var want uint64
	for i, mode := range []string{"w", "a"} {
		for range conns {
			c := reactortest.Dial(t, addr)
			c.Write([]byte(mode))
			if _, err := io.ReadFull(c, make([]byte, size)); err != nil {
				t.Fatalf("%s: reading the reply: %v", mode, err)
			}
			want += size
		}
		got := settled(st, func(s reactor.StatsSnapshot) bool { return s.Sent == want && s.Buffered == 0 })
		if got.Sent != want || got.Buffered != 0 || got.Active() != int64((i+1)*conns) {
			t.Errorf("%s: replies of %d bytes read in full, connections open: sent %d, buffered %d, active %d; want %d, 0, %d",
				mode, size, got.Sent, got.Buffered, got.Active(), want, (i+1)*conns)
		}
	}

	// A peer that does not read: evio holds what the kernel would not take, and that is
	// what is buffered; once the peer reads it all, it is sent.
	c := reactortest.Dial(t, addr)
	c.Write([]byte("b"))
	want += big
	var last reactor.StatsSnapshot
	got := settled(st, func(s reactor.StatsSnapshot) bool {
		stable := s == last
		last = s
		time.Sleep(20 * time.Millisecond)
		return stable && s.Buffered > 0
	})
	if got.Sent+uint64(got.Buffered) != want || got.Buffered <= 0 {
		t.Errorf("a peer not reading a %d-byte reply: sent %d, buffered %d; want a sum of %d, some buffered", big, got.Sent, got.Buffered, want)
	}
	if _, err := io.ReadFull(c, make([]byte, big)); err != nil {
		t.Fatal(err)
	}
	got = settled(st, func(s reactor.StatsSnapshot) bool { return s.Sent == want && s.Buffered == 0 })
	if got.Sent != want || got.Buffered != 0 {
		t.Errorf("once the peer read it all: sent %d, buffered %d; want %d, 0", got.Sent, got.Buffered, want)
	}
}

// TestStatsHalfCloser: bytes the adapter reads itself, for a HalfCloser, are counted as
// received, and a reply written after the peer's end of stream as sent.
func TestStatsHalfCloser(t *testing.T) {
	h := halfCloser{
		handler: handler{data: func(c reactor.Conn, in []byte) (int, reactor.Action) {
			return len(in), reactor.None
		}},
		eof: func(c reactor.Conn) reactor.Action {
			c.Write([]byte("bye"))
			return reactor.Close
		},
	}
	st := new(reactor.Stats)
	_, addr := start(t, reactor.Config{Stats: st}, h)
	c := reactortest.Dial(t, addr)
	c.Write([]byte("hello"))
	c.CloseWrite()
	if got := readAll(t, c); got != "bye" {
		t.Fatalf("after the end of stream: got %q; want bye", got)
	}
	got := settled(st, func(s reactor.StatsSnapshot) bool { return s.Active() == 0 && s.Accepted == 1 })
	if got.Received != 5 || got.Sent != 3 || got.Buffered != 0 || got.ClosedBy(reactor.CauseLocal) != 1 {
		t.Errorf("received %d, sent %d, buffered %d, closes %v; want 5, 3, 0, local 1", got.Received, got.Sent, got.Buffered, got.Closed)
	}
}

// TestStatsAbortDropsBuffered: output an abort drops — the callback's, the AsyncWrite queue
// and what evio held — leaves the buffered gauge.
func TestStatsAbortDropsBuffered(t *testing.T) {
	const size = 16 << 20
	h := handler{data: func(c reactor.Conn, in []byte) (int, reactor.Action) {
		c.Write(make([]byte, size)) // evio holds most of it: the peer does not read
		go func() {
			time.Sleep(100 * time.Millisecond)
			c.AsyncWrite(make([]byte, size)) // queued behind evio's
			c.Abort(nil)
		}()
		return len(in), reactor.None
	}}
	st := new(reactor.Stats)
	_, addr := start(t, reactor.Config{Stats: st, MaxOutbound: 4 * size}, h)
	c := reactortest.Dial(t, addr)
	c.Write([]byte("x"))
	got := settled(st, func(s reactor.StatsSnapshot) bool { return s.Active() == 0 && s.Accepted == 1 })
	if got.Buffered != 0 || got.Sent >= size || got.ClosedBy(reactor.CauseLocal) != 1 {
		t.Errorf("after an abort with output held: buffered %d, sent %d, closes %v; want 0, under %d, local 1", got.Buffered, got.Sent, got.Closed, size)
	}
}
