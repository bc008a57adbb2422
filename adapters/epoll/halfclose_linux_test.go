//go:build linux

package epoll

import (
	"errors"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/reactorlab/reactor/reactor"
	"github.com/reactorlab/reactor/reactor/reactortest"
	"golang.org/x/sys/unix"
)

// CloseWrite, HalfCloser and Abort's reset, on every shape of the loop: level- and
// edge-triggered epoll take different paths at the end of stream, and poll and select report
// hang-ups differently.

// halfFuncs is funcs that also implements reactor.HalfCloser.
type halfFuncs struct {
	funcs
	eof func(reactor.Conn) reactor.Action
}

func (h *halfFuncs) OnReadEOF(c reactor.Conn) reactor.Action { return h.eof(c) }

// closeCause waits for the cause OnClose sent on ch.
func closeCause(t *testing.T, ch <-chan error) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("no OnClose")
		return nil
	}
}

// expectEnd reads what c receives until its end and fails unless it is want followed by a clean
// end of stream.
func expectEnd(t *testing.T, c net.Conn, want string) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	got, err := io.ReadAll(c)
	if string(got) != want || err != nil {
		t.Fatalf("read %q, %v; want %q and a clean end of stream", got, err, want)
	}
}

// TestCloseWrite: the output written before CloseWrite, AsyncWrites included, reaches the peer,
// then its end of stream; later writes fail, yet the connection goes on reading (and posting),
// and the peer's FIN ends it as ever: io.EOF for a handler that is no HalfCloser.
func TestCloseWrite(t *testing.T) {
	for _, sh := range shapes {
		t.Run(sh.name, func(t *testing.T) {
			closed := make(chan error, 1)
			after := make(chan string, 4)
			conns := make(chan reactor.Conn, 1)
			h := &funcs{
				open: func(c reactor.Conn) { conns <- c },
				data: func(c reactor.Conn, in []byte) (int, reactor.Action) {
					if string(in) == "shut" {
						c.AsyncWrite([]byte("async,"))
						c.Write([]byte("written"))
						c.CloseWrite()
						if err := c.CloseWrite(); err != nil {
							after <- "second CloseWrite: " + err.Error()
						}
						if _, err := c.Write([]byte("x")); !errors.Is(err, reactor.ErrConnClosed) {
							after <- "Write after CloseWrite: " + errString(err)
						}
						if err := c.AsyncWrite([]byte("x")); !errors.Is(err, reactor.ErrConnClosed) {
							after <- "AsyncWrite after CloseWrite: " + errString(err)
						}
						return len(in), reactor.None
					}
					after <- "data " + string(in)
					return len(in), reactor.None
				},
				close: func(_ reactor.Conn, err error) { closed <- err },
			}
			_, addr := reactortest.Start(t, sh.new, reactor.Config{Loops: 1}, h)
			c := dial(t, addr)
			sc := <-conns
			c.Write([]byte("shut"))
			expectEnd(t, c, "async,written")
			if err := sc.AsyncWrite([]byte("x")); !errors.Is(err, reactor.ErrConnClosed) {
				t.Errorf("AsyncWrite from another goroutine after CloseWrite = %v; want ErrConnClosed", err)
			}
			posted := make(chan struct{})
			if err := sc.Post(func(reactor.Conn) { close(posted) }); err != nil {
				t.Fatalf("Post after CloseWrite = %v; want nil, the connection still reads", err)
			}
			<-posted
			c.Write([]byte("still reading"))
			if got := <-after; got != "data still reading" {
				t.Fatalf("after CloseWrite: %s", got)
			}
			c.(*net.TCPConn).CloseWrite()
			if err := closeCause(t, closed); err != io.EOF {
				t.Errorf("OnClose(%v) at the peer's FIN; want io.EOF (no HalfCloser)", err)
			}
		})
	}
}

// cpuDuring sleeps for d and returns the CPU time the process used meanwhile: about d when a
// loop spins on a socket it cannot serve.
func cpuDuring(d time.Duration) time.Duration {
	var before, after unix.Rusage
	unix.Getrusage(unix.RUSAGE_SELF, &before)
	time.Sleep(d)
	unix.Getrusage(unix.RUSAGE_SELF, &after)
	used := func(r *unix.Rusage) time.Duration {
		return time.Duration(r.Utime.Nano() + r.Stime.Nano())
	}
	return used(&after) - used(&before)
}

