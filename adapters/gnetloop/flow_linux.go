//go:build linux

package gnetloop

import (
	"fmt"
	"time"

	"github.com/panjf2000/gnet/v2/pkg/netpoll"
	"golang.org/x/sys/unix"

	"github.com/reactorlab/reactor/reactor"
	"github.com/reactorlab/reactor/reactor/backendkit"
)

// PauseRead implements reactor.Conn. Only from the connection's own callbacks. It takes effect
// when the callback returns (finish), since the output the callback wrote may make gnet
// rewrite the connection's epoll entry.
//
// With Config.EdgeTriggered it cannot work: gnet's edge-triggered reader, once started, re-arms
// itself (a loop task per full read) until the socket is empty, whatever the epoll entry says,
// so a peer that keeps sending would be read without end into gnet's inbound buffer. The
// connection is then aborted with an error wrapping ErrNotSupported, rather than paused in name
// only. After the peer's end of stream (a connection detached from gnet, halfclose_linux.go)
// there is nothing left to read, and a pause only holds back OnReadEOF, in either mode.
func (c *conn) PauseRead() {
	if c.b.cfg.EdgeTriggered && !c.detached {
		c.Abort(fmt.Errorf("gnet: PauseRead in edge-triggered mode: %w", reactor.ErrNotSupported))
		return
	}
	c.paused = true
}

// ResumeRead implements reactor.Conn. Only from the connection's own callbacks. gnet's own
// interest is restored at once; input that arrived while paused is delivered by a loop task
// unless new input brings it first.
func (c *conn) ResumeRead() {
	if !c.paused {
		return
	}
	c.paused = false
	if c.holding {
		c.holding = false
		if err := watch(c.gc, c.readEvents()); err != nil {
			c.Abort(err)
			return
		}
	}
	if c.held || c.detached && c.end.eofOwed {
		c.held = false
		c.redeliver = true
		c.mu.Lock()
		c.schedule()
		c.mu.Unlock()
	}
}

// readEvents are the events gnet itself has its loop wait for on a connection (eventloop's
// register0, conn.write and eventloop.write).
func (c *conn) readEvents() uint32 {
	if c.b.cfg.EdgeTriggered {
		return netpoll.ReadWriteEvents | unix.EPOLLET | unix.EPOLLRDHUP
	}
	if c.gc.OutboundBuffered() > 0 {
		return netpoll.ReadWriteEvents
	}
	return netpoll.ReadEvents
}

// pausedEvents are readEvents without input. EPOLLRDHUP goes too: gnet closes a connection that
// reports it without EPOLLIN, which would drop input the handler has not seen yet.
func (c *conn) pausedEvents() uint32 {
	if c.b.cfg.EdgeTriggered {
		return netpoll.WriteEvents | unix.EPOLLET
	}
	if c.gc.OutboundBuffered() > 0 {
		return netpoll.WriteEvents
	}
	return 0 // epoll still reports errors and hang-ups, and gnet closes the connection on them
}

// hold keeps a paused connection's socket out of its loop's reads. In level-triggered mode gnet
// rewrites the epoll entry with input included whenever its outbound buffer fills (conn.write)
// or empties (eventloop.write), so hold runs after every callback and task while paused, and
// gnet may take one read (Config.ReadBufferSize) before it runs again; those bytes wait,
// unseen, in gnet's inbound buffer. In edge-triggered mode gnet never rewrites the entry, but
// a read burst it began goes on until the socket is empty. Loop only.
func (c *conn) hold() {
	if c.holding && c.b.cfg.EdgeTriggered {
		return
	}
	if err := findLayout(c.gc); err != nil {
		c.Abort(fmt.Errorf("gnet: PauseRead: %w: %v", reactor.ErrNotSupported, err))
		return
	}
	if err := watch(c.gc, c.pausedEvents()); err != nil {
		c.Abort(err)
		return
	}
	c.holding = true
}

// Buffered implements reactor.Conn. Safe from any goroutine. gnet's share is as last sampled on
// the loop (at the start of every callback and after every flush): gnet empties its buffer on
// its own, without a word.
func (c *conn) Buffered() int {
	return int(c.queuedBytes.Load() + c.gnetPending.Load())
}

// drained reports, after settle, whether the pending output has just fallen to LowWater from
// above it: OnDrain is due. While it stays above, a timer looks again, as gnet says nothing
// when its outbound buffer empties. Loop only.
func (c *conn) drained() bool {
	if c.hs.dr == nil || c.state.Load() != stateOpen {
		return false
	}
	pending := c.Buffered()
	if pending > c.b.cfg.LowWater {
		c.above = true
		c.watchDrain(pending)
		return false
	}
	if !c.aboveSeen.Swap(false) && !c.above {
		return false
	}
	c.above = false
	return true
}

// noteAbove records that Buffered may have been seen above LowWater, queued being the bytes
// queued now: a write that the loop then sends at once never shows drained a pending output
// above the mark, yet a handler that saw it there (a proxy that paused its other side) waits
// for OnDrain. Safe from any goroutine.
func (c *conn) noteAbove(queued int64) {
	if c.hs.dr != nil && int(queued+c.gnetPending.Load()) > c.b.cfg.LowWater && !c.aboveSeen.Load() {
		c.aboveSeen.Store(true)
	}
}

// watchDrain arms the drain timer unless it is armed. It looks again after lingerFirst while
// the output shrinks, and backs off to lingerMax while a peer does not read.
func (c *conn) watchDrain(pending int) {
	if c.watching.Load() {
		return
	}
	if pending < c.watchLast {
		c.watchWait = lingerFirst
	} else {
		c.watchWait = min(max(2*c.watchWait, lingerFirst), lingerMax)
	}
	c.watchLast = pending
	c.watching.Store(true)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state.Load() == stateClosed {
		return
	}
	if c.watch == nil {
		c.watch = time.AfterFunc(c.watchWait, c.drainCheck)
	} else {
		c.watch.Reset(c.watchWait)
	}
}

// drainCheck runs on the timer's goroutine and hands the check to the loop.
func (c *conn) drainCheck() {
	c.watching.Store(false)
	c.recheck()
}

// callDrain calls the handler's OnDrain, a panic costing the connection.
func (c *conn) callDrain() {
	defer c.recoverAbort()
	c.hs.dr.OnDrain(c)
}

// recoverAbort, deferred around a handler call, aborts the connection on a panic.
func (c *conn) recoverAbort() {
	if v := recover(); v != nil {
		c.Abort(backendkit.HandlerPanic(c.b.cfg.Logger, c.remote.String(), v))
	}
}
