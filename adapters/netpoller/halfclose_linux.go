//go:build linux

package netpoller

import (
	"io"
	"os"
	"syscall"

	"github.com/cloudwego/netpoll"

	"github.com/reactorlab/reactor/internal/sockstate"
	"github.com/reactorlab/reactor/reactor"
	"github.com/reactorlab/reactor/reactor/backendkit"
)

// CloseWrite implements reactor.Conn. Only from the connection's own callbacks. Writes are
// refused from now on, and the sending half is shut down (shutdown(2) with SHUT_WR, so the peer
// reads end of stream) as soon as everything written before has reached the kernel: when the
// current turn ends, or when the flusher has sent the rest to a slow peer. Once OnReadEOF was
// delivered it closes the connection instead.
func (c *conn) CloseWrite() error {
	c.mu.Lock()
	if c.state != stateOpen || c.closeReq || c.wshut {
		c.mu.Unlock()
		return nil
	}
	c.wshut = true
	c.mu.Unlock()
	if c.readEOF {
		c.closeWith(nil)
	}
	return nil
}

// shutWriteLocked shuts down the sending half once CloseWrite asked for it and the output has
// all reached the kernel. It reports whether that failed and aborted the connection, which the
// caller then resets. A connection asked to close is left to finish, which shuts it down
// itself. c.mu held.
func (c *conn) shutWriteLocked() bool {
	if !c.wshut || c.wdone || c.flushing || c.out.Len() > 0 || c.state != stateOpen || c.closeReq {
		return false
	}
	c.wdone = true
	if err := syscall.Shutdown(c.fd, syscall.SHUT_WR); err != nil {
		return c.abortLocked(os.NewSyscallError("shutdown", err))
	}
	return false
}

// interceptHup makes c's the OnHup of its netpoll connection, keeping netpoll's own to call
// when the hang-up is not an orderly end of stream (see internals_linux.go). For a HalfCloser
// only; netpoll must not be using the operator meanwhile.
func (c *conn) interceptHup() error {
	orig, err := interceptHup(c.nc, c.onHup)
	if err != nil {
		return err
	}
	c.origHup = orig
	return nil
}

// onHup is the OnHup of a HalfCloser's connection (interceptHup). netpoll's poller has detached
// the connection — it reads no more — and calls onHup on a goroutine of netpoll's, after a read
// that returned end of stream or an error, or on an error event. An orderly end of stream is
// taken from netpoll: the connection stays open, the end of stream is owed to the handler after
// the input before it (settle), and the descriptor is watched for errors again. A reset, or
// the hang-up a connection that sent its FIN waits for (finish), is netpoll's as for any
// handler: its onHup closes the connection. Once the end of stream was taken, onHup can only
// mean that the registration for errors fired.
func (c *conn) onHup(p netpoll.Poll) error {
	c.mu.Lock()
	if c.eof {
		errno := sockstate.SoError(c.fd)
		if errno == 0 && c.wdone {
			// Both halves are shut: CloseWrite followed the end of stream, and the close
			// follows OnReadEOF. Nothing is left to watch.
			c.mu.Unlock()
			return nil
		}
		if errno == 0 {
			errno = syscall.ECONNRESET
		}
		ok := c.abortLocked(os.NewSyscallError("read", errno))
		c.mu.Unlock()
		if ok {
			c.reset()
		}
		return nil
	}
	if c.state != stateOpen || !sockstate.OrderlyEOF(c.fd, c.wdone) {
		c.mu.Unlock()
		return c.origHup(p)
	}
	err := c.takeEOFLocked()
	if err == nil && !c.busy {
		// Nobody owns the connection to deliver the end of stream: a runner does, or waits
		// for the netpoll task that delivers the input before it.
		c.busy = true
		c.b.wg.Add(1)
		go c.runPosted()
	}
	c.mu.Unlock()
	if err != nil {
		c.Abort(err)
	}
	return nil
}

// takeEOFLocked records that netpoll's poller has read the peer's end of stream and detached
// the connection, and that the adapter now keeps it: the end of stream is owed to the handler,
// as an orderly one or not (eofReset). Input the poller left in the kernel — a paused
// connection's poller, or one stopped at a full window, does not read, and sees only the
// hang-up of both halves after CloseWrite — is delivered first: settle reads it, a window at
// a time, as the handler takes it (readLate). A HalfCloser's descriptor, still open for
// writing, is watched for errors again. An error watching is returned for the caller to abort
// with, once c.mu is released. c.mu held.
func (c *conn) takeEOFLocked() error {
	c.eof, c.eofOwed, c.lateLeft = true, true, true
	c.eofReset = !sockstate.OrderlyEOF(c.fd, c.wdone)
	if c.hc != nil && !c.eofReset && !c.wdone {
		return watchErrors(c.nc, c.fd)
	}
	return nil
}

// endOfInput delivers the peer's end of stream on the owner, after every byte before it.
// Input the handler left unconsumed is dropped. A HalfCloser gets OnReadEOF, and the
// connection stays open for writing unless it returns Close or CloseWrite was called; other
// handlers get the close netpoll would have made (OnClose with io.EOF, once the output is
// flushed), and a reset closes with ECONNRESET.
func (c *conn) endOfInput(reset bool) {
	c.carry, c.held = c.carry[:0], false
	if reset {
		c.closeWith(os.NewSyscallError("read", syscall.ECONNRESET))
		return
	}
	if c.hc == nil {
		c.closeWith(io.EOF)
		return
	}
	c.readEOF = true
	a, err := backendkit.CallReadEOF(c.b.cfg.Logger, c.hc, c)
	c.mu.Lock()
	wshut := c.wshut
	c.mu.Unlock()
	switch {
	case err != nil:
		c.Abort(err)
	case a == reactor.Close || wshut:
		c.closeWith(nil)
	}
}

// readLate reads up to a window of the input the kernel still holds after the peer's end of
// stream, into a buffer kept for the purpose; it returns nothing once the kernel holds none
// (end of stream, or an error: a reset, which endOfInput reports). The descriptor is open:
// netpoll closes it only after onClosed. c.mu held.
func (c *conn) readLate() []byte {
	if !c.lateLeft {
		return nil
	}
	if c.lateBuf == nil {
		c.lateBuf = make([]byte, readWindow)
	}
	for {
		n, err := syscall.Read(c.fd, c.lateBuf)
		if err == syscall.EINTR {
			continue
		}
		if err != nil || n <= 0 {
			c.lateLeft, c.lateBuf = false, nil
			return nil
		}
		c.st.Received(n)
		return c.lateBuf[:n]
	}
}
