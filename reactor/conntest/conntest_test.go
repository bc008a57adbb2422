package conntest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/reactorlab/reactor/reactor"
)

// recorder is a handler that logs what it is called with and lets a test act inside OnData.
type recorder struct {
	reactor.NopHandler
	log    []string
	onData func(c reactor.Conn, in []byte) (int, reactor.Action)
}

func (r *recorder) OnData(c reactor.Conn, in []byte) (int, reactor.Action) {
	r.log = append(r.log, "data "+string(in))
	if r.onData != nil {
		return r.onData(c, in)
	}
	return len(in), reactor.None
}

func (r *recorder) note(s string) func(reactor.Conn) {
	return func(reactor.Conn) { r.log = append(r.log, s) }
}

func (r *recorder) want(t *testing.T, want ...string) {
	t.Helper()
	if got := strings.Join(r.log, "|"); got != strings.Join(want, "|") {
		t.Errorf("calls %q; want %q", got, strings.Join(want, "|"))
	}
	r.log = nil
}

func TestPostRunsAfterTheCallbackInOrder(t *testing.T) {
	r := &recorder{}
	d := Open(r, "")
	r.onData = func(c reactor.Conn, in []byte) (int, reactor.Action) {
		c.Post(r.note("first"))
		c.Post(func(c reactor.Conn) {
			r.log = append(r.log, "second")
			c.Post(r.note("posted by second"))
		})
		r.log = append(r.log, "end of OnData")
		return len(in), reactor.None
	}
	d.Feed([]byte("x"))
	r.want(t, "data x", "end of OnData", "first", "second", "posted by second")

	// From elsewhere: queued until the owner runs.
	r.onData = nil
	d.C.Post(r.note("from outside"))
	r.want(t)
	d.Feed([]byte("y"))
	r.want(t, "from outside", "data y")
}

func TestPostAfterClose(t *testing.T) {
	r := &recorder{}
	d := Open(r, "")
	d.C.Post(r.note("dropped"))
	d.C.Close()
	if err := d.C.Post(r.note("refused")); !errors.Is(err, reactor.ErrConnClosed) {
		t.Errorf("Post on a closed Conn = %v; want ErrConnClosed", err)
	}
	if n := d.C.RunPosted(); n != 0 {
		t.Errorf("RunPosted after Close ran %d; want 0", n)
	}
	r.want(t)
}

func TestAfterFuncFiresOnTimeInDeadlineOrder(t *testing.T) {
	r := &recorder{}
	d := Open(r, "")
	d.C.AfterFunc(3*time.Second, r.note("3s"))
	d.C.AfterFunc(time.Second, r.note("1s"))
	d.C.AfterFunc(3*time.Second, r.note("3s, armed second"))
	d.C.AfterFunc(2*time.Second, func(c reactor.Conn) {
		r.log = append(r.log, fmt.Sprint("2s at ", d.C.Clock().Now()))
		c.AfterFunc(500*time.Millisecond, r.note("armed at 2s for 2.5s"))
		c.Post(r.note("posted at 2s"))
	})
	d.Advance(time.Second - 1)
	r.want(t)
	d.Advance(1)
	r.want(t, "1s")
	d.Advance(5 * time.Second)
	r.want(t, "2s at 2s", "posted at 2s", "armed at 2s for 2.5s", "3s", "3s, armed second")
	if got := d.C.Clock().Now(); got != 6*time.Second {
		t.Errorf("clock reads %v after advancing 6s; want 6s", got)
	}
	if pending, armed := d.C.Timers(); pending != 0 || armed != 5 {
		t.Errorf("Timers() = %d pending, %d armed; want 0, 5", pending, armed)
	}
}

func TestAfterFuncStop(t *testing.T) {
	r := &recorder{}
	d := Open(r, "")
	stop := d.C.AfterFunc(time.Second, r.note("stopped"))
	if !stop() {
		t.Errorf("stop of a pending timer = false; want true")
	}
	if stop() {
		t.Errorf("second stop = true; want false")
	}
	fired := d.C.AfterFunc(time.Second, r.note("fired"))
	d.Advance(time.Second)
	r.want(t, "fired")
	if fired() {
		t.Errorf("stop after the timer fired = true; want false")
	}
}

func TestCloseStopsTimers(t *testing.T) {
	r := &recorder{}
	d := Open(r, "")
	stop := d.C.AfterFunc(time.Second, r.note("after close"))
	d.Close(nil)
	if pending, _ := d.C.Timers(); pending != 0 {
		t.Errorf("%d timers pending after Close; want 0", pending)
	}
	late := d.C.AfterFunc(time.Second, r.note("armed after close"))
	d.Advance(time.Hour)
	r.want(t)
	if stop() || late() {
		t.Errorf("stop after Close reported preventing f; Close did")
	}
}

