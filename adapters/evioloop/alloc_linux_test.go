package evioloop

import (
	"bytes"
	"net"
	"testing"

	"github.com/reactorlab/reactor/protocols/echo"
	"github.com/reactorlab/reactor/reactor"
)

// loopConn is a connection as the loop sees it, without a socket: enough for the read path,
// which touches evio only to hand back the output.
func loopConn(h reactor.Handler) *conn {
	b := &backend{cfg: reactor.Config{}.WithDefaults(), h: h}
	// fd -1: an abort's socket calls must touch no descriptor of the test process.
	return &conn{b: b, h: h, fd: -1, remote: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}}
}

// countingConn is loopConn counting into st, on a loop of its own; loopConn for a nil st.
func countingConn(h reactor.Handler, st *reactor.Stats) *conn {
	c := loopConn(h)
	if st == nil {
		return c
	}
	c.b.cfg.Stats = st
	c.bell = &doorbell{st: st.Shard(0)}
	c.st = c.bell.st
	return c
}

// TestReadPathAllocs pins the hot path: a read, the handler's reply, the hand-off to evio;
// and the same with Config.Stats counting (what serve --metrics-addr turns on).
func TestReadPathAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under -race")
	}
	t.Run("plain", func(t *testing.T) { readPathAllocs(t, nil) })
	t.Run("counting", func(t *testing.T) { readPathAllocs(t, new(reactor.Stats)) })
}

func readPathAllocs(t *testing.T, st *reactor.Stats) {
	lines := handler{data: func(c reactor.Conn, in []byte) (int, reactor.Action) {
		// Answers whole lines and keeps a partial one, so the tail is exercised too.
		n := bytes.LastIndexByte(in, '\n') + 1
		c.Write(in[:n])
		return n, reactor.None
	}}
	for _, tc := range []struct {
		name string
		h    reactor.Handler
		in   []byte
	}{
		{"echo 1KiB", echo.Handler{}, bytes.Repeat([]byte("x"), 1024)},
		{"lines with a tail", lines, []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\nGET / HT")},
	} {
		c := countingConn(tc.h, st)
		for i := 0; i < 10; i++ { // grow the buffers once
			c.read(tc.in)
		}
		allocs := testing.AllocsPerRun(1000, func() {
			out, _ := c.read(tc.in)
			if len(out) == 0 {
				t.Fatal("no output")
			}
		})
		if allocs != 0 {
			t.Errorf("%s: %.1f allocations per read; want 0", tc.name, allocs)
		}
		if st != nil {
			// 10 reads, AllocsPerRun's warm-up and its 1000.
			if s := st.Snapshot(); s.Received != uint64(1011*len(tc.in)) || s.Sent == 0 {
				t.Errorf("%s: counted %d bytes received, %d sent; want %d, some", tc.name, s.Received, s.Sent, 1011*len(tc.in))
			}
			st = new(reactor.Stats) // afresh for the next case
		}
	}
}

// TestReadPathTail: partial consumption is presented again, in front of the next bytes, and
// MaxInbound bounds what is kept.
func TestReadPathTail(t *testing.T) {
	var got []string
	h := handler{data: func(c reactor.Conn, in []byte) (int, reactor.Action) {
		got = append(got, string(in))
		if i := bytes.IndexByte(in, ';'); i >= 0 {
			return i + 1, reactor.None
		}
		return 0, reactor.None
	}}
	c := loopConn(h)
	c.b.cfg.MaxInbound = 16
	for _, in := range []string{"ab", "c;d", "ef"} {
		c.read([]byte(in))
	}
	want := []string{"ab", "abc;d", "def"}
	if len(got) != len(want) {
		t.Fatalf("OnData saw %q; want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("OnData saw %q; want %q", got, want)
		}
	}
	if c.flags.Load()&flagAbort != 0 {
		t.Fatal("aborted below MaxInbound")
	}
	c.mu.Lock()
	c.wakePending = true // no evio connection here to wake
	c.mu.Unlock()
	c.read(bytes.Repeat([]byte("z"), 16))
	if c.flags.Load()&flagAbort == 0 || c.cause != reactor.ErrInboundFull {
		t.Errorf("19 bytes held against MaxInbound 16: flags %b, cause %v; want an abort with ErrInboundFull", c.flags.Load(), c.cause)
	}
}
