package evioloop

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reactorlab/reactor/protocols/chat"
	"github.com/reactorlab/reactor/protocols/echo"
	"github.com/reactorlab/reactor/reactor"
	"github.com/reactorlab/reactor/reactor/reactortest"
)

// handler builds a reactor.Handler from functions; nil ones do nothing (OnData consumes all).
type handler struct {
	open  func(reactor.Conn)
	data  func(reactor.Conn, []byte) (int, reactor.Action)
	close func(reactor.Conn, error)
}

func (h handler) OnOpen(c reactor.Conn) {
	if h.open != nil {
		h.open(c)
	}
}

func (h handler) OnData(c reactor.Conn, in []byte) (int, reactor.Action) {
	if h.data != nil {
		return h.data(c, in)
	}
	return len(in), reactor.None
}

func (h handler) OnClose(c reactor.Conn, err error) {
	if h.close != nil {
		h.close(c, err)
	}
}

func fdCount(t *testing.T) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// settles waits up to 5s for goroutines and descriptors to fall back to a baseline.
func settles(t *testing.T, goroutines, fds int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		g, f := runtime.NumGoroutine(), fdCount(t)
		if g <= goroutines && f <= fds {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("goroutines %d (baseline %d), descriptors %d (baseline %d) after Shutdown", g, goroutines, f, fds)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestAsyncWriteWhileEvioHolds is the trap in evio's wake path: evio replaces, rather than
// appends to, the output it still holds when a wake returns more. A writer that outpaces a
// slow reader makes evio hold output at nearly every wake; every record must still arrive
// once, in order.
// start serves h on a fresh backend with two loops unless cfg says otherwise; it is shut down
// when the test ends.
func start(t *testing.T, cfg reactor.Config, h reactor.Handler) (reactor.Backend, string) {
	t.Helper()
	if cfg.Loops == 0 {
		cfg.Loops = 2
	}
	return reactortest.Start(t, New, cfg, h)
}

func TestAsyncWriteWhileEvioHolds(t *testing.T) {
	const records, size = 4000, 4 << 10 // 16 MiB: well past the socket buffers
	var wg sync.WaitGroup
	werr := make(chan error, 1)
	h := handler{open: func(c reactor.Conn) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rec := make([]byte, size)
			for i := 0; i < records; i++ {
				binary.BigEndian.PutUint32(rec, uint32(i))
				if err := c.AsyncWrite(rec); err != nil {
					werr <- fmt.Errorf("AsyncWrite #%d: %w", i, err)
					return
				}
				if i%100 == 0 {
					time.Sleep(time.Millisecond) // let wakes interleave with evio's writes
				}
			}
		}()
	}}
	_, addr := start(t, reactor.Config{MaxOutbound: 64 << 20}, h)
	c := reactortest.Dial(t, addr)
	// Not reading for a while fills the socket buffers, then evio's. (Shrinking the receive
	// buffer instead would stall loopback TCP, whose segments are larger than such a buffer.)
	time.Sleep(300 * time.Millisecond)
	r := bufio.NewReaderSize(c, size)
	rec := make([]byte, size)
	for i := 0; i < records; i++ {
		if _, err := io.ReadFull(r, rec); err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		if got := binary.BigEndian.Uint32(rec); got != uint32(i) {
			t.Fatalf("record %d arrived as #%d: output was lost or reordered", i, got)
		}
	}
	wg.Wait()
	select {
	case err := <-werr:
		t.Fatal(err)
	default:
	}
}

