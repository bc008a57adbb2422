//go:build linux

package epoll

import (
	"bytes"
	"io"
	"net"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/reactorlab/reactor/reactor"
	"github.com/reactorlab/reactor/reactor/reactortest"
)

// Contract v2 on this package's own terms — timers in the loop, the two read pauses, OnDrain —
// on every shape of the loop: the edge-triggered one and the two other mechanisms take
// different paths through pause and resume.

var shapes = []struct {
	name string
	new  reactor.Constructor
}{
	{"epoll", New},
	{"edge", func(cfg reactor.Config) (reactor.Backend, error) {
		cfg.EdgeTriggered = true
		return New(cfg)
	}},
	{"poll", NewPoll},
	{"select", NewSelect},
}

// funcs is a handler made of functions; nil ones do what NopHandler does.
type funcs struct {
	open  func(reactor.Conn)
	data  func(reactor.Conn, []byte) (int, reactor.Action)
	close func(reactor.Conn, error)
	drain func(reactor.Conn)
}

func (h *funcs) OnOpen(c reactor.Conn) {
	if h.open != nil {
		h.open(c)
	}
}

func (h *funcs) OnData(c reactor.Conn, in []byte) (int, reactor.Action) {
	if h.data != nil {
		return h.data(c, in)
	}
	return len(in), reactor.None
}

func (h *funcs) OnClose(c reactor.Conn, err error) {
	if h.close != nil {
		h.close(c, err)
	}
}

// drainer is funcs that also implements reactor.Drainer.
type drainer struct{ funcs }

func (h *drainer) OnDrain(c reactor.Conn) { h.drain(c) }

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return c
}

func readN(t *testing.T, c net.Conn, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := io.ReadFull(c, b); err != nil {
		t.Fatalf("reading %d bytes: %v (got %q)", n, err, b)
	}
	return string(b)
}

// TestAfterFunc: timers run on the loop in deadline order, never early; stop reports whether
// it prevented the run, and a stop made for a fired timer does nothing to a later timer that
// reuses its node.
func TestAfterFunc(t *testing.T) {
	for _, sh := range shapes {
		t.Run(sh.name, func(t *testing.T) {
			var early atomic.Int32
			h := &funcs{open: func(c reactor.Conn) {
				armed := time.Now()
				after := func(d time.Duration, s string) func() bool {
					return c.AfterFunc(d, func(c reactor.Conn) {
						if time.Since(armed) < d {
							early.Add(1)
						}
						c.Write([]byte(s))
					})
				}
				after(30*time.Millisecond, "c")
				after(10*time.Millisecond, "a")
				stopped := after(15*time.Millisecond, "x")
				after(20*time.Millisecond, "b")
				if !stopped() {
					c.Write([]byte("stop of a pending timer said false;"))
				}
				if stopped() {
					c.Write([]byte("second stop said true;"))
				}
				// The stop of a timer that ran is stale: once its node serves the next
				// AfterFunc, it must neither stop that one nor say true.
				var first func() bool
				first = c.AfterFunc(0, func(c reactor.Conn) {
					second := c.AfterFunc(40*time.Millisecond, func(c reactor.Conn) { c.Write([]byte("d")) })
					if first() {
						c.Write([]byte("stale stop said true;"))
					}
					_ = second
				})
			}}
			_, addr := reactortest.Start(t, sh.new, reactor.Config{Loops: 1}, h)
			c := dial(t, addr)
			if got := readN(t, c, 4); got != "abcd" {
				t.Fatalf("timers wrote %q; want abcd (deadline order, the stopped one not at all)", got)
			}
			if n := early.Load(); n != 0 {
				t.Errorf("%d timers ran before their duration had passed", n)
			}
		})
	}
}

// TestAfterFuncStoppedAtClose: a connection's timers never run after OnClose, and AfterFunc
// on a closed connection returns a stop that does nothing.
func TestAfterFuncStoppedAtClose(t *testing.T) {
	var ran atomic.Int32
	closed := make(chan reactor.Conn, 1)
	h := &funcs{
		open: func(c reactor.Conn) {
			c.AfterFunc(30*time.Millisecond, func(reactor.Conn) { ran.Add(1) })
		},
		close: func(c reactor.Conn, err error) {
			if c.AfterFunc(0, func(reactor.Conn) { ran.Add(1) })() {
				ran.Add(100)
			}
			closed <- c
		},
	}
	_, addr := reactortest.Start(t, New, reactor.Config{Loops: 1}, h)
	c := dial(t, addr)
	c.Close()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("no OnClose")
	}
	time.Sleep(80 * time.Millisecond)
	if n := ran.Load(); n != 0 {
		t.Errorf("timers of a closed connection: %d ran (or stop said true); want none", n)
	}
}