func errString(err error) string {
	if err == nil {
		return "nil"
	}
	return err.Error()
}

// TestHalfCloser: a HalfCloser gets OnReadEOF after the last OnData, and the connection stays
// open for its writes — from the callback, a timer, another goroutine — until it closes it. The
// loop stops watching the socket's input, which a level-triggered loop would otherwise be told
// about forever.
func TestHalfCloser(t *testing.T) {
	for _, sh := range shapes {
		t.Run(sh.name, func(t *testing.T) {
			closed := make(chan error, 1)
			eofs := make(chan reactor.Conn, 1)
			var got []byte // owner only
			h := &halfFuncs{funcs: funcs{
				data: func(c reactor.Conn, in []byte) (int, reactor.Action) {
					got = append(got, in...)
					return len(in), reactor.None
				},
				close: func(_ reactor.Conn, err error) { closed <- err },
			}}
			h.eof = func(c reactor.Conn) reactor.Action {
				c.Write([]byte("got " + string(got) + ";"))
				c.AfterFunc(20*time.Millisecond, func(c reactor.Conn) { c.Write([]byte("timer;")) })
				eofs <- c
				return reactor.None
			}
			_, addr := reactortest.Start(t, sh.new, reactor.Config{Loops: 1}, h)
			c := dial(t, addr)
			c.Write([]byte("request"))
			c.(*net.TCPConn).CloseWrite()
			sc := <-eofs
			if got := readN(t, c, len("got request;timer;")); got != "got request;timer;" {
				t.Fatalf("read %q", got)
			}
			interest := make(chan uint32, 1)
			sc.Post(func(rc reactor.Conn) { interest <- rc.(*conn).events })
			if ev := <-interest; sh.name != "edge" && ev&unix.EPOLLIN != 0 {
				t.Errorf("interest %#x at the end of stream; want no EPOLLIN", ev)
			}
			if cpu := cpuDuring(100 * time.Millisecond); cpu > 50*time.Millisecond {
				t.Errorf("the process used %v of CPU in 100ms with a connection at its end of stream; want the loop asleep", cpu)
			}
			if err := sc.AsyncWrite([]byte("async;")); err != nil {
				t.Fatalf("AsyncWrite after the end of stream: %v", err)
			}
			readN(t, c, len("async;"))
			sc.Post(func(c reactor.Conn) { c.Write([]byte("bye")); c.CloseWrite() })
			expectEnd(t, c, "bye")
			if err := closeCause(t, closed); err != nil {
				t.Errorf("OnClose(%v) after CloseWrite at the end of stream; want nil", err)
			}
		})
	}
}

