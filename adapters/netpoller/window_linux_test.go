//go:build linux

package netpoller

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"net"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/reactorlab/reactor/reactor"
	"github.com/reactorlab/reactor/reactor/reactortest"
)

// TestReadWindow pins the bound on netpoll's read-ahead (window_linux.go), which rests on
// netpoll v0.7.2 calling its operator's Inputs and InputAck around each read: while the
// handler is stuck in OnData and the peer streams 8 MiB, netpoll holds at most readAhead of
// it, its poller no longer watches the socket for input, and the peer stalls against the
// kernel's buffers; once the handler returns, every byte arrives, in order, and the poller
// watches the socket again. A read-all with the window full books nothing.
func TestReadWindow(t *testing.T) {
	const size = 8 << 20
	release := make(chan struct{})
	opened := make(chan *conn, 1)
	var got bytes.Buffer // the handler's; read by the test once all arrived
	var received atomic.Int64
	h := stuckHandler{opened: opened, data: func(in []byte) {
		<-release
		got.Write(in)
		received.Add(int64(len(in)))
	}}
	b, err := New(reactor.Config{Loops: 1, MaxInbound: 16 << 20})
	if err != nil {
		t.Fatal(err)
	}
	addr, err := b.Start(h)
	if err != nil {
		t.Fatal(err)
	}
	defer reactortest.Stop(t, b)
	peer, err := net.Dial("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	var c *conn
	select {
	case c = <-opened:
	case <-time.After(wait):
		t.Fatal("no connection opened")
	}

	data := make([]byte, size)
	rand.New(rand.NewSource(1)).Read(data)
	var sent atomic.Int64
	wrote := make(chan error, 1)
	go func() {
		// Ends when all is written, or at the deadline.
		peer.SetWriteDeadline(time.Now().Add(20 * time.Second))
		for off := 0; off < size; off += 64 << 10 {
			if _, err := peer.Write(data[off : off+64<<10]); err != nil {
				wrote <- err
				return
			}
			sent.Add(64 << 10)
		}
		wrote <- nil
	}()
	// The peer stalls once the kernel's buffers are full, if netpoll stops reading.
	for last := int64(-1); sent.Load() != last; {
		last = sent.Load()
		time.Sleep(200 * time.Millisecond)
	}
	held := c.nc.Reader().Len()
	l, op, err := layoutOf(c.nc)
	if err != nil {
		t.Fatal(err)
	}
	// The poller's epoll descriptor, read once while the connection surely lives: netpoll
	// frees and reuses a closed connection's operator on its own goroutines.
	epfd := l.epollFD(l.pollOf(op))
	events, _ := registration(t, epfd, c.fd)
	// Had the peer's FIN come with the window full, the poller would call Inputs once more (its
	// read-all before a close), and InputAck only if it got a buffer to read into: nothing may
	// be booked then, or the next read lands past the bytes netpoll hands out.
	if rs := op.Inputs(make([][]byte, 1)); len(rs) != 0 {
		t.Errorf("with a full window Inputs offered %d buffers to read into; want none", len(rs))
	}
	close(release)
	if sent.Load() == size {
		t.Fatalf("the peer wrote all %d bytes while the handler was stuck: netpoll read on", size)
	}
	if held > readAhead {
		t.Errorf("netpoll held %d bytes while the handler was stuck; want at most %d", held, readAhead)
	}
	if events&syscall.EPOLLIN != 0 {
		t.Errorf("the poller watched for input (events %#x) with a full window", events)
	}
	t.Logf("the peer got %d KiB of %d KiB out while the handler was stuck; netpoll held %d KiB", sent.Load()>>10, size>>10, held>>10)

	if err := <-wrote; err != nil {
		t.Fatalf("the peer's writes after the release: %v", err)
	}
	for deadline := time.Now().Add(wait); received.Load() < size && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if n := received.Load(); n != size {
		t.Fatalf("the handler got %d of %d bytes", n, size)
	}
	if !bytes.Equal(got.Bytes(), data) {
		t.Error("the handler got the bytes out of order or changed")
	}
	if events, _ := registration(t, epfd, c.fd); events&syscall.EPOLLIN == 0 {
		t.Errorf("the poller does not watch for input again (events %#x) once the input was taken", events)
	}
}

// stuckHandler hands its connection to opened and its input to data.
type stuckHandler struct {
	opened chan<- *conn
	data   func([]byte)
}

func (h stuckHandler) OnOpen(c reactor.Conn) { h.opened <- c.(*conn) }
func (h stuckHandler) OnData(_ reactor.Conn, in []byte) (int, reactor.Action) {
	h.data(in)
	return len(in), reactor.None
}
func (stuckHandler) OnClose(reactor.Conn, error) {}

// TestPauseEveryWindow: a handler that works a moment on every input it is shown, then pauses
// and resumes at once (a proxy whose other side stays above its high-water mark), is shown
// one window per resume; the poller must not add a window of its own each time, or the input kept while
// paused grows by the difference until MaxInbound aborts the connection. The stream arrives
// whole and in order.
func TestPauseEveryWindow(t *testing.T) {
	const size = 8 << 20
	data := make([]byte, size)
	rand.New(rand.NewSource(2)).Read(data)
	var got bytes.Buffer // the handler's; read once all arrived or the connection closed
	done := make(chan error, 1)
	h := pauseEachHandler{got: &got, size: size, done: done}
	b, err := New(reactor.Config{Loops: 1, MaxInbound: 256 << 10})
	if err != nil {
		t.Fatal(err)
	}
	addr, err := b.Start(h)
	if err != nil {
		t.Fatal(err)
	}
	defer reactortest.Stop(t, b)
	peer, err := net.Dial("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	go func() {
		// Ends when all is written, or at the deadline.
		peer.SetWriteDeadline(time.Now().Add(20 * time.Second))
		peer.Write(data)
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("after %d of %d bytes: %v", got.Len(), size, err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the stream did not arrive within 20s")
	}
	if !bytes.Equal(got.Bytes(), data) {
		t.Fatal("the handler got the bytes out of order or changed")
	}
}

// pauseEachHandler takes what it is shown, pauses, and posts its own resume; it reports on
// done once size bytes came, or why the connection closed before.
type pauseEachHandler struct {
	got  *bytes.Buffer
	size int
	done chan error
}

func (pauseEachHandler) OnOpen(reactor.Conn) {}
func (h pauseEachHandler) OnData(c reactor.Conn, in []byte) (int, reactor.Action) {
	h.got.Write(in)
	if h.got.Len() == h.size {
		h.done <- nil
		return len(in), reactor.None
	}
	time.Sleep(100 * time.Microsecond) // the work, while the poller reads on
	c.PauseRead()
	c.Post(reactor.Conn.ResumeRead)
	return len(in), reactor.None
}
func (h pauseEachHandler) OnClose(_ reactor.Conn, err error) {
	select {
	case h.done <- fmt.Errorf("closed: %w", err):
	default:
	}
}

// TestReadWindowAtEOF: a peer streams to a slow handler and half-closes. netpoll's poller,
// seeing the FIN, reads what the kernel holds before it in one go; that read-all keeps to the
// window too, or the megabytes waiting in the kernel would land in netpoll's buffer at once
// and the handler, lagging by more than MaxInbound (kept small here), be cut off with
// ErrInboundFull. Every
// byte arrives, in order, then the close.
func TestReadWindowAtEOF(t *testing.T) {
	const size = 8 << 20
	data := make([]byte, size)
	rand.New(rand.NewSource(3)).Read(data)
	var got bytes.Buffer // the handler's; read once it closed
	closed := make(chan error, 1)
	h := slowHandler{got: &got, closed: closed}
	b, err := New(reactor.Config{Loops: 1, MaxInbound: 128 << 10})
	if err != nil {
		t.Fatal(err)
	}
	addr, err := b.Start(h)
	if err != nil {
		t.Fatal(err)
	}
	defer reactortest.Stop(t, b)
	peer, err := net.Dial("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	go func() {
		// Ends when all is written, or at the deadline.
		peer.SetWriteDeadline(time.Now().Add(20 * time.Second))
		if _, err := peer.Write(data); err == nil {
			peer.(*net.TCPConn).CloseWrite()
		}
	}()
	select {
	case err := <-closed:
		if got.Len() != size || !errors.Is(err, io.EOF) {
			t.Fatalf("the handler got %d of %d bytes, then OnClose(%v); want all, then io.EOF", got.Len(), size, err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the stream did not end within 20s")
	}
	if !bytes.Equal(got.Bytes(), data) {
		t.Fatal("the handler got the bytes out of order or changed")
	}
}

// slowHandler takes a moment over each input and reports its close.
type slowHandler struct {
	got    *bytes.Buffer
	closed chan error
}

func (slowHandler) OnOpen(reactor.Conn) {}
func (h slowHandler) OnData(_ reactor.Conn, in []byte) (int, reactor.Action) {
	time.Sleep(time.Millisecond)
	h.got.Write(in)
	return len(in), reactor.None
}
func (h slowHandler) OnClose(_ reactor.Conn, err error) { h.closed <- err }
