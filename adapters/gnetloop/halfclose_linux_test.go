//go:build linux

package gnetloop

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/reactorlab/reactor/reactor"
	"github.com/reactorlab/reactor/reactor/reactortest"
)

// scripted is a handler whose callbacks the test supplies; every callback it does not supply
// consumes, or does nothing. It records the order of events and how the connection closed.
type scripted struct {
	open   func(c reactor.Conn)
	data   func(c reactor.Conn, in []byte) (int, reactor.Action)
	eof    func(c reactor.Conn) reactor.Action // nil: not a HalfCloser (see plain)
	log    chan string                         // "data N", "eof", in order
	closed chan error
	conns  chan reactor.Conn
}

func newScripted() *scripted {
	return &scripted{log: make(chan string, 1024), closed: make(chan error, 16), conns: make(chan reactor.Conn, 16)}
}

func (h *scripted) OnOpen(c reactor.Conn) {
	if h.open != nil {
		h.open(c)
	}
	h.conns <- c
}

func (h *scripted) OnData(c reactor.Conn, in []byte) (int, reactor.Action) {
	h.log <- "data " + strconv.Itoa(len(in))
	if h.data != nil {
		return h.data(c, in)
	}
	return len(in), reactor.None
}

func (h *scripted) OnReadEOF(c reactor.Conn) reactor.Action {
	h.log <- "eof"
	return h.eof(c)
}

func (h *scripted) OnClose(_ reactor.Conn, err error) { h.closed <- err }

// plain hides OnReadEOF: the handler is no HalfCloser.
type plain struct{ h *scripted }

func (p plain) OnOpen(c reactor.Conn)                                  { p.h.OnOpen(c) }
func (p plain) OnData(c reactor.Conn, in []byte) (int, reactor.Action) { return p.h.OnData(c, in) }
func (p plain) OnClose(c reactor.Conn, err error)                      { p.h.OnClose(c, err) }

// closedWith waits for OnClose and returns its cause.
func (h *scripted) closedWith(t *testing.T) error {
	t.Helper()
	select {
	case err := <-h.closed:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("OnClose not called within 10s")
	}
	return nil
}

// events drains the log of what happened so far.
func (h *scripted) events() []string {
	var got []string
	for {
		select {
		case e := <-h.log:
			got = append(got, e)
		default:
			return got
		}
	}
}

// readAll reads what the server sends until its end of stream.
func readAll(t *testing.T, c net.Conn) ([]byte, error) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	return io.ReadAll(c)
}

// big is a reply past what the loopback socket buffers of a peer that does not read hold.
var big = strings.Repeat("0123456789abcdef", 512<<10) // 8 MiB

// bigCfg lets the server hold big.
func bigCfg(cfg reactor.Config) reactor.Config {
	cfg.MaxOutbound = 4 * len(big)
	return cfg
}

// TestCloseWrite: CloseWrite sends FIN after the output written before it — all of it, also
// what gnet still held — while the connection goes on receiving; writes after it fail with
// ErrConnClosed, and a second CloseWrite does nothing. The peer's end of stream then closes a
// handler that is no HalfCloser with io.EOF.
func TestCloseWrite(t *testing.T) {
	forModes(t, func(t *testing.T, cfg reactor.Config) {
		h := newScripted()
		writeErrs := make(chan error, 2)
		h.data = func(c reactor.Conn, in []byte) (int, reactor.Action) {
			if string(in) == "reply" {
				c.Write([]byte(big))
				if err := c.CloseWrite(); err != nil {
					t.Errorf("CloseWrite: %v", err)
				}
				c.CloseWrite()
				_, err := c.Write([]byte("late"))
				writeErrs <- err
				writeErrs <- c.AsyncWrite([]byte("late"))
			}
			return len(in), reactor.None
		}
		b, addr := reactortest.Start(t, New, bigCfg(cfg), plain{h})
		defer reactortest.Stop(t, b)
		c := reactortest.Dial(t, addr)
		<-h.conns
		io.WriteString(c, "reply")
		for i := 0; i < 2; i++ {
			if err := <-writeErrs; !errors.Is(err, reactor.ErrConnClosed) {
				t.Errorf("write after CloseWrite: %v; want ErrConnClosed", err)
			}
		}
		time.Sleep(50 * time.Millisecond) // gnet holds most of the reply: the peer has not read
		got, err := readAll(t, c)
		if err != nil || string(got) != big {
			t.Fatalf("peer read %d of %d bytes, then %v; want all, then the end of stream", len(got), len(big), err)
		}
		io.WriteString(c, "after")
		c.CloseWrite()
		if err := h.closedWith(t); err != io.EOF {
			t.Errorf("OnClose(%v); want io.EOF once the peer ended too", err)
		}
		if got, want := strings.Join(h.events(), ", "), "data 5, data 5"; got != want {
			t.Errorf("events %s; want %s: input goes on after CloseWrite", got, want)
		}
	})
}

