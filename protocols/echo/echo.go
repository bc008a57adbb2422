// Package echo is the simplest protocol: every byte received is sent back, unchanged and in
// order. It is what tcpkali-style load generators use, and the baseline cost of a backend.
package echo

import "github.com/reactorlab/reactor/reactor"

// Handler echoes. The zero value is ready to use and holds no state, so one Handler serves
// every connection of a backend.
type Handler struct{}

// OnOpen does nothing: echo has no greeting.
func (Handler) OnOpen(reactor.Conn) {}

// OnData writes all of in back and consumes it. A write error means the backend is closing
// the connection already (ErrConnClosed, ErrOutboundFull); there is nothing more to do.
func (Handler) OnData(c reactor.Conn, in []byte) (int, reactor.Action) {
	if _, err := c.Write(in); err != nil {
		return len(in), reactor.Close
	}
	return len(in), reactor.None
}

// OnClose does nothing: echo keeps no per-connection state.
func (Handler) OnClose(reactor.Conn, error) {}
