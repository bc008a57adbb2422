package evioloop

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/reactorlab/reactor/reactor"
	"github.com/reactorlab/reactor/reactor/reactortest"
)

// halfCloser is a handler that implements reactor.HalfCloser with eof.
type halfCloser struct {
	handler
	eof func(reactor.Conn) reactor.Action
}

func (h halfCloser) OnReadEOF(c reactor.Conn) reactor.Action { return h.eof(c) }

// readAll reads from c until end of stream, within 10 s.
func readAll(t *testing.T, c net.Conn) string {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	got, err := io.ReadAll(c)
	if err != nil {
		t.Errorf("the peer read %q, then %v; want a clean end of stream", got, err)
	}
	return string(got)
}

// TestHalfCloser: the peer's end of stream calls OnReadEOF, after the last OnData, and the
// connection stays open for writing: a reply, then a timer's write, then Close.
func TestHalfCloser(t *testing.T) {
	var mu sync.Mutex
	var events []string
	note := func(s string) {
		mu.Lock()
		events = append(events, s)
		mu.Unlock()
	}
	causes := make(chan error, 1)
	h := halfCloser{
		handler: handler{
			data: func(c reactor.Conn, in []byte) (int, reactor.Action) {
				note("data " + string(in))
				return len(in), reactor.None
			},
			close: func(c reactor.Conn, err error) { causes <- err },
		},
		eof: func(c reactor.Conn) reactor.Action {
			note("eof")
			if _, err := c.Write([]byte("reply;")); err != nil {
				t.Errorf("Write after the peer's end of stream: %v", err)
			}
			c.AfterFunc(50*time.Millisecond, func(c reactor.Conn) {
				c.Write([]byte("later"))
				c.Close()
			})
			return reactor.None
		},
	}
	_, addr := start(t, reactor.Config{}, h)
	c := reactortest.Dial(t, addr)
	c.Write([]byte("hello"))
	time.Sleep(20 * time.Millisecond)
	c.CloseWrite()
	if got := readAll(t, c); got != "reply;later" {
		t.Errorf("the peer read %q; want \"reply;later\"", got)
	}
	if err := within(t, causes, "OnClose"); err != nil {
		t.Errorf("OnClose cause %v; want nil", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(events) != 2 || events[0] != "data hello" || events[1] != "eof" {
		t.Errorf("the handler saw %q; want [data hello, eof]", events)
	}
}

// TestHalfCloserCloseWrite: CloseWrite closes the connection, with a nil cause, once both
// ends have finished sending, whichever finished first.
func TestHalfCloserCloseWrite(t *testing.T) {
	t.Run("AfterEOF", func(t *testing.T) {
		causes := make(chan error, 1)
		h := halfCloser{
			handler: handler{close: func(c reactor.Conn, err error) { causes <- err }},
			eof: func(c reactor.Conn) reactor.Action {
				c.Write([]byte("bye"))
				c.CloseWrite()
				return reactor.None
			},
		}
		_, addr := start(t, reactor.Config{}, h)
		c := reactortest.Dial(t, addr)
		c.CloseWrite()
		if got := readAll(t, c); got != "bye" {
			t.Errorf("the peer read %q; want \"bye\"", got)
		}
		if err := within(t, causes, "OnClose"); err != nil {
			t.Errorf("OnClose cause %v; want nil", err)
		}
	})
	t.Run("BeforeEOF", func(t *testing.T) {
		causes := make(chan error, 1)
		eofs := make(chan string, 1)
		var got bytes.Buffer // the loop's only
		h := halfCloser{
			handler: handler{
				open: func(c reactor.Conn) {
					c.Write([]byte("first"))
					c.CloseWrite()
				},
				data: func(c reactor.Conn, in []byte) (int, reactor.Action) {
					got.Write(in)
					return len(in), reactor.None
				},
				close: func(c reactor.Conn, err error) { causes <- err },
			},
			eof: func(c reactor.Conn) reactor.Action {
				eofs <- got.String()
				return reactor.None
			},
		}
		_, addr := start(t, reactor.Config{}, h)
		c := reactortest.Dial(t, addr)
		if got := readAll(t, c); got != "first" {
			t.Errorf("the peer read %q; want \"first\"", got)
		}
		c.Write([]byte("the peer goes on"))
		time.Sleep(20 * time.Millisecond)
		c.CloseWrite()
		if s := within(t, eofs, "OnReadEOF"); s != "the peer goes on" {
			t.Errorf("OnData saw %q before the end of stream; want \"the peer goes on\"", s)
		}
		if err := within(t, causes, "OnClose"); err != nil {
			t.Errorf("OnClose cause %v; want nil", err)
		}
	})
}

// TestHalfCloserEcho: a HalfCloser that echoes, under a load that makes evio hold output
// often (so that reading passes back and forth between evio's writes and the adapter's
// reads), gets every byte back in order, and answers the end of stream last.
func TestHalfCloserEcho(t *testing.T) {
	const size = 8 << 20
	h := halfCloser{
		handler: handler{data: func(c reactor.Conn, in []byte) (int, reactor.Action) {
			c.Write(in)
			return len(in), reactor.None
		}},
		eof: func(c reactor.Conn) reactor.Action {
			c.Write([]byte("END"))
			return reactor.Close
		},
	}
	_, addr := start(t, reactor.Config{MaxOutbound: 32 << 20}, h)
	c := reactortest.Dial(t, addr)
	sent := make([]byte, size)
	for i := range sent {
		sent[i] = byte(i * 7)
	}
	werr := make(chan error, 1)
	go func() {
		for p := sent; len(p) > 0; {
			n := min(len(p), 1000+len(p)%5000)
			if _, err := c.Write(p[:n]); err != nil {
				werr <- err
				return
			}
			p = p[n:]
		}
		werr <- c.CloseWrite()
	}()
	got := readAll(t, c)
	if err := <-werr; err != nil {
		t.Fatal(err)
	}
	if len(got) != size+3 || got[size:] != "END" || got[:size] != string(sent) {
		t.Errorf("the peer read %d bytes; want the %d sent back, then END", len(got), size)
	}
}

// TestHalfCloserPaused: a paused connection learns of the peer's end of stream once reading
// resumes, after the input that came before it.
func TestHalfCloserPaused(t *testing.T) {
	var mu sync.Mutex
	var events []string
	note := func(s string) {
		mu.Lock()
		events = append(events, s)
		mu.Unlock()
	}
	resumed := make(chan struct{})
	h := halfCloser{
		handler: handler{
			open: func(c reactor.Conn) {
				c.PauseRead()
				c.AfterFunc(150*time.Millisecond, func(c reactor.Conn) {
					note("resume")
					c.ResumeRead()
					close(resumed)
				})
			},
			data: func(c reactor.Conn, in []byte) (int, reactor.Action) {
				note("data " + string(in))
				return len(in), reactor.None
			},
		},
		eof: func(c reactor.Conn) reactor.Action {
			note("eof")
			c.Write([]byte("ok"))
			return reactor.Close
		},
	}
	_, addr := start(t, reactor.Config{}, h)
	c := reactortest.Dial(t, addr)
	c.Write([]byte("early"))
	c.CloseWrite()
	if got := readAll(t, c); got != "ok" {
		t.Errorf("the peer read %q; want \"ok\"", got)
	}
	<-resumed
	mu.Lock()
	defer mu.Unlock()
	if len(events) != 3 || events[0] != "resume" || events[1] != "data early" || events[2] != "eof" {
		t.Errorf("the handler saw %q; want [resume, data early, eof]", events)
	}
}

// TestHalfCloserIdleAfterEOF: once the peer's end of stream is read, the socket stays
// readable for good; the loop must stop watching it rather than wake for it at every wait.
func TestHalfCloserIdleAfterEOF(t *testing.T) {
	eofs := make(chan reactor.Conn, 1)
	h := halfCloser{eof: func(c reactor.Conn) reactor.Action {
		eofs <- c
		return reactor.None
	}}
	_, addr := start(t, reactor.Config{Loops: 1}, h)
	c := reactortest.Dial(t, addr)
	c.CloseWrite()
	sc := within(t, eofs, "OnReadEOF")
	before := cpuTime(t)
	time.Sleep(300 * time.Millisecond)
	if used := cpuTime(t) - before; used > 100*time.Millisecond {
		t.Errorf("the process used %v of CPU in 300ms with one connection idle after its peer's end of stream: the loop spins", used)
	}
	if err := sc.AsyncWrite([]byte("still open")); err != nil {
		t.Errorf("AsyncWrite after the end of stream: %v", err)
	}
	buf := make([]byte, 10)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "still open" {
		t.Errorf("the peer read %q, %v; want \"still open\"", buf, err)
	}
}

// cpuTime is the CPU time the process has used.
func cpuTime(t *testing.T) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestHalfCloserPanics: a panic in OnReadEOF costs the connection, as in any callback: it is
// aborted with ErrHandlerPanic.
func TestHalfCloserPanics(t *testing.T) {
	causes := make(chan error, 1)
	h := halfCloser{
		handler: handler{close: func(c reactor.Conn, err error) { causes <- err }},
		eof:     func(reactor.Conn) reactor.Action { panic("boom") },
	}
	_, addr := start(t, reactor.Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, h)
	c := reactortest.Dial(t, addr)
	c.CloseWrite()
	if err := within(t, causes, "OnClose"); !errors.Is(err, reactor.ErrHandlerPanic) {
		t.Errorf("OnClose cause %v; want ErrHandlerPanic", err)
	}
}

// TestHalfCloserDialled: the handler of a dialled connection may be a HalfCloser too: the
// upstream's end of stream reaches OnReadEOF, and the connection can still write to it.
func TestHalfCloserDialled(t *testing.T) {
	up := upstream(t)
	causes := make(chan error, 1)
	d := halfCloser{
		handler: handler{close: func(c reactor.Conn, err error) { causes <- err }},
		eof: func(c reactor.Conn) reactor.Action {
			c.Write([]byte("after your FIN"))
			c.CloseWrite()
			return reactor.None
		},
	}
	errs := make(chan error, 1)
	_, addr := start(t, reactor.Config{}, asker(func() (context.Context, string, reactor.Handler) {
		return context.Background(), up.Addr().String(), d
	}, errs, nil))
	reactortest.Dial(t, addr)
	if err := within(t, errs, "Dial"); err != nil {
		t.Fatal(err)
	}
	peer, err := up.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	peer.(*net.TCPConn).CloseWrite()
	if got := readAll(t, peer); got != "after your FIN" {
		t.Errorf("the upstream read %q; want \"after your FIN\"", got)
	}
	if err := within(t, causes, "OnClose"); err != nil {
		t.Errorf("OnClose cause %v; want nil", err)
	}
}

// TestHalfCloserResetAfterEOF: a peer that resets the connection after its end of stream
// ends it at once, with the error, even though the loop no longer watches for input.
func TestHalfCloserResetAfterEOF(t *testing.T) {
	eofs := make(chan struct{}, 1)
	causes := make(chan error, 1)
	h := halfCloser{
		handler: handler{close: func(c reactor.Conn, err error) { causes <- err }},
		eof: func(c reactor.Conn) reactor.Action {
			eofs <- struct{}{}
			return reactor.None
		},
	}
	_, addr := start(t, reactor.Config{Loops: 1}, h)
	c := reactortest.Dial(t, addr)
	c.CloseWrite()
	within(t, eofs, "OnReadEOF")
	c.SetLinger(0)
	before := cpuTime(t)
	c.Close()
	err := within(t, causes, "OnClose")
	if !errors.Is(err, syscall.ECONNRESET) && !errors.Is(err, syscall.EPIPE) {
		t.Errorf("OnClose cause %v; want the reset (ECONNRESET, or EPIPE after the end of stream)", err)
	}
	time.Sleep(200 * time.Millisecond)
	if used := cpuTime(t) - before; used > 100*time.Millisecond {
		t.Errorf("the process used %v of CPU in 200ms after the reset: the loop spins", used)
	}
}
