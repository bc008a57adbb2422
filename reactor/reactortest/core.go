package reactortest

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/reactorlab/reactor/protocols/echo"
	"github.com/reactorlab/reactor/reactor"
)

// testLifecycle: many short connections, closed by the peer, by the handler and by a reset;
// every one is opened once and closed once, callbacks in order, with a fitting cause.
func (s *suite) testLifecycle(t *testing.T) {
	tr := NewOrderChecker(funcHandler{data: func(c reactor.Conn, in []byte) (int, reactor.Action) {
		if bytes.Contains(in, []byte("bye")) {
			c.Write([]byte("ok"))
			return len(in), reactor.Close
		}
		c.Write(in)
		return len(in), reactor.None
	}})
	srv := s.start(t, reactor.Config{}, tr)
	const n = 60
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := srv.dialE(t)
			if err != nil {
				t.Error(err)
				return
			}
			c.Write([]byte("ping"))
			if got := readFull(t, c, 4); string(got) != "ping" {
				t.Errorf("echo = %q; want ping", got)
			}
			switch i % 3 {
			case 0: // the peer closes
				c.Close()
			case 1: // the handler closes, after flushing its reply
				c.Write([]byte("bye"))
				if rest := expectEOF(t, c, ioTimeout); string(rest) != "ok" {
					t.Errorf("before the close: %q; want %q", rest, "ok")
				}
				c.Close()
			case 2: // the peer resets
				c.SetLinger(0)
				c.Close()
			}
		}()
	}
	wg.Wait()
	if !eventually(ioTimeout, func() bool { _, closed := tr.Counts(); return closed == n }) {
		opened, closed := tr.Counts()
		t.Fatalf("after %d connections ended: %d opened, %d closed", n, opened, closed)
	}
	opened, _ := tr.Counts()
	if opened != n {
		t.Errorf("opened %d connections; want %d", opened, n)
	}
	nilCauses := 0
	for _, err := range tr.causeList() {
		if err == nil {
			nilCauses++
		}
	}
	// The handler closed a third of them, so a third had no error; the others ended by the peer.
	if nilCauses != n/3 {
		t.Errorf("%d OnClose calls with a nil cause; want %d (the handler-closed ones)", nilCauses, n/3)
	}
	tr.Check(t)
}

// testEchoBulk: 1 MiB byte-exact through echo over 64 concurrent connections, read while written.
func (s *suite) testEchoBulk(t *testing.T) {
	srv := s.start(t, reactor.Config{}, echo.Handler{})
	const size = 1 << 20
	conns := s.scale(64)
	var wg sync.WaitGroup
	for i := 0; i < conns; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := srv.dialE(t)
			if err != nil {
				t.Error(err)
				return
			}
			data := make([]byte, size)
			rand.New(rand.NewSource(int64(i))).Read(data)
			werr := make(chan error, 1)
			go func() {
				// Irregular chunk sizes so reads and writes interleave differently per connection.
				var err error
				for off, k := 0, 0; off < len(data) && err == nil; k++ {
					end := min(off+1000+k*977%60000, len(data))
					_, err = c.Write(data[off:end])
					off = end
				}
				werr <- err
			}()
			got := make([]byte, size)
			if _, err := io.ReadFull(c, got); err != nil {
				t.Errorf("conn %d: reading the echo: %v", i, err)
				return
			}
			if err := <-werr; err != nil {
				t.Errorf("conn %d: writing: %v", i, err)
			}
			if !bytes.Equal(got, data) {
				t.Errorf("conn %d: echoed bytes differ from those sent", i)
			}
		}()
	}
	wg.Wait()
}

// testAsyncWriteOrder: several goroutines AsyncWrite numbered records to one connection; each
// goroutine's records arrive complete and in order.
func (s *suite) testAsyncWriteOrder(t *testing.T) {
	const writers, records = 4, 500
	var wg sync.WaitGroup
	h := funcHandler{open: func(c reactor.Conn) {
		for w := 0; w < writers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var rec [8]byte
				for i := 0; i < records; i++ {
					binary.BigEndian.PutUint32(rec[:4], uint32(w))
					binary.BigEndian.PutUint32(rec[4:], uint32(i))
					if err := c.AsyncWrite(rec[:]); err != nil {
						t.Errorf("AsyncWrite: %v", err)
						return
					}
					// The record buffer is reused at once: AsyncWrite must have copied it.
					rec = [8]byte{}
				}
			}()
		}
	}}
	srv := s.start(t, reactor.Config{}, h)
	c := srv.dial(t)
	got := readFull(t, c, writers*records*8)
	wg.Wait()
	next := make([]uint32, writers)
	for off := 0; off < len(got); off += 8 {
		w, i := binary.BigEndian.Uint32(got[off:]), binary.BigEndian.Uint32(got[off+4:])
		if int(w) >= writers || i != next[w] {
			t.Fatalf("record at %d: writer %d #%d; want writer < %d with #%v", off/8, w, i, writers, next)
		}
		next[w]++
	}
}