// TestHalfCloserEndings: the ways a half-closed connection ends — OnReadEOF returning Close,
// CloseWrite before the peer's FIN, a paused connection whose peer finishes after our
// CloseWrite (a hang-up, which must wait for ResumeRead rather than end it) — each with a nil
// cause and every byte delivered.
func TestHalfCloserEndings(t *testing.T) {
	for _, sh := range shapes {
		t.Run(sh.name, func(t *testing.T) {
			t.Run("ReturnClose", func(t *testing.T) {
				closed := make(chan error, 1)
				h := &halfFuncs{funcs: funcs{close: func(_ reactor.Conn, err error) { closed <- err }}}
				h.eof = func(c reactor.Conn) reactor.Action { c.Write([]byte("last")); return reactor.Close }
				_, addr := reactortest.Start(t, sh.new, reactor.Config{Loops: 1}, h)
				c := dial(t, addr)
				c.(*net.TCPConn).CloseWrite()
				expectEnd(t, c, "last")
				if err := closeCause(t, closed); err != nil {
					t.Errorf("OnClose(%v); want nil", err)
				}
			})
			t.Run("CloseWriteFirst", func(t *testing.T) {
				closed := make(chan error, 1)
				eofs := make(chan string, 1)
				var got []byte
				h := &halfFuncs{funcs: funcs{
					open: func(c reactor.Conn) { c.Write([]byte("hello")); c.CloseWrite() },
					data: func(c reactor.Conn, in []byte) (int, reactor.Action) {
						got = append(got, in...)
						return len(in), reactor.None
					},
					close: func(_ reactor.Conn, err error) { closed <- err },
				}}
				h.eof = func(c reactor.Conn) reactor.Action { eofs <- string(got); return reactor.None }
				_, addr := reactortest.Start(t, sh.new, reactor.Config{Loops: 1}, h)
				c := dial(t, addr)
				expectEnd(t, c, "hello")
				c.Write([]byte("answer"))
				c.(*net.TCPConn).CloseWrite()
				if s := <-eofs; s != "answer" {
					t.Errorf("OnReadEOF after %q; want it after \"answer\"", s)
				}
				if err := closeCause(t, closed); err != nil {
					t.Errorf("OnClose(%v); want nil", err)
				}
			})
			for _, half := range []bool{true, false} {
				name := "PausedHangUp"
				if !half {
					name += "NoHalfCloser"
				}
				t.Run(name, func(t *testing.T) {
					closed := make(chan error, 1)
					conns := make(chan reactor.Conn, 1)
					eofs := make(chan string, 1)
					var got []byte
					fs := funcs{
						open: func(c reactor.Conn) { c.PauseRead(); c.CloseWrite(); conns <- c },
						data: func(c reactor.Conn, in []byte) (int, reactor.Action) {
							got = append(got, in...)
							return len(in), reactor.None
						},
						close: func(_ reactor.Conn, err error) { closed <- err },
					}
					var h reactor.Handler = &fs
					if half {
						h = &halfFuncs{funcs: fs, eof: func(c reactor.Conn) reactor.Action {
							eofs <- string(got)
							return reactor.None
						}}
					}
					_, addr := reactortest.Start(t, sh.new, reactor.Config{Loops: 1}, h)
					c := dial(t, addr)
					sc := <-conns
					expectEnd(t, c, "")
					c.Write([]byte("held"))
					c.(*net.TCPConn).CloseWrite()
					if cpu := cpuDuring(100 * time.Millisecond); cpu > 50*time.Millisecond {
						t.Errorf("the process used %v of CPU in 100ms with a hung-up paused connection; want the loop asleep", cpu)
					}
					select {
					case err := <-closed:
						t.Fatalf("OnClose(%v) while paused; want the input kept for ResumeRead", err)
					default:
					}
					sc.Post(func(c reactor.Conn) { c.ResumeRead() })
					want := io.EOF
					if half {
						if s := <-eofs; s != "held" {
							t.Errorf("OnReadEOF after %q; want it after \"held\"", s)
						}
						want = nil
					}
					if err := closeCause(t, closed); err != want {
						t.Errorf("OnClose(%v); want %v", err, want)
					}
					// got is the loop's; OnClose, received above, was the last to write it.
					if s := string(got); s != "held" {
						t.Errorf("delivered %q; want \"held\"", s)
					}
				})
			}
		})
	}
}

// TestAbortResets: Abort, from the connection's callback or from another goroutine, with output
// pending or not, ends the connection with a reset the peer sees as ECONNRESET.
func TestAbortResets(t *testing.T) {
	for _, sh := range shapes {
		t.Run(sh.name, func(t *testing.T) {
			conns := make(chan reactor.Conn, 2)
			h := &funcs{
				open: func(c reactor.Conn) { conns <- c },
				data: func(c reactor.Conn, in []byte) (int, reactor.Action) {
					c.Write(make([]byte, 1<<10))
					c.Abort(nil)
					return len(in), reactor.None
				},
			}
			_, addr := reactortest.Start(t, sh.new, reactor.Config{Loops: 1}, h)
			inCallback := dial(t, addr)
			<-conns
			inCallback.Write([]byte("x"))
			other := dial(t, addr)
			(<-conns).Abort(nil)
			for name, c := range map[string]net.Conn{"in its callback": inCallback, "from another goroutine": other} {
				c.SetReadDeadline(time.Now().Add(10 * time.Second))
				_, err := io.ReadAll(c)
				if !errors.Is(err, syscall.ECONNRESET) {
					t.Errorf("peer of a connection aborted %s read %v; want ECONNRESET", name, err)
				}
			}
		})
	}
}
