package evioloop

import (
	"os"
	"syscall"

	"github.com/tidwall/evio"

	"github.com/reactorlab/reactor/reactor"
	"github.com/reactorlab/reactor/reactor/backendkit"
)

// CloseWrite flushes what was written, then shuts the write side down. Only from the
// connection's own callbacks. The loop acts on it as the callback returns (see decide): once
// evio holds nothing, the AsyncWrite queue and the callback's output handed over and written
// too, it calls shutdown(SHUT_WR). Writes are refused from the call on; reading goes on.
func (c *conn) CloseWrite() error {
	if c.closing() || c.flags.Load()&flagWShut != 0 {
		return nil
	}
	if c.eof {
		// Both ends have finished sending: flush and close, with a nil cause.
		c.requestClose(nil, false)
		return nil
	}
	// Under the lock, so that no AsyncWrite slips its bytes in after the queue is taken.
	c.mu.Lock()
	c.flags.Or(flagWShut)
	c.mu.Unlock()
	return nil
}

// shutWrite shuts the write side down, for CloseWrite, once all output is written. A failure
// aborts the connection with it.
func (c *conn) shutWrite() ([]byte, evio.Action) {
	c.wshut = true
	if err := syscall.Shutdown(c.fd, syscall.SHUT_WR); err != nil {
		c.mu.Lock()
		c.abortLocked(os.NewSyscallError("shutdown", err))
		c.mu.Unlock()
		c.closeSent, c.aborted = true, true
		c.reset()
		return nil, evio.Close
	}
	return nil, evio.None
}

// readSelf is evio's Opened call for a HalfCloser's connection, which the adapter reads
// itself. evio closes a connection as soon as a read returns 0, and so would never let the
// handler go on writing after the peer's end of stream. So for such a connection the adapter
// keeps evio's opened flag clear whenever evio holds no output for it (see steerSelf): evio
// then takes the socket's next event for its first and calls Opened, where the adapter reads
// the socket, into its loop's buffer, in place of evio. While evio holds output the flag is
// set, evio writes as usual, and does not read; once it has written everything, the PreWrite
// wake (which the loop handles before the events of its next wait) clears the flag again.
func (c *conn) readSelf() ([]byte, evio.Action) {
	c.unopened = false // evio set its flag as it called Opened
	c.resetOut()
	c.pending.Store(0) // evio holds nothing while its flag is clear
	c.wrote(0)
	if c.paused && !c.closing() && c.flags.Load()&flagWShut != 0 {
		return c.hangUpPaused()
	}
	buf := c.bell.readBuf(c.b.cfg.ReadBufferSize)
	n, err := syscall.Read(c.fd, buf)
	var out []byte
	var act evio.Action
	switch {
	case n > 0:
		out, act = c.read(buf[:n])
	case err == nil:
		out, act = c.readEOF()
	case err == syscall.EAGAIN || err == syscall.EINTR:
		out, act = c.settle(0, false)
	default:
		// The error evio would have closed the connection with.
		c.Abort(err)
		out, act = c.settle(0, false)
	}
	if len(out) == 0 && act == evio.None {
		// holdAction: evio's ModRead after Opened would watch for input the connection may
		// not want (paused, or read to its end); steerSelf has set what it wants.
		return nil, holdAction
	}
	// evio acts on the socket's next event, and after Opened it does not ask for one as it
	// does after a read: ask for writability.
	if c.epoll(syscall.EPOLLIN|syscall.EPOLLOUT) == nil {
		c.readOff = false
	}
	return out, act
}

// hangUpPaused answers the event of a paused connection whose write side is shut down: its
// socket is watched for nothing, so the event is an error or the hang-up that the peer's FIN
// makes of it, which the socket reports at every wait until closed. Reading would take the
// input still in the kernel, ahead of the FIN, into memory while the handler does not want
// it; so an error aborts the connection, and a hang-up takes the socket out of the epoll set
// until ResumeRead puts it back (steerSelf), to be read then, input first.
func (c *conn) hangUpPaused() ([]byte, evio.Action) {
	if n, err := syscall.GetsockoptInt(c.fd, syscall.SOL_SOCKET, syscall.SO_ERROR); err == nil && n != 0 {
		c.Abort(syscall.Errno(n))
		return c.settle(0, false)
	}
	if err := syscall.EpollCtl(c.epfd, syscall.EPOLL_CTL_DEL, c.fd, nil); err != nil {
		c.Abort(os.NewSyscallError("epoll_ctl", err))
		return c.settle(0, false)
	}
	c.unwatched, c.readOff = true, true
	return nil, holdAction
}

// readEOF handles the peer's end of stream, read by readSelf: it is told to the handler now,
// or once reading resumes if the connection is paused. A connection whose write side is shut
// down too then closes, paused or not: its socket reports a hang-up at every wait.
func (c *conn) readEOF() ([]byte, evio.Action) {
	if c.eof {
		// An event after the end was read: one collected before steerSelf stopped watching
		// for input, or an error (the peer's reset, most likely), which the socket would
		// report at every wait until closed; reads of 0 do not surface it.
		if n, err := syscall.GetsockoptInt(c.fd, syscall.SOL_SOCKET, syscall.SO_ERROR); err == nil && n != 0 {
			c.Abort(syscall.Errno(n))
		}
	} else {
		c.eof = true
		switch {
		case c.closing():
			// decide closes it now, without lingering for the FIN it just read.
		case c.paused && c.flags.Load()&flagWShut == 0:
			c.eofUnseen = true
		default:
			c.endOfStream()
		}
	}
	return c.settle(0, false)
}

// endOfStream calls OnReadEOF. The input not consumed yet is dropped; the connection stays
// open for writing unless the handler answers Close or has shut its write side down already.
func (c *conn) endOfStream() {
	c.eofUnseen = false
	if c.closing() {
		return
	}
	c.tail, c.unseen = nil, false // no more input will come
	if c.flags.Load()&flagAsync != 0 {
		c.takeAsync() // queued before the end of stream, so sent before the handler's answer
	}
	a, err := backendkit.CallReadEOF(c.b.cfg.Logger, c.hc, c)
	switch {
	case err != nil:
		c.Abort(err)
	case a == reactor.Close || c.flags.Load()&flagWShut != 0:
		c.requestClose(nil, false)
	}
}

// steerSelf is steer for a HalfCloser's connection while evio holds no output for it: evio's
// opened flag is cleared, so that evio's next event for the socket calls Opened (readSelf)
// rather than reading, and the socket is watched for input only while input is wanted: not
// while paused, nor once the peer's end of stream has been read, which would report the
// socket readable at every wait.
func (c *conn) steerSelf(paused bool) {
	if want := !paused && !c.eof; want == c.readOff {
		var events uint32
		if want {
			events = syscall.EPOLLIN
		}
		if c.unwatched {
			if !want {
				return // out of the epoll set already (hangUpPaused)
			}
			ev := syscall.EpollEvent{Events: events, Fd: int32(c.fd)}
			if err := syscall.EpollCtl(c.epfd, syscall.EPOLL_CTL_ADD, c.fd, &ev); err != nil {
				c.Abort(os.NewSyscallError("epoll_ctl", err))
				return
			}
			c.unwatched = false
		} else if c.epoll(events) != nil {
			return
		}
		c.readOff = !want
	}
	if !c.unopened {
		layout.setOpened(c.ec, false)
		c.unopened = true
	}
}