// testAsyncWriteShared: one goroutine broadcasts numbered records to two connections, each
// record one immutable slice given to both with reactor.AsyncWriteShared (by reference where
// the backend is a SharedWriter, copied elsewhere), interleaved with plain AsyncWrites of a
// reused buffer; each connection gets every record whole and in order.
func (s *suite) testAsyncWriteShared(t *testing.T) {
	const records = 400
	conns := make(chan reactor.Conn, 2)
	srv := s.start(t, reactor.Config{}, funcHandler{open: func(c reactor.Conn) { conns <- c }})
	a, b := srv.dial(t), srv.dial(t)
	to := [2]reactor.Conn{<-conns, <-conns}
	done := make(chan struct{})
	go func() {
		defer close(done)
		var scratch [8]byte
		for i := 0; i < records; i++ {
			for _, c := range to {
				var err error
				if i%2 == 0 {
					shared := make([]byte, 8)
					binary.BigEndian.PutUint64(shared, uint64(i))
					err = reactor.AsyncWriteShared(c, shared)
				} else {
					binary.BigEndian.PutUint64(scratch[:], uint64(i))
					err = c.AsyncWrite(scratch[:])
					scratch = [8]byte{}
				}
				if err != nil {
					t.Errorf("record %d: %v", i, err)
					return
				}
			}
		}
	}()
	for _, c := range []net.Conn{a, b} {
		got := readFull(t, c, records*8)
		for i := 0; i < records; i++ {
			if n := binary.BigEndian.Uint64(got[i*8:]); n != uint64(i) {
				t.Fatalf("record %d reads %d", i, n)
			}
		}
	}
	<-done
}

// testCloseFlushes: a handler writes 2 MiB and closes in the same callback; all of it arrives
// before the end of the stream.
func (s *suite) testCloseFlushes(t *testing.T) {
	payload := bytes.Repeat([]byte("0123456789abcdef"), 128<<10)
	h := funcHandler{data: func(c reactor.Conn, in []byte) (int, reactor.Action) {
		for off := 0; off < len(payload); off += 64 << 10 {
			c.Write(payload[off : off+64<<10])
		}
		return len(in), reactor.Close
	}}
	srv := s.start(t, reactor.Config{MaxOutbound: 4 << 20}, h)
	c := srv.dial(t)
	c.Write([]byte("go"))
	got := expectEOF(t, c, ioTimeout)
	if !bytes.Equal(got, payload) {
		t.Fatalf("got %d bytes before the close; want the %d written", len(got), len(payload))
	}
}

// testOutboundLimit: a peer that never reads while the server keeps writing is closed with
// ErrOutboundFull once its pending output passes MaxOutbound — memory stays bounded.
func (s *suite) testOutboundLimit(t *testing.T) {
	causes := make(chan error, 1)
	chunk := make([]byte, 64<<10)
	var wg sync.WaitGroup
	// The flood starts on the client's first bytes, not in OnOpen: the client must have seen its
	// connect succeed before the server may abort the connection.
	var started atomic.Bool
	h := funcHandler{
		data: func(c reactor.Conn, in []byte) (int, reactor.Action) {
			if !started.CompareAndSwap(false, true) {
				return len(in), reactor.None
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				// Bounded: 100,000 chunks is 6.4 GB, far past any socket buffer plus the limit.
				for i := 0; i < 100000; i++ {
					if err := c.AsyncWrite(chunk); err != nil {
						if !errors.Is(err, reactor.ErrOutboundFull) && !errors.Is(err, reactor.ErrConnClosed) {
							t.Errorf("AsyncWrite past the limit: %v; want ErrOutboundFull or ErrConnClosed", err)
						}
						return
					}
				}
				t.Errorf("6.4 GB queued to a peer that does not read, and no error")
			}()
			return len(in), reactor.None
		},
		close: func(c reactor.Conn, err error) { causes <- err },
	}
	srv := s.start(t, reactor.Config{MaxOutbound: 256 << 10}, h)
	c := srv.dial(t)
	c.SetReadBuffer(4 << 10)
	c.Write([]byte("flood me"))
	select {
	case err := <-causes:
		if !errors.Is(err, reactor.ErrOutboundFull) {
			t.Errorf("OnClose cause = %v; want ErrOutboundFull", err)
		}
	case <-time.After(ioTimeout):
		t.Fatalf("a peer that never reads was not closed within %v", ioTimeout)
	}
	wg.Wait()
}

