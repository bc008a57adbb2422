//go:build linux

package gnetloop

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/reactorlab/reactor/reactor"
	"github.com/reactorlab/reactor/reactor/reactortest"
)

// goid is the calling goroutine's id: a connection's callbacks all run on its loop's goroutine.
func goid() uint64 {
	var buf [64]byte
	s := buf[:runtime.Stack(buf[:], false)]
	s = bytes.TrimPrefix(s, []byte("goroutine "))
	id, _ := strconv.ParseUint(string(s[:bytes.IndexByte(s, ' ')]), 10, 64)
	return id
}

// target is a plain listener that greets each connection and echoes what it reads; it
// records the peer address of each connection it accepts.
type target struct {
	ln    net.Listener
	peers chan string
}

const greeting = "target says hi\n"

func newTarget(t *testing.T) *target {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tg := &target{ln: ln, peers: make(chan string, 64)}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() { // exits when the listener is closed
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			tg.peers <- c.RemoteAddr().String()
			wg.Add(1)
			go func() { // exits when the peer closes
				defer wg.Done()
				defer c.Close()
				io.WriteString(c, greeting)
				io.Copy(c, c)
			}()
		}
	}()
	return tg
}

func (tg *target) addr() string { return tg.ln.Addr().String() }

// silentAddr is an address whose connects neither succeed nor fail: a listener with a backlog
// of zero, its one queue slot taken by a connection nobody accepts, so the kernel drops the
// SYNs of any other until the connect gives up.
func silentAddr(t *testing.T) string {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(sa.(*unix.SockaddrInet4).Port)
	filler, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { filler.Close() })
	return addr
}

// refusedAddr is an address with nothing listening.
func refusedAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// dialEvent is what happened to one dialed connection, as its handler saw it.
type dialEvent struct {
	what   string // "open" or "close"
	c      reactor.Conn
	err    error
	gid    uint64
	nodely int // TCP_NODELAY on the socket, at OnOpen
}

// dialed serves a dialed connection: it reports its open and close, writes hello as it
// opens and relays what it receives to the connection that asked for it.
type dialed struct {
	asker  reactor.Conn
	events chan dialEvent
}

func (h *dialed) OnOpen(c reactor.Conn) {
	ev := dialEvent{what: "open", c: c, gid: goid()}
	ev.nodely, _ = unix.GetsockoptInt(c.(*conn).gc.Fd(), unix.IPPROTO_TCP, unix.TCP_NODELAY)
	h.events <- ev
	c.Write([]byte("hello\n"))
}

func (h *dialed) OnData(c reactor.Conn, in []byte) (int, reactor.Action) {
	h.asker.AsyncWrite(in)
	return len(in), reactor.None
}

func (h *dialed) OnClose(c reactor.Conn, err error) {
	h.events <- dialEvent{what: "close", c: c, err: err, gid: goid()}
}

// asker dials addr (with ctx, when set) as soon as a connection sends a line, and reports the
// conn and the goroutine it asked from.
type asker struct {
	reactor.NopHandler
	addr   string
	ctx    func() context.Context
	asked  chan dialEvent
	events chan dialEvent
}

func (h *asker) OnData(c reactor.Conn, in []byte) (int, reactor.Action) {
	ctx := context.Background()
	if h.ctx != nil {
		ctx = h.ctx()
	}
	err := c.Dial(ctx, h.addr, &dialed{asker: c, events: h.events})
	h.asked <- dialEvent{what: "asked", c: c, err: err, gid: goid()}
	return len(in), reactor.None
}

func newAsker(addr string) *asker {
	return &asker{addr: addr, asked: make(chan dialEvent, 64), events: make(chan dialEvent, 64)}
}

// ask connects to the server and has it dial; it returns the client and what the server's
// Dial call saw.
func (h *asker) ask(t *testing.T, srv string) (*net.TCPConn, dialEvent) {
	t.Helper()
	c := reactortest.Dial(t, srv)
	io.WriteString(c, "dial\n")
	select {
	case ev := <-h.asked:
		if ev.err != nil {
			t.Fatalf("Dial: %v", ev.err)
		}
		return c, ev
	case <-time.After(5 * time.Second):
		t.Fatal("the server's handler never saw the request")
	}
	return nil, dialEvent{}
}

