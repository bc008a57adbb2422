//go:build linux

package epoll

// Closing: graceful closes, their lingering wait for the peer's FIN, aborts, and the release
// of a connection's descriptor and slot.

import (
	"io"
	"os"
	"time"

	"github.com/reactorlab/reactor/reactor"
	"github.com/reactorlab/reactor/reactor/backendkit"
	"golang.org/x/sys/unix"
)

// lingerer is a closed connection that still drains its peer's input, until a deadline.
type lingerer struct {
	c     *conn
	until time.Time
}

// beginClose stops reading from c and closes it once its output is sent.
func (l *loop) beginClose(c *conn, cause error) {
	if c.state == stateConnecting {
		l.failDial(c, cause) // Shutdown: no connection to close gracefully
		return
	}
	if c.state != stateOpen {
		return
	}
	c.state, c.closeErr = stateClosing, cause
	c.dropTail()
	if c.timers != nil {
		l.stopTimers(c) // closing: what they would run could no longer write
	}
	if c.blocked {
		linger(c)
		l.update(c) // EPOLLOUT will finish the job
		return
	}
	l.flush(c)
}

// linger bounds the wait of a graceful close whose output the peer has not taken yet. It
// waits, but not forever: if the peer acknowledges nothing for closeLinger, the kernel gives
// up on the connection (ETIMEDOUT) and the loop sees the error on the socket. A peer that
// reads, however slowly, keeps it alive. The kernel keeps the clock, so the loop needs none.
func linger(c *conn) {
	unix.SetsockoptInt(int(c.fd), unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT, int(closeLinger/time.Millisecond))
}

// finishClose ends c, whose output has all been sent. A peer that has not finished sending
// gets a lingering close: closing a socket that holds unread input, or that input arrives at
// later, makes the kernel answer with a reset, which destroys whatever of the reply the peer
// has not read yet (a large reply to a request pipelined before more input, say). So the
// write side is shut down (FIN) and the connection, closed as far as the handler knows, goes
// on discarding input until the peer's FIN or drainLinger, whichever comes first.
func (l *loop) finishClose(c *conn) {
	if c.closeErr == io.EOF || c.eof {
		l.release(c, c.closeErr) // the peer has finished sending: nothing can provoke a reset
		return
	}
	if err := unix.Shutdown(int(c.fd), unix.SHUT_WR); err != nil {
		l.release(c, c.closeErr)
		return
	}
	c.state = stateLingering
	c.req.Or(reqClosed)
	l.callClose(c, c.closeErr)
	if l.ring != nil {
		// The receive stays armed, or is armed again, and its completions are dropped.
		l.lingering = append(l.lingering, lingerer{c: c, until: time.Now().Add(drainLinger)})
		l.update(c)
		return
	}
	if !l.discard(c) {
		return
	}
	l.lingering = append(l.lingering, lingerer{c: c, until: time.Now().Add(drainLinger)})
	if !l.edge && c.events != unix.EPOLLIN {
		if err := l.poll.mod(int(c.fd), c.slot, unix.EPOLLIN); err != nil {
			l.release(c, nil)
			return
		}
		c.events = unix.EPOLLIN
	}
}

// discard reads and drops what a lingering connection's peer sent, and closes the connection
// at its end of stream or error. It reports whether the connection still lingers. Edge-
// triggered readiness is reported once, so it reads until the socket is empty, re-arming after
// edgeReads full reads as read does.
func (l *loop) discard(c *conn) bool {
	for i := 1; ; i++ {
		n, err := unix.Read(int(c.fd), l.buf)
		l.st.Received(n)
		switch {
		case err == unix.EAGAIN:
			return true
		case err == unix.EINTR:
			continue
		case err != nil || n == 0:
			l.release(c, nil)
			return false
		}
		if !l.edge || n < len(l.buf) {
			return true
		}
		if i >= edgeReads {
			l.rearm(c)
			return c.state == stateLingering
		}
	}
}

