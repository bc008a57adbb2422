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

// TestReadPathAllocs pins the hot path: a read, the handler's reply, the hand-off to evio.
func TestReadPathAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under -race")
	}
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
		c := loopConn(tc.h)
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