// TestPauseRead: OnData is not called while paused, however much the peer sends; a ResumeRead
// from a posted function delivers it all, in order — and input the handler had left
// unconsumed is presented again without waiting for more.
func TestPauseRead(t *testing.T) {
	for _, sh := range shapes {
		t.Run(sh.name, func(t *testing.T) {
			var paused atomic.Bool
			var during atomic.Int32
			conns := make(chan reactor.Conn, 1)
			var got bytes.Buffer // owner only
			h := &funcs{
				open: func(c reactor.Conn) { conns <- c },
				data: func(c reactor.Conn, in []byte) (int, reactor.Action) {
					if paused.Load() {
						during.Add(1)
					}
					if got.Len() == 0 && len(in) > 0 && in[0] == 'P' {
						// Pause, keeping the first byte: it must come back on resume.
						paused.Store(true)
						c.PauseRead()
						got.WriteByte('P')
						return 0, reactor.None
					}
					got.Write(in)
					if bytes.HasSuffix(got.Bytes(), []byte("END")) {
						c.Write([]byte("sum"))
					}
					return len(in), reactor.None
				},
			}
			_, addr := reactortest.Start(t, sh.new, reactor.Config{Loops: 1}, h)
			c := dial(t, addr)
			sc := <-conns
			c.Write([]byte("P"))
			time.Sleep(20 * time.Millisecond)
			body := strings.Repeat("0123456789", 20000) // more than one read
			if _, err := c.Write([]byte(body + "END")); err != nil {
				t.Fatal(err)
			}
			time.Sleep(50 * time.Millisecond)
			if n := during.Load(); n != 0 {
				t.Fatalf("OnData ran %d times while paused", n)
			}
			sc.Post(func(c reactor.Conn) {
				paused.Store(false)
				c.ResumeRead()
			})
			if got := readN(t, c, 3); got != "sum" {
				t.Fatalf("reply %q", got)
			}
			check := make(chan string, 1)
			sc.Post(func(reactor.Conn) { check <- got.String() })
			if s := <-check; s != "PP"+body+"END" {
				t.Errorf("delivered %d bytes, starting %q; want the kept byte again, then everything in order", len(s), s[:min(len(s), 8)])
			}
		})
	}
}

// TestPauseReadApartFromBackpressure: the loop's own pause (output above half the high-water
// mark) lifting does not lift the handler's PauseRead.
func TestPauseReadApartFromBackpressure(t *testing.T) {
	for _, sh := range shapes {
		t.Run(sh.name, func(t *testing.T) {
			const max = 16 << 20 // half of it is more than loopback's socket buffers take
			var held atomic.Bool
			var during atomic.Int32
			conns := make(chan reactor.Conn, 1)
			wrote := make(chan struct{}, 1)
			h := &funcs{
				open: func(c reactor.Conn) { conns <- c },
				data: func(c reactor.Conn, in []byte) (int, reactor.Action) {
					if held.Load() {
						during.Add(1)
					}
					if in[0] == 'B' {
						// Past half the mark: the loop stops reading until the peer takes it.
						c.Write(make([]byte, max/2+1))
						held.Store(true)
						c.PauseRead()
						wrote <- struct{}{}
					}
					return len(in), reactor.None
				},
			}
			_, addr := reactortest.Start(t, sh.new, reactor.Config{Loops: 1, MaxOutbound: max}, h)
			c := dial(t, addr)
			sc := <-conns
			c.Write([]byte("B"))
			<-wrote
			if n := sc.Buffered(); n <= max/4 {
				t.Fatalf("Buffered = %d after a Write of %d; the loop's own pause needs more than %d pending", n, max/2+1, max/4)
			}
			readN(t, c, max/2+1) // backpressure lifts as this drains
			c.Write([]byte("more"))
			time.Sleep(50 * time.Millisecond)
			if n := during.Load(); n != 0 {
				t.Fatalf("OnData ran %d times while PauseRead held, after the backpressure lifted", n)
			}
			done := make(chan struct{})
			sc.Post(func(c reactor.Conn) { held.Store(false); c.ResumeRead(); c.Write([]byte("!")) })
			go func() { readN(t, c, 1); close(done) }()
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("no reply after ResumeRead")
			}
		})
	}
}

