//go:build linux

package nbioloop

import (
	"bytes"
	"context"
	"net"
	"testing"
	"time"

	"github.com/reactorlab/reactor/reactor"
)

// endHandler serves dialed connections: it hands each to the test when it opens and, at the
// end of stream, what it was given. It never blocks a loop: the test reads the first end of
// stream only, and the connections it let go end at its cleanup.
type endHandler struct {
	opened chan reactor.Conn
	ended  chan []byte
}

func (h *endHandler) OnOpen(c reactor.Conn) {
	c.SetContext(new(bytes.Buffer))
	h.opened <- c
}

func (h *endHandler) OnData(c reactor.Conn, in []byte) (int, reactor.Action) {
	c.Context().(*bytes.Buffer).Write(in)
	return len(in), reactor.None
}

func (h *endHandler) OnReadEOF(c reactor.Conn) reactor.Action {
	select {
	case h.ended <- bytes.Clone(c.Context().(*bytes.Buffer).Bytes()):
	default:
	}
	return reactor.Close
}

func (h *endHandler) OnClose(reactor.Conn, error) {}

// dialer dials addr for every connection it accepts, the dialed one served by h.
type dialer struct {
	reactor.NopHandler
	addr string
	h    reactor.Handler
}

func (d *dialer) OnOpen(c reactor.Conn) {
	if err := c.Dial(context.Background(), d.addr, d.h); err != nil {
		c.Abort(err)
	}
}

// onLoop runs f on c's owner loop and waits for it.
func onLoop(t *testing.T, c reactor.Conn, f func(c *conn)) {
	t.Helper()
	done := make(chan struct{})
	if err := c.Post(func(rc reactor.Conn) { defer close(done); f(rc.(*conn)) }); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("a posted function did not run")
	}
}

// until waits, on the owner loop, for the poller to have mailed what cond looks for, and
// reports whether it did: the poller is another goroutine, and the owner's next task, queued
// behind this one, will take the mail.
func until(t *testing.T, c *conn, what string, cond func(c *conn) bool) bool {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		c.mu.Lock()
		ok := cond(c)
		c.mu.Unlock()
		if ok {
			return true
		}
		if time.Now().After(deadline) {
			t.Errorf("the poller did not mail %s", what)
			return false
		}
	}
}

// TestEndAfterHeldInput: a dialed connection read by another loop's poller holds mail taken
// while it was paused; ResumeRead is called, and before its task runs the poller mails the
// peer's end of stream. The held input is presented first. It was dropped: the proxy relayed
// the upstream's FIN to its client with the last kilobytes of the stream missing.
func TestEndAfterHeldInput(t *testing.T) {
	up, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close()
	h := &endHandler{opened: make(chan reactor.Conn, 1), ended: make(chan []byte, 1)}
	b, err := New(reactor.Config{Loops: 2})
	if err != nil {
		t.Fatal(err)
	}
	addr, err := b.Start(&dialer{addr: up.Addr().String(), h: h})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Shutdown(t.Context())

	// nbio serves a socket on the poller its descriptor picks: dial until the dialed
	// connection's poller is not its owner.
	var dc reactor.Conn
	var uc *net.TCPConn
	for tries := 0; dc == nil; tries++ {
		if tries == 20 {
			t.Fatal("no dialed connection landed on another loop's poller in 20 tries")
		}
		client, err := net.Dial("tcp", addr.String())
		if err != nil {
			t.Fatal(err)
		}
		defer client.Close()
		nc, err := up.Accept()
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		select {
		case c := <-h.opened:
			if c.(*conn).pl != c.(*conn).lp {
				dc, uc = c, nc.(*net.TCPConn)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the dialed connection did not open")
		}
	}

	data := bytes.Repeat([]byte("held input "), 100)
	onLoop(t, dc, func(c *conn) {
		// The poller reads while the owner is busy here; the owner pauses before it takes
		// the mail, and so holds it.
		if _, err := uc.Write(data); err != nil {
			t.Error(err)
		}
		if until(t, c, "the data", func(c *conn) bool { return len(c.mail) == len(data) }) {
			c.PauseRead()
		}
	})
	if t.Failed() {
		return
	}
	onLoop(t, dc, func(c *conn) {
		if len(c.in) != len(data) {
			t.Errorf("%d bytes held while paused; want %d", len(c.in), len(data))
		}
		// ResumeRead's task is queued when this returns, behind the mail the poller sends
		// meanwhile: the end of stream.
		c.ResumeRead()
		uc.CloseWrite()
		until(t, c, "the end of stream", func(c *conn) bool { return c.mailEOF })
	})
	select {
	case got := <-h.ended:
		if !bytes.Equal(got, data) {
			t.Errorf("the end of stream came after %d bytes; want it after the %d sent", len(got), len(data))
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no end of stream")
	}
}
