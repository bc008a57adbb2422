//go:build linux

package netpoller

// PauseRead implements reactor.Conn. Only from the connection's own callbacks. netpoll's
// poller stops reading the socket: the connection's epoll registration loses its interest in
// input (see watchInput), so the kernel's receive buffer fills and the peer's window closes.
// Input netpoll had already read when the pause took effect — at most readAhead, as netpoll
// reads no further ahead of the adapter (window_linux.go) — is taken from its buffer as always
// and kept, unpresented, in the adapter's carry-over.
func (c *conn) PauseRead() {
	if c.paused {
		return
	}
	c.paused = true
	c.setPaused(true)
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
	c.setPaused(false)
}
