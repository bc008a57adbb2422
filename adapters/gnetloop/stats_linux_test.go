//go:build linux

package gnetloop

import (
	"io"
	"testing"
	"time"

	"github.com/reactorlab/reactor/reactor"
	"github.com/reactorlab/reactor/reactor/reactortest"
)

// The conformance scenario Stats holds every backend to exact counts. These hold gnet to them
// where it reads and writes without a word to the adapter: output it sends after the last
// callback, output the adapter takes over at the peer's end of stream, output an abort drops,
// input it reads while the handler is paused.

// statsWithin polls st until ok accepts its snapshot, for at most 10 s, and returns the last.
func statsWithin(st *reactor.Stats, ok func(reactor.StatsSnapshot) bool) reactor.StatsSnapshot {
	deadline := time.Now().Add(10 * time.Second)
	for {
		s := st.Snapshot()
		if ok(s) || time.Now().After(deadline) {
			return s
		}
		time.Sleep(time.Millisecond)
	}
}

// TestStatsOutputSentAfterCallbacks: gnet sends output it holds on EPOLLOUT, after the last
// callback; Sent and Buffered still come to the exact count while the connection stays open,
// and stay exact once it closes.
func TestStatsOutputSentAfterCallbacks(t *testing.T) {
	forModes(t, func(t *testing.T, cfg reactor.Config) {
		st := new(reactor.Stats)
		cfg.Stats = st
		h := newScripted()
		h.data = func(c reactor.Conn, in []byte) (int, reactor.Action) {
			c.Write([]byte(big))
			return len(in), reactor.None
		}
		b, addr := reactortest.Start(t, New, bigCfg(cfg), plain{h})
		defer reactortest.Stop(t, b)
		c := reactortest.Dial(t, addr)
		<-h.conns
		io.WriteString(c, "reply")
		// gnet holds most of the reply: the peer has not read.
		if s := statsWithin(st, func(s reactor.StatsSnapshot) bool { return s.Buffered > 0 }); s.Buffered == 0 {
			t.Errorf("buffered 0 while gnet held most of an unread %d-byte reply", len(big))
		}
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.ReadFull(c, make([]byte, len(big))); err != nil {
			t.Fatal(err)
		}
		s := statsWithin(st, func(s reactor.StatsSnapshot) bool { return s.Sent == uint64(len(big)) && s.Buffered == 0 })
		if s.Sent != uint64(len(big)) || s.Buffered != 0 || s.Received != 5 || s.Active() != 1 {
			t.Errorf("open, the reply read: sent %d, buffered %d, received %d, active %d; want %d, 0, 5, 1", s.Sent, s.Buffered, s.Received, s.Active(), len(big))
		}
		c.Close()
		h.closedWith(t)
		s = st.Snapshot()
		if s.Sent != uint64(len(big)) || s.Buffered != 0 || s.Received != 5 || s.Active() != 0 || s.ClosedBy(reactor.CauseEOF) != 1 {
			t.Errorf("closed: sent %d, buffered %d, received %d, active %d, eof closes %d; want %d, 0, 5, 0, 1", s.Sent, s.Buffered, s.Received, s.Active(), s.ClosedBy(reactor.CauseEOF), len(big))
		}
	})
}

// TestStatsDetached: output gnet held at the peer's end of stream, taken over by the adapter
// and written with its own writev, is counted as sent once the socket takes it.
func TestStatsDetached(t *testing.T) {
	forModes(t, func(t *testing.T, cfg reactor.Config) {
		st := new(reactor.Stats)
		cfg.Stats = st
		h := newScripted()
		h.data = func(c reactor.Conn, in []byte) (int, reactor.Action) {
			c.Write([]byte(big))
			return len(in), reactor.None
		}
		h.eof = func(c reactor.Conn) reactor.Action {
			c.Write([]byte("end"))
			return reactor.Close
		}
		b, addr := reactortest.Start(t, New, bigCfg(cfg), h)
		defer reactortest.Stop(t, b)
		c := reactortest.Dial(t, addr)
		<-h.conns
		io.WriteString(c, "request")
		c.CloseWrite()
		time.Sleep(50 * time.Millisecond) // the reply outgrows the socket buffers
		got, err := readAll(t, c)
		if err != nil || len(got) != len(big)+3 {
			t.Fatalf("peer read %d of %d bytes, then %v", len(got), len(big)+3, err)
		}
		if err := h.closedWith(t); err != nil {
			t.Fatalf("OnClose(%v); want nil", err)
		}
		s := st.Snapshot()
		if s.Sent != uint64(len(got)) || s.Buffered != 0 || s.Received != 7 || s.ClosedBy(reactor.CauseLocal) != 1 || s.Active() != 0 {
			t.Errorf("sent %d, buffered %d, received %d, local closes %d, active %d; want %d, 0, 7, 1, 0", s.Sent, s.Buffered, s.Received, s.ClosedBy(reactor.CauseLocal), s.Active(), len(got))
		}
	})
}

// TestStatsAbortDrops: output an abort drops, the adapter's and gnet's, leaves Buffered and is
// not counted as sent.
func TestStatsAbortDrops(t *testing.T) {
	forModes(t, func(t *testing.T, cfg reactor.Config) {
		st := new(reactor.Stats)
		cfg.Stats = st
		h := newScripted()
		h.data = func(c reactor.Conn, in []byte) (int, reactor.Action) {
			c.Write([]byte(big))
			c.AfterFunc(50*time.Millisecond, func(c reactor.Conn) { c.Abort(nil) })
			return len(in), reactor.None
		}
		b, addr := reactortest.Start(t, New, bigCfg(cfg), plain{h})
		defer reactortest.Stop(t, b)
		c := reactortest.Dial(t, addr)
		<-h.conns
		io.WriteString(c, "reply")
		h.closedWith(t)
		s := st.Snapshot()
		if s.Sent == 0 || s.Sent >= uint64(len(big)) || s.Buffered != 0 || s.ClosedBy(reactor.CauseLocal) != 1 {
			t.Errorf("sent %d, buffered %d, local closes %d; want some of the %d bytes (what the unread socket took), 0, 1", s.Sent, s.Buffered, s.ClosedBy(reactor.CauseLocal), len(big))
		}
	})
}

// TestStatsPausedInput: input gnet reads while the handler is paused (level-triggered mode; in
// edge-triggered mode PauseRead is not supported) is counted once, when read.
func TestStatsPausedInput(t *testing.T) {
	const n = 4 << 20
	st := new(reactor.Stats)
	h := newScripted()
	got := 0
	h.open = func(c reactor.Conn) {
		c.PauseRead()
		c.AfterFunc(50*time.Millisecond, func(c reactor.Conn) { c.ResumeRead() })
	}
	h.data = func(c reactor.Conn, in []byte) (int, reactor.Action) {
		if got += len(in); got == n {
			c.Write([]byte("ok"))
		}
		return len(in), reactor.None
	}
	b, addr := reactortest.Start(t, New, reactor.Config{Loops: 1, MaxInbound: 2 * n, Stats: st}, plain{h})
	defer reactortest.Stop(t, b)
	c := reactortest.Dial(t, addr)
	<-h.conns
	go c.Write(make([]byte, n))
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(c, make([]byte, 2)); err != nil {
		t.Fatal(err)
	}
	c.Close()
	h.closedWith(t)
	if s := st.Snapshot(); s.Received != n || s.Sent != 2 || s.Buffered != 0 {
		t.Errorf("received %d, sent %d, buffered %d; want %d, 2, 0", s.Received, s.Sent, s.Buffered, n)
	}
}