// TestChatBroadcastLosesNothing: 50 members each send 100 lines at once; every member gets
// every other member's 100 lines, each sender's in order.
func TestChatBroadcastLosesNothing(t *testing.T) {
	const members, lines = 50, 100
	_, addr := start(t, reactor.Config{}, chat.New(chat.Config{}))
	conns := make([]*net.TCPConn, members)
	readers := make([]*bufio.Reader, members)
	for i := range conns {
		conns[i] = reactortest.Dial(t, addr)
		readers[i] = bufio.NewReader(conns[i])
		fmt.Fprintf(conns[i], "NAME: m%02d\n", i)
		for {
			line, err := readers[i].ReadString('\n')
			if err != nil {
				t.Fatalf("member %d naming itself: %v", i, err)
			}
			if strings.HasPrefix(line, "CLIENT: ") {
				break
			}
		}
	}
	var wg sync.WaitGroup
	for i := range conns {
		wg.Add(2)
		go func() {
			defer wg.Done()
			w := bufio.NewWriter(conns[i])
			for k := 0; k < lines; k++ {
				fmt.Fprintf(w, "line %03d\n", k)
			}
			if err := w.Flush(); err != nil {
				t.Errorf("member %d sending: %v", i, err)
			}
		}()
		go func() {
			defer wg.Done()
			next := make(map[string]int)
			for got := 0; got < (members-1)*lines; {
				line, err := readers[i].ReadString('\n')
				if err != nil {
					t.Errorf("member %d: %v after %d of %d lines", i, err, got, (members-1)*lines)
					return
				}
				if strings.HasPrefix(line, "* ") {
					continue // a join announcement
				}
				var from string
				var k int
				if _, err := fmt.Sscanf(line, "%s line %d\n", &from, &k); err != nil {
					t.Errorf("member %d: unexpected line %q", i, line)
					return
				}
				if k != next[from] {
					t.Errorf("member %d: line %d from %s; want %d", i, k, from, next[from])
					return
				}
				next[from]++
				got++
			}
		}()
	}
	wg.Wait()
}

// TestShutdownRightAfterStart: with no connection at all evio can only be stopped from a
// callback; Shutdown must manage anyway, also immediately after Start, and leave nothing.
func TestShutdownRightAfterStart(t *testing.T) {
	warm := func() {
		b, err := New(reactor.Config{Loops: 2})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.Start(echo.Handler{}); err != nil {
			t.Fatal(err)
		}
		if err := b.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	warm()
	runtime.GC()
	goroutines, fds := runtime.NumGoroutine(), fdCount(t)
	for i := 0; i < 20; i++ {
		b, err := New(reactor.Config{Loops: 1 + i%3})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.Start(echo.Handler{}); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err = b.Shutdown(ctx)
		cancel()
		if err != nil {
			t.Fatalf("round %d: Shutdown: %v", i, err)
		}
		if err := b.Wait(); !errors.Is(err, reactor.ErrServerClosed) {
			t.Fatalf("round %d: Wait = %v; want ErrServerClosed", i, err)
		}
	}
	settles(t, goroutines, fds)
}

// TestShutdownDeadline: a peer that never reads keeps its output from draining; Shutdown gives
// up at its deadline, still closes the connection with ErrServerClosed and leaves nothing.
func TestShutdownDeadline(t *testing.T) {
	runtime.GC()
	goroutines, fds := runtime.NumGoroutine(), fdCount(t)
	causes := make(chan error, 1)
	big := make([]byte, 8<<20)
	h := handler{
		data: func(c reactor.Conn, in []byte) (int, reactor.Action) {
			c.Write(big)
			return len(in), reactor.None
		},
		close: func(c reactor.Conn, err error) { causes <- err },
	}
	b, err := New(reactor.Config{Loops: 2, MaxOutbound: 16 << 20})
	if err != nil {
		t.Fatal(err)
	}
	addr, err := b.Start(h)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	c.(*net.TCPConn).SetReadBuffer(4 << 10)
	c.Write([]byte("go"))
	time.Sleep(100 * time.Millisecond) // the reply is now stuck in evio's buffer
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	began := time.Now()
	if err := b.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown = %v; want context.DeadlineExceeded", err)
	}
	if took := time.Since(began); took > 5*time.Second {
		t.Errorf("Shutdown took %v past a 300ms deadline", took)
	}
	select {
	case err := <-causes:
		if !errors.Is(err, reactor.ErrServerClosed) {
			t.Errorf("OnClose cause = %v; want ErrServerClosed", err)
		}
	default:
		t.Errorf("OnClose had not run when Shutdown returned")
	}
	c.Close()
	settles(t, goroutines, fds)
}

