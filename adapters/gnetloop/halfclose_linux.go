//go:build linux

package gnetloop

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"

	"github.com/reactorlab/reactor/internal/sockstate"
	"github.com/reactorlab/reactor/reactor"
	"github.com/reactorlab/reactor/reactor/backendkit"
)

// gnet has no half-close. It reads the peer's end of stream as a read of zero bytes (or an
// EPOLLRDHUP) and closes the connection then and there, before any callback could keep it:
// its OnClose is the first the adapter hears of it, and when that returns gnet writes what its
// outbound buffer holds as far as the socket takes it at once, drops the rest, and closes the
// descriptor. Keeping the epoll entry free of input does not help: gnet puts input back
// whenever its outbound buffer empties (level-triggered) and reads a lone EPOLLRDHUP as a close.
//
// So at the peer's end of stream the adapter takes the connection over, where the contract
// wants it to live on: a HalfCloser's (which may go on writing), one with output still to send
// (which the contract flushes before the close, where gnet would drop what the socket did not
// take), one with input the handler has not seen (paused). In gnet's OnClose it duplicates
// the descriptor and moves gnet's outbound buffer into its own (reached as PauseRead reaches
// the epoll descriptor, internals_linux.go); gnet then closes its descriptor, and the
// connection, detached, goes on with the duplicate: on the same loop (its tasks, posts and
// timers are loop tasks, as before), writing with writev itself. The socket is in no epoll
// set any more, so when it does not take all the output a timer looks again (after 1 ms while
// the output shrinks, backing off to 50 ms while the peer reads nothing), and a peer's reset
// is learnt at the next write. Input is over: nothing needs watching.

// ended is what a connection needs past CloseWrite's wait for gnet or the peer's end of
// stream, made when first needed: most connections never do. Loop only.
type ended struct {
	fd        int                 // the socket's duplicate, once detached
	rest      backendkit.Outbound // a detached connection's output that the socket has not taken
	eofIn     []byte              // input that arrived unseen while paused, kept at the end of stream
	lateIn    bool                // the kernel may hold input the paused connection did not read before it
	eofOwed   bool                // the handler is yet to hear of the peer's end of stream (paused)
	eofDone   bool                // OnReadEOF was called
	retryWait time.Duration       // the retry timer's current period
	retryLast int                 // pending output when the retry timer was last armed
}

// ending returns c.end, made on first use. Loop only.
func (c *conn) ending() *ended {
	if c.end == nil {
		c.end = new(ended)
	}
	return c.end
}

// CloseWrite implements reactor.Conn. Only from the connection's own callbacks. The FIN goes
// out as the callback returns (settle), once what was written before it, gnet's buffer
// included, has reached the socket; until then a timer looks again, as gnet says nothing when
// its buffer empties.
func (c *conn) CloseWrite() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state.Load() == stateOpen && !c.closeReq.Load() {
		c.wshut.Store(true)
	}
	return nil
}

// shutWrite sends FIN for CloseWrite, once all output has reached the socket. When the handler
// has heard of the peer's end of stream already, both directions are done and the connection
// closes. It reports false when the connection should be closed now. Loop only.
func (c *conn) shutWrite() bool {
	if err := unix.Shutdown(c.sockFD(), unix.SHUT_WR); err != nil {
		c.Abort(os.NewSyscallError("shutdown", err))
		c.reset()
		return false
	}
	c.shutDone = true
	if c.detached && c.end.eofDone {
		c.closeWith(nil, false)
		c.applyClose()
		return false
	}
	return true
}

