package evioloop

import "time"

// Config.Stats on evio. Each loop counts into its own shard, its doorbell's. Opens, closes,
// received bytes and the output Write and AsyncWrite accept are counted where they happen.
// What evio writes is not: evio says only, by PreWrite, that it is about to write for some
// connection of some loop. So the adapter keeps, per connection, how many bytes it handed to
// evio that it has not yet seen go (given), and learns what evio wrote wherever it looks at
// evio's output buffer anyway: at a read (evio reads only once it holds nothing), at a wake,
// at the close. A connection that gave evio bytes is also listed on its loop's doorbell, and
// PreWrite rings the doorbells of the loops with such a list (once per sweep, whichever loop
// writes); the ring's Data call, on the loop, after the write, looks at each listed
// connection's buffer. Counters can lag by what a loop wrote since its last look, never past
// the loop's next turn.

// countOpen counts c as open from now, before OnOpen: made by Dial, or accepted.
func (c *conn) countOpen(dialed bool) {
	if c.st == nil {
		return
	}
	if dialed {
		c.st.Dialed()
	} else {
		c.st.Accepted()
	}
	c.born = time.Now()
}

// handOver counts, as a callback returns out to evio, the output evio takes over and the
// callback's output an abort dropped instead; a connection left holding bytes in evio is
// listed for its loop's sweep. On the loop.
func (c *conn) handOver(out []byte) {
	if c.st == nil {
		return
	}
	if len(out) == 0 && len(c.out) > 0 {
		// Not handed over, and not put back in the queue either (requeue empties c.out):
		// dropped by an abort.
		c.st.Buffer(-len(c.out))
	}
	c.given += len(out)
	if c.given > 0 && !c.swept {
		c.swept = true
		c.bell.sweep = append(c.bell.sweep, c)
		c.bell.sweepWanted.Store(true)
	}
}

// wrote counts what evio wrote since the adapter last looked, now that it holds held bytes.
// On the loop (or in evio's closing pass, once the loops have stopped).
func (c *conn) wrote(held int) {
	if n := c.given - held; n > 0 {
		c.st.Sent(n)
		c.st.Buffer(-n)
		c.given = held
	}
}

// dropGiven counts the output evio holds as dropped: an abort empties evio's buffer, or the
// connection closed with it. It must have been looked at (wrote) since evio last wrote.
func (c *conn) dropGiven() {
	c.st.Buffer(-c.given)
	c.given = 0
}

// sweepNow looks at the output evio holds for each connection listed on the doorbell's
// loop, and keeps those still holding some for the next sweep. On the loop, in the Data call
// PreWrite's ring asks for.
func (d *doorbell) sweepNow() {
	keep := d.sweep[:0]
	for i, c := range d.sweep {
		d.sweep[i] = nil
		if !c.gone {
			c.wrote(pendingOut(c.ec))
		}
		if c.gone || c.given == 0 {
			c.swept = false
			continue
		}
		keep = append(keep, c)
	}
	d.sweep = keep
	if len(keep) > 0 {
		d.sweepWanted.Store(true)
	}
}

// ringSweeps rings the doorbells of the loops that have connections to sweep, once per sweep.
// From PreWrite, on any loop: it cannot tell which loop is about to write, so it rings every
// loop waiting for a write; a loop rung before its own write is rung again at that write, as
// its sweep keeps the connection listed.
func (b *backend) ringSweeps() {
	bells := b.sweepBells.Load()
	if bells == nil {
		return
	}
	for _, d := range *bells {
		if d.sweepWanted.Load() && d.sweepWanted.CompareAndSwap(true, false) {
			d.ring()
		}
	}
}