// testInboundLimit: a handler that consumes nothing makes the backend hold the input; past
// MaxInbound the connection is closed with ErrInboundFull.
func (s *suite) testInboundLimit(t *testing.T) {
	causes := make(chan error, 1)
	h := funcHandler{
		data:  func(c reactor.Conn, in []byte) (int, reactor.Action) { return 0, reactor.None },
		close: func(c reactor.Conn, err error) { causes <- err },
	}
	srv := s.start(t, reactor.Config{MaxInbound: 64 << 10}, h)
	c := srv.dial(t)
	go func() {
		// Ends when the server closes the connection (the write fails) or after 4 MiB.
		for i := 0; i < 64; i++ {
			if _, err := c.Write(make([]byte, 64<<10)); err != nil {
				return
			}
		}
	}()
	select {
	case err := <-causes:
		if !errors.Is(err, reactor.ErrInboundFull) {
			t.Errorf("OnClose cause = %v; want ErrInboundFull", err)
		}
	case <-time.After(ioTimeout):
		t.Fatalf("4 MiB held unconsumed against a 64 KiB MaxInbound, and the connection is still open")
	}
}

// testHandlerPanic: a panic in OnData costs its connection only; the server goes on serving.
func (s *suite) testHandlerPanic(t *testing.T) {
	causes := make(chan error, 4)
	h := funcHandler{
		data: func(c reactor.Conn, in []byte) (int, reactor.Action) {
			if bytes.Contains(in, []byte("boom")) {
				panic("conformance: deliberate panic")
			}
			c.Write(in)
			return len(in), reactor.None
		},
		close: func(c reactor.Conn, err error) { causes <- err },
	}
	srv := s.start(t, reactor.Config{Logger: discardLogger()}, h)
	bad := srv.dial(t)
	bad.Write([]byte("boom"))
	expectEOF(t, bad, ioTimeout)
	select {
	case err := <-causes:
		if !errors.Is(err, reactor.ErrHandlerPanic) {
			t.Errorf("OnClose cause after a panic = %v; want ErrHandlerPanic", err)
		}
	case <-time.After(ioTimeout):
		t.Fatalf("OnClose not called after a handler panic")
	}
	good := srv.dial(t)
	good.Write([]byte("still there?"))
	if got := readFull(t, good, 12); string(got) != "still there?" {
		t.Fatalf("after a panic on another connection: %q; want the echo", got)
	}
}

// testShutdown: with connections open (some mid-conversation), Shutdown closes every one with
// ErrServerClosed, the peers see the end, and no goroutine or descriptor is left.
func (s *suite) testShutdown(t *testing.T) {
	base := snapshot()

	tr := NewOrderChecker(echo.Handler{})
	srv := s.start(t, reactor.Config{}, tr)
	const n = 20
	conns := make([]io.ReadWriter, n)
	for i := range conns {
		c := srv.dial(t)
		fmt.Fprintf(c, "hello %02d", i)
		readFull(t, c, 8)
		conns[i] = c
	}
	srv.shutdown()
	for i, c := range conns {
		c.(interface{ SetReadDeadline(time.Time) error }).SetReadDeadline(time.Now().Add(ioTimeout))
		if b, err := io.ReadAll(c); len(b) != 0 {
			t.Errorf("conn %d: %q after shutdown (err %v); want the end of the stream", i, b, err)
		}
	}
	opened, closed := tr.Counts()
	if opened != n || closed != n {
		t.Errorf("after Shutdown: %d opened, %d closed; want %d and %d", opened, closed, n, n)
	}
	for _, err := range tr.causeList() {
		if !errors.Is(err, reactor.ErrServerClosed) {
			t.Errorf("OnClose cause on shutdown = %v; want ErrServerClosed", err)
		}
	}
	tr.Check(t)
	for _, c := range conns {
		c.(io.Closer).Close()
	}
	checkReturnsTo(t, base, "Shutdown")
}

// testAsyncWriteThenClose: another goroutine AsyncWrites and then Closes while the peer keeps
// sending. Close flushes what was written before it, so each peer gets the bytes, then the end
// of the stream — also when the peer's input reaches the connection between the two.
func (s *suite) testAsyncWriteThenClose(t *testing.T) {
	conns := s.scale(200)
	h := funcHandler{data: func(c reactor.Conn, in []byte) (int, reactor.Action) {
		if bytes.Contains(in, []byte("go")) {
			go func() {
				c.AsyncWrite([]byte("last words"))
				c.Close()
			}()
		}
		return len(in), reactor.None
	}}
	srv := s.start(t, reactor.Config{}, h)
	var wg sync.WaitGroup
	for i := 0; i < conns; i++ {
		c, err := srv.dialE(t)
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(2)
		stop := make(chan struct{})
		go func() {
			// The peer keeps talking until the server is done with it (bounded: 2,000 writes).
			defer wg.Done()
			c.Write([]byte("go"))
			for k := 0; k < 2000; k++ {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := c.Write([]byte("x")); err != nil {
					return
				}
			}
		}()
		go func() {
			defer wg.Done()
			defer close(stop)
			got := expectEOF(t, c, ioTimeout)
			if string(got) != "last words" {
				t.Errorf("conn %d: %q before the end; want the AsyncWrite made before Close", i, got)
			}
		}()
	}
	wg.Wait()
}