// detach takes the connection over from gnet at the peer's end of stream, in gnet's OnClose,
// when the contract wants it to live on; it reports whether it did. A connection that is
// closing and has sent everything, or whose handler is no HalfCloser and has nothing to
// send and nothing unseen, is left to gnet's close. Loop only.
func (c *conn) detach() bool {
	st := c.state.Load()
	if st == stateAborting || st == stateClosed {
		return false
	}
	gc := c.gc
	// gnet reports an error event without input as io.EOF too; only a real end of stream is
	// one: a peek that reads zero bytes, or one that finds input a paused connection left in
	// the kernel — epoll reports the hang-up of a socket whose two directions are shut (the
	// peer's FIN after a CloseWrite), paused or not, and gnet then closes without reading.
	var b [1]byte
	n, _, err := unix.Recvfrom(gc.Fd(), b[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
	if err != nil {
		return false
	}
	late := n != 0
	if late {
		// A reset leaves the unread input in the kernel too; its error, pending still (gnet
		// did not read), tells it from a FIN, and is kept for OnClose.
		if errno := sockstate.SoError(gc.Fd()); errno != 0 {
			c.hupErr = os.NewSyscallError("read", errno)
			return false
		}
	}
	closing := st == stateClosing || c.closeReq.Load()
	unseen := c.held || c.redeliver || late
	pending := c.gc.OutboundBuffered() + int(c.queuedBytes.Load())
	if pending == 0 && (closing || c.hs.hc == nil && !unseen) {
		return false
	}
	if gc.OutboundBuffered() > 0 && findLayout(gc) != nil {
		return false // gnet's output cannot be taken over: its close sends what it can
	}
	fd, err := unix.FcntlInt(uintptr(gc.Fd()), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return false
	}
	e := c.ending()
	e.fd = fd
	c.sampleOut(0) // what gnet sent; what it holds moves to e.rest, pending output still
	if n := gc.OutboundBuffered(); n > 0 {
		out := outbound(gc)
		bufs, _ := out.Peek(-1)
		for _, p := range bufs {
			e.rest.Write(p)
		}
		_, _ = out.Discard(n)
	}
	if unseen {
		in, _ := gc.Peek(-1)
		e.eofIn = bytes.Clone(in)
	}
	e.lateIn = late
	c.gc, c.detached = nil, true
	c.holding, c.held, c.redeliver = false, false, false
	e.eofOwed = !closing
	if !c.paused {
		c.deliverEOF()
	}
	if c.finish() == gnet.Close {
		c.closeDetached()
	}
	return true
}

// deliverEOF tells the handler of the peer's end of stream, once it may hear it (not paused):
// first the input that arrived unseen while it was paused, then OnReadEOF — or, for a handler
// that is no HalfCloser, a close with cause io.EOF, which sends its output first. Loop only,
// detached.
func (c *conn) deliverEOF() {
	e := c.end
	if !e.eofOwed || c.state.Load() != stateOpen || c.closeReq.Load() {
		return
	}
	for {
		if e.lateIn {
			if err := c.readLate(); err != nil {
				c.Abort(err)
				return
			}
		}
		in := e.eofIn
		if len(in) == 0 {
			break
		}
		consumed, action, err := c.callData(in)
		switch {
		case err != nil:
			c.Abort(err)
			return
		case consumed < 0 || consumed > len(in):
			c.Abort(fmt.Errorf("gnet: handler consumed %d of %d bytes", consumed, len(in)))
			return
		case action == reactor.Close:
			c.closeWith(nil, false)
			return
		case c.state.Load() != stateOpen || c.closeReq.Load():
			return
		}
		e.eofIn = e.eofIn[:copy(e.eofIn, in[consumed:])]
		if c.paused {
			return // presented again on ResumeRead
		}
		if !e.lateIn {
			e.eofIn = nil // what the handler left is dropped: no input follows it
			break
		}
		if len(e.eofIn) > c.b.cfg.MaxInbound {
			c.Abort(reactor.ErrInboundFull)
			return
		}
	}
	if c.paused {
		return
	}
	e.eofOwed = false
	if c.hs.hc == nil {
		c.closeWith(io.EOF, false)
		return
	}
	a, err := backendkit.CallReadEOF(c.b.cfg.Logger, c.hs.hc, c)
	e.eofDone = true
	switch {
	case err != nil:
		c.Abort(err)
	case a == reactor.Close || c.wshut.Load():
		// CloseWrite, before or in OnReadEOF, ends the connection: both directions are done.
		c.closeWith(nil, false)
	}
}

// readLate reads, after what e.eofIn holds, up to a read buffer of the input the kernel still
// holds past the end of stream (lateIn); once it holds none, lateIn ends. A failed read — the
// peer reset the connection — is returned. Loop only, detached.
func (c *conn) readLate() error {
	e := c.end
	size := c.b.cfg.ReadBufferSize
	if cap(e.eofIn)-len(e.eofIn) < size {
		e.eofIn = append(make([]byte, 0, len(e.eofIn)+size), e.eofIn...)
	}
	for {
		n, err := unix.Read(e.fd, e.eofIn[len(e.eofIn):len(e.eofIn)+size])
		switch {
		case err == unix.EINTR:
			continue
		case n > 0:
			e.eofIn = e.eofIn[:len(e.eofIn)+n]
			c.st.Received(n)
			return nil
		}
		e.lateIn = false
		if err != nil && err != unix.EAGAIN {
			return os.NewSyscallError("read", err)
		}
		return nil
	}
}

// flushDetached moves q behind a detached connection's output and writes what the socket
// takes. Loop only.
func (c *conn) flushDetached(q *backendkit.Outbound) {
	if c.state.Load() == stateClosed {
		c.drop(q)
		return
	}
	handed := q.Len()
	for _, p := range q.Buffers(0) {
		c.end.rest.Write(p)
	}
	q.Reset()
	c.queuedBytes.Add(-int64(handed))
	c.writeRest()
	c.sampleOut(handed)
}

// writeRest writes what the socket takes of a detached connection's output. A failed write
// (the peer reset the connection) aborts it with the error. The caller samples what is left
// (sampleOut). Loop only.
func (c *conn) writeRest() {
	e := c.end
	for e.rest.Len() > 0 && c.state.Load() != stateClosed {
		n, err := unix.Writev(e.fd, e.rest.Buffers(maxWritev))
		if n > 0 {
			e.rest.Discard(n)
		}
		if err == unix.EINTR {
			continue
		}
		if err == unix.EAGAIN {
			break
		}
		if err != nil {
			c.lost(os.NewSyscallError("writev", err))
			break
		}
	}
}

// lost aborts a detached connection whose socket failed. A close the handler asked for keeps
// its own cause, as gnet's close after a failed write does. Loop only.
func (c *conn) lost(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	asked, cause := c.closeReq.Load() || c.state.Load() != stateOpen, c.cause
	c.abortLocked(err)
	if asked {
		c.cause = cause
	}
}

// armRetry schedules another look at output gnet or the socket says nothing of: gnet's buffer
// before CloseWrite's FIN, a detached connection's socket. It looks again after lingerFirst
// while the output shrinks, and backs off to lingerMax while it does not. Loop only.
func (c *conn) armRetry(pending int) {
	e := c.ending()
	if pending < e.retryLast {
		e.retryWait = lingerFirst
	} else {
		e.retryWait = min(max(2*e.retryWait, lingerFirst), lingerMax)
	}
	e.retryLast = pending
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state.Load() == stateClosed {
		return
	}
	if c.retry == nil {
		c.retry = time.AfterFunc(e.retryWait, c.recheck)
	} else {
		c.retry.Reset(e.retryWait)
	}
}

// closeDetached closes a detached connection, as gnet's close would have: its descriptor,
// then OnClose. Loop only, or once the loops have exited (strand).
func (c *conn) closeDetached() {
	_ = unix.Close(c.end.fd)
	c.onClose(nil)
	c.b.conns.Remove(c)
}

// pendingOut is the output written to the connection that the socket has not taken yet:
// gnet's outbound buffer, or a detached connection's own. Loop only.
func (c *conn) pendingOut() int {
	if c.detached {
		return c.end.rest.Len()
	}
	return c.gc.OutboundBuffered()
}

// sockFD is the connection's socket. Loop only.
func (c *conn) sockFD() int {
	if c.detached {
		return c.end.fd
	}
	return c.gc.Fd()
}
