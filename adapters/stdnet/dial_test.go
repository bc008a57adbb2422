package stdnet

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/reactorlab/reactor/reactor"
	"github.com/reactorlab/reactor/reactor/reactortest"
)

// failedDial records the Conn a failed dial's OnClose is given and uses every method of it
// there, where it must act as a closed connection's.
type failedDial struct {
	t      *testing.T
	closed chan reactor.Conn
}

func (f failedDial) OnOpen(reactor.Conn) { f.t.Errorf("OnOpen of a dial to a closed port") }

func (f failedDial) OnData(_ reactor.Conn, in []byte) (int, reactor.Action) {
	return len(in), reactor.None
}

func (f failedDial) OnClose(c reactor.Conn, err error) {
	if !errors.Is(err, reactor.ErrDialFailed) {
		f.t.Errorf("OnClose cause %v; want ErrDialFailed", err)
	}
	useClosed(f.t, c)
	f.closed <- c
}

// useClosed calls every method of c, a connection that was never made: none may panic, and
// those that can fail report ErrConnClosed.
func useClosed(t *testing.T, c reactor.Conn) {
	if _, err := c.Write([]byte("x")); !errors.Is(err, reactor.ErrConnClosed) {
		t.Errorf("Write: %v; want ErrConnClosed", err)
	}
	if err := c.AsyncWrite([]byte("x")); !errors.Is(err, reactor.ErrConnClosed) {
		t.Errorf("AsyncWrite: %v; want ErrConnClosed", err)
	}
	if err := c.Post(func(reactor.Conn) { t.Errorf("a function posted to a connection never made ran") }); !errors.Is(err, reactor.ErrConnClosed) {
		t.Errorf("Post: %v; want ErrConnClosed", err)
	}
	if err := c.Dial(context.Background(), "127.0.0.1:1", reactor.NopHandler{}); !errors.Is(err, reactor.ErrConnClosed) {
		t.Errorf("Dial: %v; want ErrConnClosed", err)
	}
	if stop := c.AfterFunc(time.Millisecond, func(reactor.Conn) { t.Errorf("a timer of a connection never made ran") }); stop() {
		t.Errorf("AfterFunc's stop reported a timer stopped; want none armed")
	}
	if err := c.CloseWrite(); err != nil {
		t.Errorf("CloseWrite: %v; want nil (nothing to do)", err)
	}
	c.PauseRead()
	c.ResumeRead()
	if err := c.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	c.Abort(nil)
	if c.LocalAddr() == nil || c.RemoteAddr() == nil || c.Buffered() != 0 {
		t.Errorf("LocalAddr %v, RemoteAddr %v, Buffered %d; want addresses and 0", c.LocalAddr(), c.RemoteAddr(), c.Buffered())
	}
}

// The Conn a failed dial's handler is given acts as a closed connection's, in OnClose and
// from other goroutines after: no method panics for want of a socket.
func TestFailedDialConnActsClosed(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := ln.Addr().String()
	ln.Close()
	f := failedDial{t: t, closed: make(chan reactor.Conn, 1)}
	_, addr := reactortest.Start(t, New, reactor.Config{}, dialOnOpen{t: t, addr: refused, h: f})
	reactortest.Dial(t, addr)
	select {
	case c := <-f.closed:
		useClosed(t, c)
		if got := c.RemoteAddr().String(); got != refused {
			t.Errorf("RemoteAddr of a dial never made: %s; want the address dialed, %s", got, refused)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no OnClose for a dial to a closed port")
	}
}

// dialOnOpen dials addr, to be served by h, from OnOpen of every connection it accepts.
type dialOnOpen struct {
	reactor.NopHandler
	t    *testing.T
	addr string
	h    reactor.Handler
}

func (d dialOnOpen) OnOpen(c reactor.Conn) {
	if err := c.Dial(context.Background(), d.addr, d.h); err != nil {
		d.t.Errorf("Dial: %v", err)
	}
}