func TestSharedClock(t *testing.T) {
	var k Clock
	r := &recorder{}
	a, b := k.Open(r, ""), k.Open(r, "")
	b.C.AfterFunc(2*time.Second, r.note("b"))
	a.C.AfterFunc(time.Second, r.note("a"))
	k.Advance(2 * time.Second)
	r.want(t, "a", "b")
}

func TestPauseReadHoldsInput(t *testing.T) {
	r := &recorder{}
	d := Open(r, "")
	r.onData = func(c reactor.Conn, in []byte) (int, reactor.Action) {
		c.PauseRead()
		c.AfterFunc(time.Second, func(c reactor.Conn) { c.ResumeRead() })
		return 1, reactor.None // leaves the rest for later
	}
	d.Feed([]byte("ab"))
	if a := d.Feed([]byte("cd")); a != reactor.None || !d.C.Paused() {
		t.Errorf("Feed while paused = %v, paused %v; want none, true", a, d.C.Paused())
	}
	r.want(t, "data ab")
	r.onData = nil
	d.Advance(time.Second)
	r.want(t, "data bcd")
	if d.Run(); len(r.log) != 0 {
		t.Errorf("Run with nothing new called %q; want nothing", r.log)
	}
}

func TestBufferedIsWhatOutputHolds(t *testing.T) {
	c := NewConn("")
	c.Write([]byte("hello"))
	c.AsyncWrite([]byte(", world"))
	if got := c.Buffered(); got != 12 {
		t.Errorf("Buffered() = %d; want 12", got)
	}
	c.TakeOutput()
	if got := c.Buffered(); got != 0 {
		t.Errorf("Buffered() after TakeOutput = %d; want 0", got)
	}
}

// halfCloser relays nothing: on the peer's end of stream it writes a last word and shuts its
// own sending half.
type halfCloser struct {
	reactor.NopHandler
	closed []error
}

func (h *halfCloser) OnReadEOF(c reactor.Conn) reactor.Action {
	c.Write([]byte("bye"))
	c.CloseWrite()
	return reactor.None
}

func (h *halfCloser) OnClose(_ reactor.Conn, err error) { h.closed = append(h.closed, err) }

func TestEOFAndCloseWrite(t *testing.T) {
	h := &halfCloser{}
	d := Open(h, "")
	if a := d.EOF(); a != reactor.Close {
		t.Errorf("EOF = %v; want close once OnReadEOF shut the sending half too", a)
	}
	if string(d.C.Output()) != "bye" || !d.C.WriteClosed() || len(h.closed) != 1 || h.closed[0] != nil {
		t.Errorf("output %q, write closed %v, OnClose causes %v; want bye, true, [nil]", d.C.Output(), d.C.WriteClosed(), h.closed)
	}
	// Without HalfCloser the end of stream closes with io.EOF.
	var got error
	d = Open(closeRecorder{&got}, "")
	if d.EOF(); got != io.EOF {
		t.Errorf("plain handler closed with %v; want io.EOF", got)
	}
	// Writes after CloseWrite fail.
	c := NewConn("")
	c.CloseWrite()
	if _, err := c.Write([]byte("x")); !errors.Is(err, reactor.ErrConnClosed) || c.Closed() {
		t.Errorf("Write after CloseWrite: %v, closed %v; want ErrConnClosed and still open for reading", err, c.Closed())
	}
}

type closeRecorder struct{ err *error }

func (closeRecorder) OnOpen(reactor.Conn) {}
func (closeRecorder) OnData(_ reactor.Conn, in []byte) (int, reactor.Action) {
	return len(in), reactor.None
}
func (r closeRecorder) OnClose(_ reactor.Conn, err error) { *r.err = err }

func TestDialRecords(t *testing.T) {
	c := NewConn("")
	h := &halfCloser{}
	if err := c.Dial(context.Background(), "127.0.0.1:7000", h); err != nil {
		t.Fatal(err)
	}
	if ds := c.Dials(); len(ds) != 1 || ds[0].Addr != "127.0.0.1:7000" || ds[0].H != h {
		t.Errorf("Dials() = %+v; want the one call", ds)
	}
	c.Close()
	if err := c.Dial(context.Background(), "127.0.0.1:7000", h); !errors.Is(err, reactor.ErrConnClosed) {
		t.Errorf("Dial on a closed conn: %v; want ErrConnClosed", err)
	}
}
