package evioloop

import (
	"errors"
	"io"
	"syscall"
	"testing"
	"time"

	"github.com/reactorlab/reactor/reactor"
	"github.com/reactorlab/reactor/reactor/reactortest"
)

// TestAbortResets: Abort cuts the stream with a reset, so that the peer's read fails with
// ECONNRESET instead of seeing a clean end of stream; from the connection's own callback and
// from another goroutine, with and without output pending.
func TestAbortResets(t *testing.T) {
	for _, tc := range []struct {
		name  string
		write bool // the handler writes before it aborts
		async bool // Abort comes from another goroutine
	}{
		{"InCallback", false, false},
		{"AfterWrite", true, false},
		{"FromGoroutine", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := handler{data: func(c reactor.Conn, in []byte) (int, reactor.Action) {
				if tc.write {
					c.Write([]byte("lost"))
				}
				if tc.async {
					go c.Abort(nil)
				} else {
					c.Abort(nil)
				}
				return len(in), reactor.None
			}}
			_, addr := start(t, reactor.Config{}, h)
			c := reactortest.Dial(t, addr)
			c.Write([]byte("go"))
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			_, err := io.ReadAll(c)
			if !errors.Is(err, syscall.ECONNRESET) {
				t.Errorf("the peer read to %v; want ECONNRESET", err)
			}
		})
	}
}

// TestCloseWrite: CloseWrite flushes what was written, AsyncWrite bytes queued before it
// included, then the peer reads end of stream while it can still send; later writes fail,
// and a second CloseWrite does nothing. Without HalfCloser, the peer's own end of stream
// then closes the connection with io.EOF.
func TestCloseWrite(t *testing.T) {
	const size = 4 << 20 // well past the socket buffers: evio holds some when CloseWrite comes
	big := make([]byte, size)
	for i := range big {
		big[i] = byte(i)
	}
	type result struct {
		write, async, again error
	}
	results := make(chan result, 1)
	seen := make(chan string, 4)
	causes := make(chan error, 1)
	h := handler{
		data: func(c reactor.Conn, in []byte) (int, reactor.Action) {
			if string(in) != "go" {
				seen <- string(in)
				return len(in), reactor.None
			}
			c.Write(big[:size/2])
			done := make(chan struct{})
			go func() {
				c.AsyncWrite(big[size/2:])
				close(done)
			}()
			<-done
			var r result
			c.CloseWrite()
			_, r.write = c.Write([]byte("late"))
			r.async = c.AsyncWrite([]byte("late"))
			r.again = c.CloseWrite()
			results <- r
			return len(in), reactor.None
		},
		close: func(c reactor.Conn, err error) { causes <- err },
	}
	_, addr := start(t, reactor.Config{MaxOutbound: 16 << 20}, h)
	c := reactortest.Dial(t, addr)
	c.Write([]byte("go"))
	r := <-results
	if !errors.Is(r.write, reactor.ErrConnClosed) || !errors.Is(r.async, reactor.ErrConnClosed) || r.again != nil {
		t.Errorf("after CloseWrite: Write %v, AsyncWrite %v, CloseWrite %v; want ErrConnClosed, ErrConnClosed, nil", r.write, r.async, r.again)
	}
	time.Sleep(100 * time.Millisecond) // evio holds output now
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	got, err := io.ReadAll(c)
	if err != nil || len(got) != size {
		t.Fatalf("the peer read %d bytes, %v; want %d then end of stream", len(got), err, size)
	}
	for i := range got {
		if got[i] != byte(i) {
			t.Fatalf("byte %d is %d; want %d", i, got[i], byte(i))
		}
	}
	c.Write([]byte("still here"))
	if s := within(t, seen, "input after CloseWrite"); s != "still here" {
		t.Errorf("OnData saw %q; want \"still here\"", s)
	}
	c.CloseWrite()
	if err := within(t, causes, "OnClose"); !errors.Is(err, io.EOF) {
		t.Errorf("OnClose cause %v; want io.EOF, the peer's end of stream", err)
	}
}

// TestPeerResetCause: a peer's reset reaches OnClose as a reset (Stats' cause reset), not
// as an end of stream, on each of evio's paths: an idle connection, one whose output evio
// holds because the peer does not read, one paused (out of evio's epoll set), and a
// HalfCloser's, which the adapter reads itself.
func TestPeerResetCause(t *testing.T) {
	for _, mode := range []string{"idle", "holding", "paused", "halfcloser"} {
		t.Run(mode, func(t *testing.T) {
			causes := make(chan error, 1)
			hd := handler{
				open: func(c reactor.Conn) {
					if mode == "paused" {
						c.PauseRead()
					}
				},
				data: func(c reactor.Conn, in []byte) (int, reactor.Action) {
					if mode == "holding" {
						c.Write(make([]byte, 16<<20)) // past what the socket buffers take
					}
					return len(in), reactor.None
				},
				close: func(_ reactor.Conn, err error) { causes <- err },
			}
			var h reactor.Handler = hd
			if mode == "halfcloser" {
				h = halfCloser{handler: hd, eof: func(reactor.Conn) reactor.Action { return reactor.None }}
			}
			_, addr := start(t, reactor.Config{MaxOutbound: 32 << 20}, h)
			c := reactortest.Dial(t, addr)
			c.Write([]byte("x"))
			time.Sleep(100 * time.Millisecond) // read (or, paused, not) by the server
			c.SetLinger(0)
			c.Close()
			select {
			case err := <-causes:
				if reactor.CloseCause(err) != reactor.CauseReset {
					t.Errorf("OnClose got %v (cause %s); want ECONNRESET or EPIPE (reset)", err, reactor.CloseCause(err))
				}
			case <-time.After(5 * time.Second):
				t.Fatal("no OnClose after the peer's reset")
			}
		})
	}
}