// TestTailKeptAcrossReads: evio does not keep unconsumed input; the adapter does, and presents
// it again in front of the next bytes.
func TestTailKeptAcrossReads(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	h := handler{data: func(c reactor.Conn, in []byte) (int, reactor.Action) {
		// Consume whole lines only, answering each.
		n := 0
		for {
			i := strings.IndexByte(string(in[n:]), '\n')
			if i < 0 {
				break
			}
			mu.Lock()
			seen = append(seen, string(in[n:n+i]))
			mu.Unlock()
			c.Write(in[n : n+i+1])
			n += i + 1
		}
		return n, reactor.None
	}}
	_, addr := start(t, reactor.Config{}, h)
	c := reactortest.Dial(t, addr)
	msg := "alpha\nbravo charlie\ndelta\n"
	for i := 0; i < len(msg); i++ {
		c.Write([]byte{msg[i]})
		time.Sleep(time.Millisecond)
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil || string(got) != msg {
		t.Fatalf("read %q, %v; want %q", got, err, msg)
	}
	mu.Lock()
	defer mu.Unlock()
	if want := []string{"alpha", "bravo charlie", "delta"}; !reflect.DeepEqual(seen, want) {
		t.Errorf("lines = %q; want %q", seen, want)
	}
}

// TestAbortWhileEvioHolds: Abort from another goroutine closes a connection at once even when
// evio holds output the peer never reads (evio alone would try to write it forever).
func TestAbortWhileEvioHolds(t *testing.T) {
	causes := make(chan error, 1)
	conns := make(chan reactor.Conn, 1)
	big := make([]byte, 8<<20)
	h := handler{
		data: func(c reactor.Conn, in []byte) (int, reactor.Action) {
			c.Write(big)
			conns <- c
			return len(in), reactor.None
		},
		close: func(c reactor.Conn, err error) { causes <- err },
	}
	_, addr := start(t, reactor.Config{MaxOutbound: 16 << 20}, h)
	c := reactortest.Dial(t, addr)
	c.SetReadBuffer(4 << 10)
	c.Write([]byte("go"))
	sc := <-conns
	time.Sleep(100 * time.Millisecond)
	boom := errors.New("test abort")
	sc.Abort(boom)
	select {
	case err := <-causes:
		if !errors.Is(err, boom) {
			t.Errorf("OnClose cause = %v; want the abort's", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Abort did not close a connection whose output was stuck in evio")
	}
	if err := sc.AsyncWrite([]byte("x")); !errors.Is(err, reactor.ErrConnClosed) {
		t.Errorf("AsyncWrite after close = %v; want ErrConnClosed", err)
	}
}

// TestLocalAddr: the local address is the socket's own, not the listener's wildcard.
func TestLocalAddr(t *testing.T) {
	addrs := make(chan net.Addr, 1)
	b, err := New(reactor.Config{Addr: "0.0.0.0:0", Loops: 1})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := b.Start(handler{open: func(c reactor.Conn) { addrs <- c.LocalAddr() }})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Shutdown(context.Background())
	port := ln.(*net.TCPAddr).Port
	c := reactortest.Dial(t, fmt.Sprintf("127.0.0.1:%d", port))
	want := c.RemoteAddr().String()
	select {
	case got := <-addrs:
		if got.String() != want {
			t.Errorf("LocalAddr = %v; want %v", got, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("OnOpen not called")
	}
}

// TestCloseGivesUpOnStalledFlush: Close flushes first, but a peer that never reads must not
// keep the connection open for ever (evio alone would keep trying to write): after closeStall
// without progress the connection is aborted, with the cause the close was asked with.
func TestCloseGivesUpOnStalledFlush(t *testing.T) {
	causes := make(chan error, 1)
	big := make([]byte, 8<<20)
	h := handler{
		data: func(c reactor.Conn, in []byte) (int, reactor.Action) {
			c.Write(big)
			return len(in), reactor.Close
		},
		close: func(c reactor.Conn, err error) { causes <- err },
	}
	_, addr := start(t, reactor.Config{MaxOutbound: 16 << 20}, h)
	c := reactortest.Dial(t, addr)
	c.Write([]byte("go"))
	began := time.Now()
	select {
	case err := <-causes:
		if err != nil {
			t.Errorf("OnClose cause = %v; want nil, the handler's close", err)
		}
		if took := time.Since(began); took < closeStall {
			t.Errorf("closed after %v, before the %v stall limit", took, closeStall)
		}
	case <-time.After(closeStall + 10*time.Second):
		t.Fatal("a close whose flush never progresses is still pending")
	}
}