// expireLingering closes the lingering connections whose deadline has passed, and forgets
// those closed meanwhile by their peer's FIN. Deadlines are all drainLinger after the close
// began, so the queue is in deadline order.
func (l *loop) expireLingering() {
	now, k := time.Now(), 0
	for ; k < len(l.lingering); k++ {
		g := l.lingering[k]
		if g.c.state != stateLingering {
			continue
		}
		if now.Before(g.until) {
			break
		}
		l.release(g.c, nil)
	}
	if k > 0 {
		n := copy(l.lingering, l.lingering[k:])
		clear(l.lingering[n:])
		l.lingering = l.lingering[:n]
	}
}

// closeWrite carries out CloseWrite: output stops, and the write side is shut down once what
// was written is sent (flush, shutWrite).
func (l *loop) closeWrite(c *conn) {
	// Under the mutex, as AsyncWrite checks req under it: every AsyncWrite either is in the
	// inbox by now, to go out before the FIN, or fails.
	l.mu.Lock()
	c.req.Or(reqWriteShut)
	l.mu.Unlock()
	if c.backlog.Load() != int64(c.out.Len()) {
		l.takeInboxed(c)
	}
	c.shut = shutAsked // the settle after the callback flushes, then shuts down
}

// shutWrite shuts down c's write side, its output all sent. If its peer's end of stream was
// given to a HalfCloser already, nothing is left to happen on the connection, and it closes.
func (l *loop) shutWrite(c *conn) {
	c.shut = shutDone
	if err := unix.Shutdown(int(c.fd), unix.SHUT_WR); err != nil {
		l.abort(c, os.NewSyscallError("shutdown", err))
		return
	}
	if c.eof {
		l.release(c, nil)
	}
}

// readEOF gives the peer's end of stream to a HalfCloser handler. Reading stops for good — the
// input left unconsumed is dropped, and level-triggered, the interest in input with it, as the
// socket would be readable forever — while the connection stays open for writing until the
// handler ends it. If its write side is shut already, nothing is left, and it closes.
func (l *loop) readEOF(c *conn) {
	c.eof = true
	c.dropTail()
	l.hold() // select watches it no more, and sweeps it for errors
	a, err := backendkit.CallReadEOF(l.log, c.h.halfCloser, c)
	if err != nil {
		l.abort(c, err)
		return
	}
	l.settle(c)
	if a == reactor.Close || c.shut == shutDone {
		l.beginClose(c, nil)
	}
}

// abort closes c at once, dropping its pending output.
func (l *loop) abort(c *conn, cause error) {
	switch c.state {
	case stateClosed:
		return
	case stateConnecting:
		l.failDial(c, cause)
		return
	}
	// A reset rather than a FIN: the output is being thrown away, and the kernel should not go
	// on trying to deliver what is already in the socket buffer to a peer that does not read.
	unix.SetsockoptLinger(int(c.fd), unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1})
	l.release(c, cause)
}

// release closes c's descriptor, frees its slot and buffers and calls OnClose, unless c was
// lingering, whose OnClose ran when its close began.
func (l *loop) release(c *conn, cause error) {
	lingered := c.state == stateLingering
	c.state = stateClosed
	c.req.Or(reqClosed)
	c.dropTail()
	if l.ring == nil {
		c.out.Reset() // (io_uring: unless a send in flight holds the chunks; see ringRelease)
	}
	l.st.Buffer(-int(c.backlog.Swap(0))) // for Buffered: an abort dropped the output
	if c.held {
		c.held = false
		l.nheld--
	}
	if c.eof {
		l.nheld-- // see readEOF
	}
	if c.timers != nil {
		l.stopTimers(c)
	}
	l.live--
	if l.ring != nil {
		l.ringRelease(c)
	} else {
		l.conns[c.slot] = nil
		l.free = append(l.free, c.slot)
	}
	if c.fd >= 0 && l.ring == nil { // a dial looking up its host name has no socket yet
		l.poll.del(int(c.fd))
		unix.Close(int(c.fd)) // also takes it out of an epoll set
	}
	if !lingered {
		l.callClose(c, cause)
	}
}