// TestHalfCloser: a HalfCloser hears of the peer's end of stream by OnReadEOF, after the last
// OnData, and may go on writing — past what the socket takes at once — until it ends the
// connection, whichever way; the peer gets every byte, then the end of stream.
func TestHalfCloser(t *testing.T) {
	forModes(t, func(t *testing.T, cfg reactor.Config) {
		for _, tc := range []struct {
			name string
			eof  func(c reactor.Conn) reactor.Action
			want error // OnClose's cause
		}{
			{"CloseWrite", func(c reactor.Conn) reactor.Action {
				c.Write([]byte(big))
				c.CloseWrite()
				return reactor.None
			}, nil},
			{"CloseAction", func(c reactor.Conn) reactor.Action {
				c.Write([]byte(big))
				return reactor.Close
			}, nil},
			{"Later", func(c reactor.Conn) reactor.Action {
				// Write later, from a timer and from another goroutine, then close.
				c.AfterFunc(20*time.Millisecond, func(c reactor.Conn) {
					c.Write([]byte(big[:len(big)/2]))
					go func() {
						c.AsyncWrite([]byte(big[len(big)/2:]))
						c.Close()
					}()
				})
				return reactor.None
			}, nil},
		} {
			t.Run(tc.name, func(t *testing.T) {
				h := newScripted()
				h.eof = tc.eof
				b, addr := reactortest.Start(t, New, bigCfg(cfg), h)
				defer reactortest.Stop(t, b)
				c := reactortest.Dial(t, addr)
				<-h.conns
				io.WriteString(c, "request")
				c.CloseWrite()
				time.Sleep(50 * time.Millisecond) // the reply outgrows the socket buffers
				got, err := readAll(t, c)
				if err != nil || string(got) != big {
					t.Errorf("peer read %d of %d bytes, then %v; want all, then the end of stream", len(got), len(big), err)
				}
				if err := h.closedWith(t); err != tc.want {
					t.Errorf("OnClose(%v); want %v", err, tc.want)
				}
				if got, want := strings.Join(h.events(), ", "), "data 7, eof"; got != want {
					t.Errorf("events %s; want %s", got, want)
				}
			})
		}
		t.Run("CloseWriteFirst", func(t *testing.T) {
			// CloseWrite before the peer's end of stream: OnReadEOF still comes, then the
			// connection closes with a nil cause, writes failing in between.
			h := newScripted()
			h.data = func(c reactor.Conn, in []byte) (int, reactor.Action) {
				c.Write([]byte("bye"))
				c.CloseWrite()
				return len(in), reactor.None
			}
			writeErr := make(chan error, 1)
			h.eof = func(c reactor.Conn) reactor.Action {
				_, err := c.Write([]byte("x"))
				writeErr <- err
				return reactor.None
			}
			b, addr := reactortest.Start(t, New, cfg, h)
			defer reactortest.Stop(t, b)
			c := reactortest.Dial(t, addr)
			<-h.conns
			io.WriteString(c, "hi")
			if got, err := readAll(t, c); string(got) != "bye" || err != nil {
				t.Errorf("peer read %q, %v; want bye, then the end of stream", got, err)
			}
			c.CloseWrite()
			if err := h.closedWith(t); err != nil {
				t.Errorf("OnClose(%v); want nil", err)
			}
			if err := <-writeErr; !errors.Is(err, reactor.ErrConnClosed) {
				t.Errorf("Write in OnReadEOF after CloseWrite: %v; want ErrConnClosed", err)
			}
			if got, want := strings.Join(h.events(), ", "), "data 2, eof"; got != want {
				t.Errorf("events %s; want %s", got, want)
			}
		})
		t.Run("Panic", func(t *testing.T) {
			h := newScripted()
			h.eof = func(reactor.Conn) reactor.Action { panic("test panic in OnReadEOF") }
			cfg := cfg
			cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil)) // the panic's stack
			b, addr := reactortest.Start(t, New, cfg, h)
			defer reactortest.Stop(t, b)
			c := reactortest.Dial(t, addr)
			<-h.conns
			c.CloseWrite()
			if err := h.closedWith(t); !errors.Is(err, reactor.ErrHandlerPanic) {
				t.Errorf("OnClose(%v); want ErrHandlerPanic", err)
			}
			if _, err := readAll(t, c); !errors.Is(err, syscall.ECONNRESET) {
				t.Errorf("peer read %v; want ECONNRESET", err)
			}
		})
		t.Run("Shutdown", func(t *testing.T) {
			// A connection that outlived the peer's end of stream is closed by Shutdown like
			// any other.
			h := newScripted()
			h.eof = func(c reactor.Conn) reactor.Action {
				c.Write([]byte("still here"))
				return reactor.None
			}
			b, addr := reactortest.Start(t, New, cfg, h)
			c := reactortest.Dial(t, addr)
			<-h.conns
			c.CloseWrite()
			buf := make([]byte, len("still here"))
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, err := io.ReadFull(c, buf); err != nil {
				t.Fatalf("peer: %v", err)
			}
			reactortest.Stop(t, b)
			select {
			case err := <-h.closed:
				if err != reactor.ErrServerClosed {
					t.Errorf("OnClose(%v); want ErrServerClosed", err)
				}
			default:
				t.Error("OnClose not called when Shutdown returned")
			}
			if got, err := readAll(t, c); len(got) != 0 || err != nil {
				t.Errorf("peer read %q, %v; want the end of stream", got, err)
			}
		})
	})
}