// next waits for the next open or close of a dialed connection.
func (h *asker) next(t *testing.T, within time.Duration) dialEvent {
	t.Helper()
	select {
	case ev := <-h.events:
		return ev
	case <-time.After(within):
		t.Fatalf("no OnOpen or OnClose of the dialed connection within %v", within)
	}
	return dialEvent{}
}

// TestDial: a dialed connection is served on the loop of the connection that asked (its
// callbacks run on the same goroutine, its gnet loop is the same), its addresses are those of
// the socket, TCP_NODELAY is set as on accepted ones, and bytes flow both ways.
func TestDial(t *testing.T) {
	forModes(t, func(t *testing.T, cfg reactor.Config) {
		tg := newTarget(t)
		h := newAsker(tg.addr())
		cfg.Loops = 4
		b, addr := reactortest.Start(t, New, cfg, h)
		defer reactortest.Stop(t, b)
		for i := 0; i < 8; i++ { // across the loops, round-robin
			c, asked := h.ask(t, addr)
			open := h.next(t, 5*time.Second)
			if open.what != "open" {
				t.Fatalf("dialed connection: %s (%v); want open", open.what, open.err)
			}
			if open.gid != asked.gid {
				t.Errorf("OnOpen ran on goroutine %d; the asker's callback on %d: want the same loop", open.gid, asked.gid)
			}
			if got, want := open.c.(*conn).gc.EventLoop(), asked.c.(*conn).gc.EventLoop(); got != want {
				t.Errorf("dialed connection's gnet loop %p; the asker's %p", got, want)
			}
			if got := open.c.RemoteAddr().String(); got != tg.addr() {
				t.Errorf("RemoteAddr() = %s; want the target's %s", got, tg.addr())
			}
			if got, want := open.c.LocalAddr().String(), <-tg.peers; got != want {
				t.Errorf("LocalAddr() = %s; the target sees the peer as %s", got, want)
			}
			if open.nodely != 1 {
				t.Errorf("TCP_NODELAY = %d on the dialed socket; want 1", open.nodely)
			}
			want := greeting + "hello\n" // the target's greeting, then its echo of ours
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			got := make([]byte, len(want))
			if _, err := io.ReadFull(c, got); err != nil || string(got) != want {
				t.Errorf("relayed %q, %v; want %q", got, err, want)
			}
		}
	})
}

// TestDialFails: a dial that cannot connect ends in OnClose on the asker's loop, with a cause
// that wraps ErrDialFailed and the reason; OnOpen is never called. Dial itself fails only
// for a malformed address or a closing connection.
func TestDialFails(t *testing.T) {
	forModes(t, func(t *testing.T, cfg reactor.Config) {
		for _, tc := range []struct {
			name    string
			addr    func(t *testing.T) string
			timeout time.Duration
			ctx     func() context.Context
			want    error
		}{
			{"Refused", refusedAddr, 0, nil, syscall.ECONNREFUSED},
			{"Timeout", silentAddr, 100 * time.Millisecond, nil, context.DeadlineExceeded},
			{"ContextDeadline", silentAddr, 0, func() context.Context {
				ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
				time.AfterFunc(time.Second, cancel)
				return ctx
			}, context.DeadlineExceeded},
			{"ContextCancelled", silentAddr, 0, func() context.Context {
				ctx, cancel := context.WithCancel(context.Background())
				time.AfterFunc(100*time.Millisecond, cancel)
				return ctx
			}, context.Canceled},
		} {
			t.Run(tc.name, func(t *testing.T) {
				h := newAsker(tc.addr(t))
				h.ctx = tc.ctx
				cfg := cfg
				cfg.DialTimeout = tc.timeout
				b, addr := reactortest.Start(t, New, cfg, h)
				defer reactortest.Stop(t, b)
				_, asked := h.ask(t, addr)
				ev := h.next(t, 5*time.Second)
				if ev.what != "close" {
					t.Fatalf("dialed connection: %s; want close", ev.what)
				}
				if !errors.Is(ev.err, reactor.ErrDialFailed) || !errors.Is(ev.err, tc.want) {
					t.Errorf("OnClose(%v); want ErrDialFailed and %v", ev.err, tc.want)
				}
				if ev.gid != asked.gid {
					t.Errorf("OnClose ran on goroutine %d; the asker's callback on %d: want the same loop", ev.gid, asked.gid)
				}
				if ev.c.Write([]byte("x")); ev.c.AsyncWrite([]byte("x")) != reactor.ErrConnClosed {
					t.Errorf("AsyncWrite on a connection never made: want ErrConnClosed")
				}
				select {
				case ev := <-h.events:
					t.Errorf("then %s (%v); want nothing more", ev.what, ev.err)
				case <-time.After(50 * time.Millisecond):
				}
			})
		}
	})
}

