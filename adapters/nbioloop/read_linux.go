//go:build linux

package nbioloop

import (
	"errors"
	"net"
	"os"
	"syscall"
)

// A connection owned by another loop than its poller's (a dialed one: nbio picks the poller
// by descriptor, the contract wants the dialer's loop) is read by its poller, so that input
// is taken before nbio acts on a hang-up in the same event, and delivered by its owner. Only
// the poller reads it, so reads never race; the owner asks the poller for more (ResumeRead,
// input it had to leave) with a task on the poller's loop.

// pollerRead reads the socket into the connection's mail and posts the mail to the owner. On
// the poller's goroutine.
func (c *conn) pollerRead() {
	if c.rdraining.Load() {
		c.discard(c.pl.rbuf)
		return
	}
	buf := c.pl.rbuf
	if c.rpaused.Load() {
		if c.hungUp() {
			// The owner holds it until reading resumes. A socket read to its end already has
			// nothing left to salvage, and a second end posted would overtake the input the
			// owner holds.
			c.mu.Lock()
			if !c.mailEOF && c.mailErr == nil {
				c.mail, c.mailEOF, c.mailErr = c.salvage(c.mail, buf)
				c.postMailLocked()
			}
			c.mu.Unlock()
			return
		}
		c.noteError()
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mailEOF || c.mailErr != nil {
		return
	}
	for {
		if c.mailPosted || len(c.mail) >= len(buf) {
			// The owner takes what it has first (it may pause), then asks for more: the
			// poller reads ahead of the handler by one buffer at most.
			if c.hungUp() {
				c.mail, c.mailEOF, c.mailErr = c.salvage(c.mail, buf)
				break
			}
			c.readMore = true
			break
		}
		n, err := c.nc.Read(buf)
		if n > 0 {
			c.lp.shard.Received(n)
			c.mail = append(c.mail, buf[:n]...)
			continue
		}
		if err == nil {
			c.mailEOF = true
		} else if errors.Is(err, syscall.EINTR) {
			continue
		} else if !errors.Is(err, syscall.EAGAIN) && !errors.Is(err, net.ErrClosed) {
			c.mailErr = os.NewSyscallError("read", err)
		}
		break
	}
	c.postMailLocked()
}

// postMailLocked has the owner take the mail, once however many reads fill it. mu held.
func (c *conn) postMailLocked() {
	if !c.mailPosted && (len(c.mail) > 0 || c.mailEOF || c.mailErr != nil || c.readMore) {
		c.mailPosted = c.lp.post(c.mailTask)
	}
}

// takeMail delivers what the poller read, then the end of stream or the error it met. A paused
// connection holds the input for ResumeRead. Loop only.
func (c *conn) takeMail() {
	c.mu.Lock()
	mail, eof, err, more := c.mail, c.mailEOF, c.mailErr, c.readMore
	c.mail, c.readMore, c.mailPosted = nil, false, false
	c.mu.Unlock()
	if !c.opened || c.closed {
		return
	}
	if c.paused {
		c.in = append(c.in, mail...)
		c.unshown = c.unshown || len(mail) > 0
	} else {
		c.present(mail)
	}
	c.mu.Lock()
	if c.mail == nil && cap(mail) <= c.b.cfg.ReadBufferSize {
		c.mail = mail[:0] // the buffer serves the next reads
	}
	c.mu.Unlock()
	switch {
	case c.closed || c.ending.Load():
	case err != nil:
		c.Abort(err)
	case eof && !c.paused:
		c.peerEOF()
	case eof:
		// Presented by resumeMail once reading resumes, after the input held.
	case more && !c.paused:
		c.pl.post(c.pollerReadTask)
	}
	c.settle()
}

// resumeMail is ResumeRead's read for a connection another loop owns: an end of stream the
// poller met is presented now; otherwise the poller is asked to read. Loop only.
func (c *conn) resumeMail() {
	c.mu.Lock()
	eof := c.mailEOF && !c.mailPosted
	c.mu.Unlock()
	if eof {
		c.peerEOF()
		return
	}
	c.pl.post(c.pollerReadTask)
}