// TestEOFFlushes: a handler that is no HalfCloser, whose reply the socket has not taken when
// the peer's end of stream arrives (a client that sends its request and FIN together and reads
// later), still has all of it sent before the close, OnClose following with io.EOF. gnet alone
// would send what the socket takes at once and drop the rest.
func TestEOFFlushes(t *testing.T) {
	forModes(t, func(t *testing.T, cfg reactor.Config) {
		h := newScripted()
		h.data = func(c reactor.Conn, in []byte) (int, reactor.Action) {
			c.Write([]byte(big))
			return len(in), reactor.None
		}
		b, addr := reactortest.Start(t, New, bigCfg(cfg), plain{h})
		defer reactortest.Stop(t, b)
		c := reactortest.Dial(t, addr)
		<-h.conns
		io.WriteString(c, "request")
		c.CloseWrite()
		time.Sleep(100 * time.Millisecond)
		got, err := readAll(t, c)
		if err != nil || string(got) != big {
			t.Errorf("peer read %d of %d bytes, then %v; want all, then the end of stream", len(got), len(big), err)
		}
		if err := h.closedWith(t); err != io.EOF {
			t.Errorf("OnClose(%v); want io.EOF", err)
		}
	})
}

// TestHalfCloserPaused: a paused connection hears of the end of stream only once it resumes,
// after the input that waited.
func TestHalfCloserPaused(t *testing.T) {
	h := newScripted()
	var resumed atomic.Bool
	h.open = func(c reactor.Conn) {
		c.PauseRead()
		c.AfterFunc(200*time.Millisecond, func(c reactor.Conn) {
			resumed.Store(true)
			c.ResumeRead()
		})
	}
	h.eof = func(c reactor.Conn) reactor.Action {
		if !resumed.Load() {
			t.Error("OnReadEOF while paused")
		}
		c.Write([]byte("done"))
		return reactor.Close
	}
	b, addr := reactortest.Start(t, New, reactor.Config{Loops: 1}, h)
	defer reactortest.Stop(t, b)
	c := reactortest.Dial(t, addr)
	<-h.conns
	io.WriteString(c, "while paused")
	c.CloseWrite()
	if got, err := readAll(t, c); string(got) != "done" || err != nil {
		t.Errorf("peer read %q, %v; want done, then the end of stream", got, err)
	}
	if err := h.closedWith(t); err != nil {
		t.Errorf("OnClose(%v); want nil", err)
	}
	if got, want := strings.Join(h.events(), ", "), "data 12, eof"; got != want {
		t.Errorf("events %s; want %s", got, want)
	}
}

// TestHalfCloserReset: a connection kept open after the peer's end of stream learns of the
// peer's reset at its next write, and closes with that error.
func TestHalfCloserReset(t *testing.T) {
	forModes(t, func(t *testing.T, cfg reactor.Config) {
		h := newScripted()
		h.eof = func(c reactor.Conn) reactor.Action { return reactor.None }
		b, addr := reactortest.Start(t, New, cfg, h)
		defer reactortest.Stop(t, b)
		c := reactortest.Dial(t, addr)
		sc := <-h.conns
		c.CloseWrite()
		for len(h.events()) == 0 {
			time.Sleep(5 * time.Millisecond)
		}
		c.SetLinger(0)
		c.Close()
		time.Sleep(50 * time.Millisecond)
		for i := 0; i < 3; i++ { // the first write may still be taken by the kernel
			sc.AsyncWrite(bytes.Repeat([]byte("x"), 1024))
			time.Sleep(20 * time.Millisecond)
		}
		if err := h.closedWith(t); !errors.Is(err, syscall.ECONNRESET) && !errors.Is(err, syscall.EPIPE) {
			t.Errorf("OnClose(%v); want ECONNRESET or EPIPE", err)
		}
	})
}
