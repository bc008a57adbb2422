//go:build linux

package gnetloop

import (
	"time"

	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"

	"github.com/reactorlab/reactor/reactor"
)

// Config.Stats on gnet (see the package doc, Stats). gnet reads and writes by itself, so the
// bytes are counted by difference, on the loop: inSeen is what gnet held of the input when the
// adapter last looked, gnetPending what it held of the output (sampleOut); the Buffered gauge
// follows queuedBytes plus gnetPending, as Conn.Buffered does.

// shard returns the shard of Config.Stats that loop counts into, nil when not counting. gnet
// does not number its loops, so each takes the next shard when it first makes a connection.
// Only loop's own goroutine asks for it (OnOpen, Dial), so a loop is never added twice.
func (b *backend) shard(loop gnet.EventLoop) *reactor.StatShard {
	if b.cfg.Stats == nil {
		return nil
	}
	if st, ok := b.shards.Load(loop); ok {
		return st.(*reactor.StatShard)
	}
	st := b.cfg.Stats.Shard(int(b.nshards.Add(1) - 1))
	b.shards.Store(loop, st)
	return st
}

// countOpen counts c, accepted or dialed, as open from now. Loop only, before OnOpen.
func (c *conn) countOpen(dialed bool) {
	if c.st == nil {
		return
	}
	if dialed {
		c.st.Dialed()
	} else {
		c.st.Accepted()
	}
	c.born = time.Since(c.b.epoch)
	c.inSeen = 0
}

// countClose counts the end of the open connection c, with the cause OnClose gets.
func (c *conn) countClose(cause error) {
	if c.st != nil {
		c.st.Closed(cause, time.Since(c.b.epoch)-c.born)
	}
}

// countIn counts the input gnet read since the adapter last looked. Loop only, attached.
func (c *conn) countIn() {
	if c.st != nil {
		n := c.gc.InboundBuffered()
		c.st.Received(n - c.inSeen)
		c.inSeen = n
	}
}

// keptIn records what gnet holds of the input once the adapter has discarded what it took.
// Loop only, attached.
func (c *conn) keptIn() {
	if c.st != nil {
		c.inSeen = c.gc.InboundBuffered()
	}
}

// sampleOut brings gnetPending up to date with the output gnet holds (or a detached
// connection's own buffer), handed being the bytes handed to it since the last sample, and
// counts the bytes the kernel took meanwhile. It returns the output held. Loop only.
func (c *conn) sampleOut(handed int) int {
	now := c.pendingOut()
	sent := handed + int(c.gnetPending.Swap(int64(now))) - now
	c.st.Sent(sent)
	c.st.Buffer(-sent) // handed left queuedBytes uncounted; gnetPending changed by -(sent-handed)
	return now
}

// discardOut drops the output the socket has not taken, for an abort, after counting what the
// kernel took since the last sample. gnet's buffer can be emptied only where its layout is
// known (internals_linux.go); otherwise gnet's close writes what the socket takes of it, which
// the adapter cannot see either: OnClose counts it all as dropped. Loop only.
func (c *conn) discardOut() {
	c.sampleOut(0)
	if c.detached {
		c.end.rest.Reset()
	} else if c.gc.OutboundBuffered() > 0 && findLayout(c.gc) == nil {
		out := outbound(c.gc)
		_, _ = out.Discard(out.Buffered())
	}
	now := c.pendingOut()
	c.st.Buffer(now - int(c.gnetPending.Swap(int64(now))))
}

// closeOut settles the output at the close: what the kernel took since the last sample is
// sent, the rest dropped. Once OnClose returns, gnet writes what the socket takes at once of
// the output it still holds and drops the rest; while counting, the adapter makes that write
// itself, as gnet would, where it can reach gnet's buffer, so that those bytes are counted as
// sent. Loop only, or once the loops have exited (strand, for a detached connection).
func (c *conn) closeOut() {
	if c.st != nil && !c.detached && c.gc.OutboundBuffered() > 0 && findLayout(c.gc) == nil {
		out := outbound(c.gc)
		for !out.IsEmpty() {
			iov, _ := out.Peek(-1)
			n, err := unix.Writev(c.gc.Fd(), iov[:min(len(iov), maxWritev)])
			if err != nil {
				break
			}
			_, _ = out.Discard(n)
		}
		c.sampleOut(0)
		_, _ = out.Discard(out.Buffered())
	} else {
		c.sampleOut(0)
	}
	if c.end != nil {
		c.end.rest.Reset()
	}
	c.st.Buffer(-int(c.gnetPending.Swap(0)))
}
