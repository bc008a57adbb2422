//go:build linux

package nbioloop

import (
	"bytes"
	"io"
	"net"
	"testing"
	"time"

	"github.com/reactorlab/reactor/reactor"
)

// salvageHandler pauses at once and half-closes, so that the peer's data and FIN wait in the
// socket until the hang-up makes the adapter salvage them; it resumes later and records the
// pieces it is given.
type salvageHandler struct {
	got      bytes.Buffer
	largest  int
	salvaged bool
	done     chan error
}

func (h *salvageHandler) OnOpen(c reactor.Conn) {
	c.PauseRead()
	c.CloseWrite()
	c.AfterFunc(500*time.Millisecond, func(c reactor.Conn) { c.ResumeRead() })
}

func (h *salvageHandler) OnData(c reactor.Conn, in []byte) (int, reactor.Action) {
	if h.got.Len() == 0 {
		h.salvaged = c.(*conn).heldEOF
	}
	h.largest = max(h.largest, len(in))
	h.got.Write(in)
	return len(in), reactor.None
}

func (h *salvageHandler) OnReadEOF(reactor.Conn) reactor.Action { return reactor.Close }

func (h *salvageHandler) OnClose(_ reactor.Conn, err error) { h.done <- err }

// TestSalvagedInputInReads: input salvaged before a hang-up, many reads' worth, is presented
// in pieces of one read at most, as the socket's reads would have been. In one piece it
// passed what a handler sizes its output by: the proxy relays one read past its high-water
// mark under MaxOutbound, and a 1 GiB stream lost its tail to ErrOutboundFull.
func TestSalvagedInputInReads(t *testing.T) {
	const readSize = 4 << 10
	b, err := New(reactor.Config{Loops: 1, ReadBufferSize: readSize})
	if err != nil {
		t.Fatal(err)
	}
	h := &salvageHandler{done: make(chan error, 1)}
	addr, err := b.Start(h)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Shutdown(t.Context())

	nc, err := net.Dial("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	// Small enough to wait whole in the server's receive buffer while it is paused.
	data := bytes.Repeat([]byte("0123456789abcdef"), 4096) // 64 KiB, 16 reads
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := nc.Write(data); err != nil {
		t.Fatal(err)
	}
	nc.(*net.TCPConn).CloseWrite()
	if _, err := io.Copy(io.Discard, nc); err != nil {
		t.Fatalf("reading the server's end of stream: %v", err)
	}

	select {
	case err := <-h.done:
		if err != nil {
			t.Errorf("OnClose: %v; want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the connection did not close")
	}
	if !bytes.Equal(h.got.Bytes(), data) {
		t.Errorf("the handler got %d bytes; want the %d sent, in order", h.got.Len(), len(data))
	}
	if h.largest > readSize {
		t.Errorf("the largest piece presented was %d bytes; want at most one read (%d)", h.largest, readSize)
	}
	if !h.salvaged {
		t.Error("the input was read before the hang-up: the salvage path was not taken (resumed too early?)")
	}
}
