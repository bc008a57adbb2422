//go:build linux

package netpoller

// PauseRead implements reactor.Conn. Only from the connection's own callbacks. netpoll's
// poller stops reading the socket: the connection's epoll registration loses its interest in
// input (see watchInput), so the kernel's receive buffer fills and the peer's window closes.
// Input netpoll had already read when the pause took effect is taken from its buffer as always
// and kept, unpresented, in the adapter's carry-over (bounded by MaxInbound).
func (c *conn) PauseRead() {
	if c.paused {
		return
	}
	c.paused = true
	c.setWatch(false)
}

// ResumeRead implements reactor.Conn. Only from the connection's own callbacks. The poller
// reads again (netpoll's registration is level-triggered, so what waited in the kernel wakes
// it at once); input kept during the pause is presented when the current callback ends
// (settle), before anything read after it.
func (c *conn) ResumeRead() {
	if !c.paused {
		return
	}
	c.paused = false
	c.setWatch(true)
}

// setWatch turns netpoll's reading of the socket on or off; a failure aborts the connection.
// The descriptor and its registration are the connection's until onClosed, which takes c.mu:
// netpoll closes (and may reuse) them only afterwards. After the peer's end of stream there is
// nothing left to read, and the registration watches for errors alone (halfclose_linux.go).
func (c *conn) setWatch(on bool) {
	c.mu.Lock()
	var err error
	if c.state != stateClosed && !c.eof {
		err = watchInput(c.nc, c.fd, on)
	}
	c.mu.Unlock()
	if err != nil {
		c.Abort(err)
	}
}