// refusing has Dial refuse: a malformed address, then a connection already closing.
type refusing struct {
	reactor.NopHandler
	errs chan error
}

func (h *refusing) OnData(c reactor.Conn, in []byte) (int, reactor.Action) {
	never := funcOpen(func(reactor.Conn) { panic("a refused Dial's handler was called") })
	for _, addr := range []string{"nonsense", "127.0.0.1:0", "127.0.0.1:http"} {
		h.errs <- c.Dial(context.Background(), addr, never)
	}
	c.Close()
	h.errs <- c.Dial(context.Background(), "127.0.0.1:1", never)
	return len(in), reactor.None
}

func TestDialRefusesToBegin(t *testing.T) {
	h := &refusing{errs: make(chan error, 4)}
	b, addr := reactortest.Start(t, New, reactor.Config{Loops: 1}, h)
	defer reactortest.Stop(t, b)
	c := reactortest.Dial(t, addr)
	io.WriteString(c, "x")
	for i := 0; i < 3; i++ {
		if err := <-h.errs; err == nil || errors.Is(err, reactor.ErrConnClosed) {
			t.Errorf("Dial with a malformed address: %v; want an address error", err)
		}
	}
	if err := <-h.errs; !errors.Is(err, reactor.ErrConnClosed) {
		t.Errorf("Dial from a closing connection: %v; want ErrConnClosed", err)
	}
}

// TestDialShutdown: Shutdown cancels a dial in flight, whose handler gets OnClose with
// ErrDialFailed and ErrServerClosed, once, before Shutdown returns and long before the dial
// would have timed out; and it closes dialed connections like accepted ones, OnClose with
// ErrServerClosed and an end of stream for the peer.
func TestDialShutdown(t *testing.T) {
	forModes(t, func(t *testing.T, cfg reactor.Config) {
		t.Run("Pending", func(t *testing.T) {
			h := newAsker(silentAddr(t))
			cfg := cfg
			cfg.DialTimeout = time.Minute
			b, addr := reactortest.Start(t, New, cfg, h)
			for i := 0; i < 4; i++ {
				h.ask(t, addr)
			}
			time.Sleep(50 * time.Millisecond)
			begun := time.Now()
			reactortest.Stop(t, b)
			if d := time.Since(begun); d > 2*time.Second {
				t.Errorf("Shutdown took %v with dials pending; want them cancelled", d)
			}
			for i := 0; i < 4; i++ {
				select {
				case ev := <-h.events:
					if ev.what != "close" || !errors.Is(ev.err, reactor.ErrDialFailed) || !errors.Is(ev.err, reactor.ErrServerClosed) {
						t.Errorf("dial %d: %s (%v); want close with ErrDialFailed and ErrServerClosed", i, ev.what, ev.err)
					}
				default:
					t.Fatalf("%d of 4 pending dials answered when Shutdown returned", i)
				}
			}
			select {
			case ev := <-h.events:
				t.Errorf("then %s (%v); want each dial answered once", ev.what, ev.err)
			case <-time.After(50 * time.Millisecond):
			}
		})
		t.Run("Open", func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			h := newAsker(ln.Addr().String())
			b, addr := reactortest.Start(t, New, cfg, h)
			h.ask(t, addr)
			peer, err := ln.Accept()
			if err != nil {
				t.Fatal(err)
			}
			defer peer.Close()
			if ev := h.next(t, 5*time.Second); ev.what != "open" {
				t.Fatalf("dialed connection: %s (%v); want open", ev.what, ev.err)
			}
			reactortest.Stop(t, b)
			select {
			case ev := <-h.events:
				if ev.what != "close" || ev.err != reactor.ErrServerClosed {
					t.Errorf("dialed connection at Shutdown: %s (%v); want close with ErrServerClosed", ev.what, ev.err)
				}
			default:
				t.Fatal("the dialed connection was not closed when Shutdown returned")
			}
			peer.SetReadDeadline(time.Now().Add(5 * time.Second))
			if got, err := io.ReadAll(peer); string(got) != "hello\n" || err != nil {
				t.Errorf("the dialed peer read %q, %v; want hello, then the end of stream", got, err)
			}
		})
	})
}