// TestDrain: OnDrain comes once pending output, having been above LowWater, falls to it or
// below, and Buffered says what is pending meanwhile; no OnDrain for output that never went
// above the mark.
func TestDrain(t *testing.T) {
	for _, sh := range shapes {
		t.Run(sh.name, func(t *testing.T) {
			// big is past what loopback's socket buffers take, so some of it waits for the peer.
			const low, big = 16 << 10, 8 << 20
			buffered := make(chan int, 2)
			drained := make(chan int, 4)
			h := &drainer{funcs{
				data: func(c reactor.Conn, in []byte) (int, reactor.Action) {
					switch in[0] {
					case 's':
						c.Write([]byte("small"))
					case 'b':
						c.Write(make([]byte, big))
						buffered <- c.Buffered()
					}
					return 1, reactor.None
				},
			}}
			h.drain = func(c reactor.Conn) { drained <- c.Buffered() }
			_, addr := reactortest.Start(t, sh.new, reactor.Config{Loops: 1, LowWater: low, MaxOutbound: 2 * big}, h)
			c := dial(t, addr)
			c.Write([]byte("s"))
			readN(t, c, 5)
			c.Write([]byte("b"))
			if n := <-buffered; n != big {
				t.Errorf("Buffered after a Write of %d = %d", big, n)
			}
			time.Sleep(50 * time.Millisecond) // the peer has not read: the socket holds less than big
			select {
			case n := <-drained:
				t.Fatalf("OnDrain with %d pending, before the peer read", n)
			default:
			}
			readN(t, c, big)
			select {
			case n := <-drained:
				if n > low {
					t.Errorf("OnDrain with %d pending; want at most %d", n, low)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("no OnDrain after the peer read everything")
			}
			c.Write([]byte("s"))
			readN(t, c, 5)
			select {
			case <-drained:
				t.Error("a second OnDrain, for output that never passed the mark")
			case <-time.After(20 * time.Millisecond):
			}
		})
	}
}

// TestConnSize pins the memory of an idle connection: the struct grew by one pointer (its
// timers) for contract v2 and won it back with a descriptor in 32 bits and no padding; Dial's
// handler pointer and half-closing's flags were paid for by moving Abort's cause to the loop.
// A timer node is small.
func TestConnSize(t *testing.T) {
	if n := unsafe.Sizeof(conn{}); n > 208 {
		t.Errorf("conn is %d bytes; want at most 208", n)
	}
	if n := unsafe.Sizeof(timer{}); n > 48 {
		t.Errorf("timer is %d bytes; want at most 48", n)
	}
}

// TestWrittenConnKeepsNoWriteList: a connection that has written and flushed keeps no list of
// its outbound chunks; the loop flushes every connection through one list of its own.
func TestWrittenConnKeepsNoWriteList(t *testing.T) {
	opened := make(chan reactor.Conn, 1)
	h := &funcs{
		open: func(c reactor.Conn) { opened <- c },
		data: func(c reactor.Conn, in []byte) (int, reactor.Action) {
			c.Write(in)
			return len(in), reactor.None
		},
	}
	_, addr := start(t, reactor.Config{Loops: 1}, h)
	cl := dial(t, addr)
	cl.Write([]byte("hello"))
	readN(t, cl, 5)
	c := <-opened
	// The echo has been read, so the loop has written it; a post runs after that flush.
	kept := make(chan int, 1)
	if err := c.Post(func(c reactor.Conn) {
		kept <- reflect.ValueOf(&c.(*conn).out).Elem().FieldByName("vec").Cap()
	}); err != nil {
		t.Fatal(err)
	}
	if n := <-kept; n != 0 {
		t.Errorf("a connection that has written keeps a list of %d slices; want none", n)
	}
}
