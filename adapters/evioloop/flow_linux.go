package evioloop

import (
	"os"
	"syscall"

	"github.com/tidwall/evio"
)

// holdAction is returned to evio where None would make it read again at once: evio stores it
// as the connection's action and, unlike None, skips its ModRead after Opened and after a
// write. Its next event for the connection then only resets the action to None (loopAction
// treats an action it does not know so), which is how a paused connection's error still
// reaches a read, and the close.
const holdAction = evio.Action(-1)

// PauseRead stops reading. Only from the connection's own callbacks; the loop acts on it as
// the callback returns (see steer).
func (c *conn) PauseRead() { c.paused = true }

// ResumeRead reads again; input read while paused is presented first. Only from the
// connection's own callbacks.
func (c *conn) ResumeRead() { c.paused = false }

// Buffered is the output accepted and not yet handed to the kernel: the AsyncWrite queue, the
// callback's output, and what evio held when the loop last looked. evio tells nothing when
// it writes, so a call that finds evio holding bytes wakes the loop to look again: a caller
// that polls sees the count fall. Safe from any goroutine.
func (c *conn) Buffered() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.inEvio.Load() {
		c.wakeLocked()
	}
	return len(c.async) + int(c.pending.Load())
}

// account records, as a callback returns out to evio, what evio holds from now on.
func (c *conn) account(held int, out []byte) {
	n := held + len(out)
	c.pending.Store(int64(n))
	c.inEvio.Store(n > 0)
}

// requeue puts the callback's output back in front of the AsyncWrite queue: evio still holds
// output, which a hand-off would replace, so it waits for the next wake like AsyncWrite bytes.
// Everything queued is later than what the callback wrote (Write took the queue first).
func (c *conn) requeue() {
	c.mu.Lock()
	c.pending.Add(-int64(len(c.out))) // counted again in the queue
	c.out = append(c.out, c.async...)
	c.async, c.out = c.out, c.async[:0]
	c.flags.Or(flagAsync)
	c.mu.Unlock()
}

// checkDrain calls OnDrain when the pending output, having been above LowWater, is no longer.
// held is what evio holds. Only on the loop, between callbacks.
func (c *conn) checkDrain(held int) {
	if c.onDrain == nil {
		return
	}
	c.mu.Lock()
	n := held + len(c.out) + len(c.async)
	c.mu.Unlock()
	switch {
	case n > c.b.cfg.LowWater:
		c.above = true
	case c.above:
		c.above = false
		c.call(c.onDrain)
	}
}

// steer makes evio's reading of the connection follow PauseRead as a callback returns out to
// evio with evio.None. woke says the callback is a wake's, which evio makes from its note
// queue after epoll_wait and before the events that call collected.
//
// evio reads whenever it has an event for a connection that holds no output and no action,
// and sets reading back on (ModRead, ModReadWrite) after Opened, after a write that empties
// its buffer, and after any callback that returns output. So: while evio holds output it
// does not read, and the pause waits, the connection deferred to the next PreWrite; once
// evio holds nothing, the adapter takes the socket out of the loop's epoll set (events 0:
// only errors and hang-ups are reported) and, from a wake, also clears evio's opened flag,
// since an event collected with the wake would otherwise read: evio then calls Opened for it
// instead, which answers holdAction (see opened). Input evio reads in spite of all this (an
// error's event) is kept for ResumeRead.
func (c *conn) steer(held int, out []byte, woke bool) {
	paused := c.paused && !c.closing()
	switch {
	case held > 0 || len(out) > 0:
		c.reopen()
		c.readOff = false // evio sets reading back on after the write, or now (ModReadWrite)
		if paused || c.hc != nil {
			c.b.deferConn(c) // to steer again once evio has written it all
		}
	case c.hc != nil:
		c.steerSelf(paused)
	case paused && !c.readOff:
		if c.epoll(0) != nil {
			return
		}
		c.readOff = true
		if woke {
			layout.setOpened(c.ec, false)
			c.unopened = true
		}
	case !paused && c.readOff:
		c.reopen()
		c.readOff = false
		c.epoll(syscall.EPOLLIN)
	}
	if !c.paused && (c.unseen || c.eofUnseen) {
		// What was read while paused, for the handler now, or dropped if the connection is
		// closing (see woken, which looks at the same flags).
		c.wake()
	}
}

// reopen undoes steer's clearing of evio's opened flag.
func (c *conn) reopen() {
	if c.unopened {
		layout.setOpened(c.ec, true)
		c.unopened = false
	}
}

// epoll sets the events the loop's epoll set watches for on the connection's socket, as
// evio's own Mod calls do. A failure aborts the connection.
func (c *conn) epoll(events uint32) error {
	ev := syscall.EpollEvent{Events: events, Fd: int32(c.fd)}
	if err := syscall.EpollCtl(c.epfd, syscall.EPOLL_CTL_MOD, c.fd, &ev); err != nil {
		err = os.NewSyscallError("epoll_ctl", err)
		c.Abort(err)
		return err
	}
	return nil
}
