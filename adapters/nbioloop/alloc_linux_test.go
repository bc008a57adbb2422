//go:build linux

package nbioloop

import (
	"bytes"
	"net"
	"os"
	"testing"

	"github.com/lesismal/nbio"
	"golang.org/x/sys/unix"

	"github.com/reactorlab/reactor/protocols/echo"
	"github.com/reactorlab/reactor/reactor"
)

// lines answers whole lines and keeps a partial one, so that the tail is exercised too.
type lines struct{ reactor.NopHandler }

func (lines) OnData(c reactor.Conn, in []byte) (int, reactor.Action) {
	n := bytes.LastIndexByte(in, '\n') + 1
	c.Write(in[:n])
	return n, reactor.None
}

// socketConn is an opened connection on one end of a socket pair, outside any engine: enough
// for the read path and the flush, which reach the socket through nbio's Conn alone. It
// returns the peer's descriptor.
func socketConn(t *testing.T, h reactor.Handler, st *reactor.Stats) (*conn, int) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(fds[0]), "test")
	fc, err := net.FileConn(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nbio.NBConn(fc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close(); unix.Close(fds[1]) })
	b := &backend{cfg: reactor.Config{Stats: st}.WithDefaults()}
	lp := &loop{rbuf: make([]byte, b.cfg.ReadBufferSize), shard: st.Shard(0)}
	c := newConn(b, lp, lp, nc, h)
	c.opened = true
	return c, fds[1]
}

// TestReadPathAllocs pins the hot path: the reads of one readiness event, the handler's reply
// and its write; plain and with Config.Stats counting.
func TestReadPathAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under -race")
	}
	for _, st := range []*reactor.Stats{nil, new(reactor.Stats)} {
		for _, tc := range []struct {
			name string
			h    reactor.Handler
			in   []byte
		}{
			{"echo 1KiB", echo.Handler{}, bytes.Repeat([]byte("x"), 1024)},
			{"lines with a tail", lines{}, []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\nGET / HT")},
		} {
			c, peer := socketConn(t, tc.h, st)
			out := make([]byte, 4096)
			turn := func() {
				if _, err := unix.Write(peer, tc.in); err != nil {
					t.Fatal(err)
				}
				c.onReadable()
				if n, err := unix.Read(peer, out); n <= 0 {
					t.Fatalf("%s: no reply: %v", tc.name, err)
				}
			}
			for range 10 { // grow the buffers once
				turn()
			}
			if allocs := testing.AllocsPerRun(1000, turn); allocs != 0 {
				t.Errorf("%s (stats %v): %.1f allocations per turn; want 0", tc.name, st != nil, allocs)
			}
			if got := c.Buffered(); got != 0 {
				t.Errorf("%s: Buffered %d after the turns; want 0", tc.name, got)
			}
		}
	}
}

// TestTailKept: input the handler leaves is presented again, joined with what follows.
func TestTailKept(t *testing.T) {
	var seen []string
	h := handlerFunc(func(c reactor.Conn, in []byte) (int, reactor.Action) {
		seen = append(seen, string(in))
		if bytes.HasSuffix(in, []byte("\n")) {
			return len(in), reactor.None
		}
		return 0, reactor.None
	})
	c, peer := socketConn(t, h, nil)
	for _, part := range []string{"ab", "cd", "e\n"} {
		unix.Write(peer, []byte(part))
		c.onReadable()
	}
	if got, want := seen, []string{"ab", "abcd", "abcde\n"}; !equal(got, want) {
		t.Errorf("OnData saw %q; want %q", got, want)
	}
	if len(c.in) != 0 {
		t.Errorf("%d bytes held after all was consumed; want 0", len(c.in))
	}
}

type handlerFunc func(reactor.Conn, []byte) (int, reactor.Action)

func (f handlerFunc) OnOpen(reactor.Conn)                                    {}
func (f handlerFunc) OnData(c reactor.Conn, in []byte) (int, reactor.Action) { return f(c, in) }
func (f handlerFunc) OnClose(reactor.Conn, error)                            {}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
