// Package discard is the Discard Protocol (RFC 863) over TCP: every byte a connection sends is
// read and thrown away, and nothing is ever sent back. It is the counterpart of servers that
// only receive, and a client that only sends is never slowed by it: the bytes are consumed as
// fast as the backend reads them, so neither side's buffers fill.
//
// A Handler counts what it served (Stats). It is safe for the concurrent callbacks of many
// connections, and one Handler serves every connection of a backend.
package discard

import (
	"sync/atomic"

	"github.com/reactorlab/reactor/reactor"
)

// Handler discards. The zero value is ready to use.
type Handler struct {
	conns, bytes atomic.Uint64
}

// Stats is what a Handler has counted.
type Stats struct {
	Conns uint64 // connections opened
	Bytes uint64 // bytes received and discarded
}

// OnOpen counts the connection; there is no greeting.
func (h *Handler) OnOpen(reactor.Conn) { h.conns.Add(1) }

// OnData consumes all of in, counting it.
func (h *Handler) OnData(_ reactor.Conn, in []byte) (int, reactor.Action) {
	h.bytes.Add(uint64(len(in)))
	return len(in), reactor.None
}

// OnClose does nothing: a connection leaves no state.
func (h *Handler) OnClose(reactor.Conn, error) {}

// Stats reports the counts so far. Safe from any goroutine.
func (h *Handler) Stats() Stats {
	return Stats{Conns: h.conns.Load(), Bytes: h.bytes.Load()}
}
