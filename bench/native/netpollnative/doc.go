// Package netpollnative is the netpoll baseline for measuring what the netpoller adapter
// costs: a server written straight on netpoll's own API. With proto "http" it runs the same
// protocols/http1 handler as the adapter does, through the thinnest glue netpoll allows: the
// handler is lent the Reader's Peek of all buffered input, consumed bytes are Skipped, an
// incomplete request is waited for with a blocking Peek (netpoll's own style), and the
// handler's writes gather in one slice copied into the Writer and Flushed once per call. With
// proto "echo" it echoes natively: Next, Malloc, copy, Flush.
//
// The glue keeps none of the adapter's promises beyond what the HTTP handler needs: no
// outbound or inbound limits, no AsyncWrite from other goroutines, no panic recovery. It is a
// measuring stick, not a backend. netpoll's pollers are process-wide; Serve raises their
// number to loops and never lowers it.
package netpollnative
