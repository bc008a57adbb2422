//go:build !unix

package stdnet

// awaitError is a paused reader's wait: until a post or a close wakes it. It takes no bytes and
// asks nothing of the socket: on Windows, the runtime's only readiness wait is a zero-byte
// receive that returns at once while unread bytes wait, so a paused reader would spin. A reset
// is therefore seen only when reading resumes, or when a write fails.
func (c *conn) awaitError() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for !c.woken && !c.closing && !c.closed {
		c.wake.Wait()
	}
	return nil
}
