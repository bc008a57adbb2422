//go:build linux

package netpoller

import (
	"sync"
	"sync/atomic"

	"github.com/reactorlab/reactor/reactor"
)

// netpoll's poller reads every connection whenever input arrives, into a buffer whose reads
// double up to 8 MiB, however far the connection's handler lags behind: on its own it would
// hold megabytes of a streaming peer's input, and a PauseRead would find them read already.
// The adapter bounds it. It wraps the Inputs and InputAck of the connection's FDOperator
// (exported fields netpoll's poller calls around each read): a read is cut to what fits under
// the connection's read window, and once netpoll holds a full window the poller stops
// watching the descriptor for input — the epoll_ctl PauseRead makes — until the adapter has
// taken the input from netpoll's buffer (onRequest). A peer then meets the kernel's flow
// control, as with any backend that reads only what it handles.

const (
	// readWindow is the most input netpoll holds for a connection the adapter has yet to
	// take (more only while the goroutine paces, see pace).
	readWindow = reactor.DefaultReadBufferSize
	// readAhead is the most input netpoll holds for a connection outside pace.
	readAhead = readWindow
)

// gate is whether netpoll's poller watches a connection for input: only while the handler
// has not paused reading and netpoll's buffer has room. Lock order: conn.mu, then gate.mu;
// netpoll's poller takes gate.mu alone.
type gate struct {
	window atomic.Int64 // readWindow, or more while the handler's goroutine paces (pace)

	mu     sync.Mutex
	paused bool  // PauseRead is in force
	held   bool  // input a pause kept from the handler waits to be presented (conn.held)
	full   bool  // netpoll's buffer held a full window when the poller last read
	off    bool  // the registration has no EPOLLIN: the poller does not read
	gone   bool  // onClosed ran: netpoll may close the descriptor at any moment
	err    error // the poller could not stop reading; the adapter aborts with it
}

// watchWindow wraps the Inputs and InputAck of c's operator. The poller must not be using
// the operator meanwhile: c is not registered yet (onPrepare), or holdOperator holds it.
func (c *conn) watchWindow() error {
	c.in.window.Store(readWindow)
	_, op, err := layoutOf(c.nc)
	if err != nil {
		return err
	}
	inputs, ack := op.Inputs, op.InputAck
	op.Inputs = func(vs [][]byte) [][]byte {
		// With no room, nothing is read: the poller's read on an input event finds room (the
		// window filled by a read stops the input events), so this is its read-all after a
		// peer's FIN or hang-up, which stops there (the poller closes the connection only
		// when it read nothing at all) and reads the rest when the adapter has taken the
		// input and the poller watches the socket again. The room is judged before netpoll
		// books its buffer: the poller calls InputAck only after a read, and a booking never
		// acknowledged shifts where the next read lands past the bytes netpoll hands out.
		room := int(c.in.window.Load()) - c.nc.Reader().Len()
		if room <= 0 {
			return vs[:0]
		}
		rs := inputs(vs)
		// netpoll books one slice; cutting it is safe, as its InputAck keeps only the bytes
		// read.
		if len(rs) == 1 && len(rs[0]) > room {
			rs[0] = rs[0][:room]
		}
		return rs
	}
	op.InputAck = func(n int) error {
		err := ack(n)
		if n > 0 {
			c.fillWindow()
		}
		return err
	}
	return nil
}

// fillWindow runs on netpoll's poller after each read: once its buffer holds a full window,
// the poller stops reading. The poller is handling c's event, so c's descriptor is open and
// registered unless onClosed ran (gone) or netpoll detached it at a hang-up (ENOENT, which
// watchInput ignores).
func (c *conn) fillWindow() {
	g := &c.in
	if c.nc.Reader().Len() < int(g.window.Load()) {
		return
	}
	// Decided again under the lock, which the adapter takes after taking input (refill):
	// either it sees full, or this sees the input gone.
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.gone || c.nc.Reader().Len() < int(g.window.Load()) {
		return
	}
	g.full = true
	if !g.off {
		if err := watchInput(c.nc, c.fd, false); err != nil {
			g.err = err
			return
		}
		g.off = true
	}
}

// applyWatchLocked brings the registration in line with the gate: it watches for input
// unless reading is paused, input a pause kept waits to be presented, netpoll's buffer is
// still full, or the connection saw its end of stream or is closed. (Held input first: a
// handler that pauses again after each window it is shown would otherwise let the poller
// add a window each time it resumes, and the input kept grow without end.) A failure is
// returned for the caller to abort with. c.mu held.
func (c *conn) applyWatchLocked() error {
	g := &c.in
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.full && c.nc.Reader().Len() < int(g.window.Load()) {
		g.full = false
	}
	if err := g.err; err != nil {
		g.err = nil
		return err
	}
	if g.gone || c.state == stateClosed || c.eof {
		return nil
	}
	if on := !g.paused && !g.held && !g.full; on == g.off {
		if err := watchInput(c.nc, c.fd, on); err != nil {
			return err
		}
		g.off = !on
	}
	return nil
}

// refill is called once input was taken from netpoll's buffer: a poller that stopped at a
// full window reads again.
func (c *conn) refill() {
	c.in.mu.Lock()
	stopped := c.in.full || c.in.err != nil
	c.in.mu.Unlock()
	if !stopped {
		return
	}
	c.mu.Lock()
	err := c.applyWatchLocked()
	c.mu.Unlock()
	if err != nil {
		c.Abort(err)
	}
}

// setWindowLocked sets the window, letting the poller read on at once if it stopped below
// the new one. It returns an error to abort with, as applyWatchLocked. c.mu held.
func (c *conn) setWindowLocked(n int) error {
	c.in.window.Store(int64(n))
	return c.applyWatchLocked()
}

// setPaused records a PauseRead (p) or ResumeRead and applies it to the registration; a
// failure aborts the connection.
func (c *conn) setPaused(p bool) {
	c.mu.Lock()
	c.in.mu.Lock()
	c.in.paused = p
	c.in.mu.Unlock()
	err := c.applyWatchLocked()
	c.mu.Unlock()
	if err != nil {
		c.Abort(err)
	}
}

// setHeld records whether input a pause kept waits for the handler, after a delivery, and
// applies it to the registration; a failure aborts the connection. Owner only.
func (c *conn) setHeld(held bool) {
	if held == c.heldGate {
		return
	}
	c.heldGate = held
	c.mu.Lock()
	c.in.mu.Lock()
	c.in.held = held
	c.in.mu.Unlock()
	err := c.applyWatchLocked()
	c.mu.Unlock()
	if err != nil {
		c.Abort(err)
	}
}

// closeWindow records that netpoll may close c's descriptor from now on: the poller no longer
// touches its registration.
// c.mu held.
func (c *conn) closeWindowLocked() {
	c.in.mu.Lock()
	c.in.gone = true
	c.in.mu.Unlock()
}
