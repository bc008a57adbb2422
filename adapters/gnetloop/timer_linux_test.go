//go:build linux

package gnetloop

import (
	"net"
	"testing"
	"time"

	"github.com/reactorlab/reactor/reactor"
	"github.com/reactorlab/reactor/reactor/reactortest"
)

// TestAfterFunc: f runs on the loop no earlier than d; stop says true while f is yet to run —
// also once the timer has fired and its run waits behind the loop's current work — and false
// after it ran; the timers of a closed connection never fire.
func TestAfterFunc(t *testing.T) {
	conns := make(chan reactor.Conn, 1)
	oc := reactortest.NewOrderChecker(funcOpen(func(c reactor.Conn) { conns <- c }))
	b, addr := reactortest.Start(t, New, reactor.Config{Loops: 1}, oc)
	defer reactortest.Stop(t, b)
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	sc := <-conns
	onLoop := func(f func(c reactor.Conn)) {
		done := make(chan struct{})
		if err := sc.Post(func(c reactor.Conn) { f(c); close(done) }); err != nil {
			t.Fatalf("Post: %v", err)
		}
		<-done
	}

	const d = 30 * time.Millisecond
	fired := make(chan time.Duration, 1)
	var stop func() bool
	onLoop(func(c reactor.Conn) {
		start := time.Now()
		stop = c.AfterFunc(d, func(reactor.Conn) { fired <- time.Since(start) })
	})
	if got := <-fired; got < d {
		t.Errorf("f ran after %v; want at least %v", got, d)
	}
	onLoop(func(reactor.Conn) {
		if stop() {
			t.Error("stop after f ran = true; want false")
		}
	})

	// The timer fires while the loop is busy; the run it posted waits, and stop still wins.
	onLoop(func(c reactor.Conn) {
		stop = c.AfterFunc(time.Millisecond, func(reactor.Conn) { t.Error("f ran after stop returned true") })
		time.Sleep(20 * time.Millisecond)
		if !stop() {
			t.Error("stop of a fired timer whose run waits = false; want true")
		}
		if stop() {
			t.Error("a second stop = true; want false")
		}
	})

	// Close stops the rest; their stop then reports false.
	onLoop(func(c reactor.Conn) {
		stop = c.AfterFunc(20*time.Millisecond, func(reactor.Conn) { t.Error("f ran after close") })
	})
	nc.Close()
	time.Sleep(60 * time.Millisecond)
	if stop() {
		t.Error("stop after close = true; want false")
	}
	reactortest.Stop(t, b)
	oc.Check(t)
}

// funcOpen is a handler that calls open from OnOpen.
type funcOpen func(reactor.Conn)

func (f funcOpen) OnOpen(c reactor.Conn)                                { f(c) }
func (funcOpen) OnData(_ reactor.Conn, in []byte) (int, reactor.Action) { return len(in), reactor.None }
func (funcOpen) OnClose(reactor.Conn, error)                            {}
