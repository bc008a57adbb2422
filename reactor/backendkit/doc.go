// Package backendkit holds what a backend author needs and a protocol author never calls: the
// guarded calls of a Handler's callbacks (CallOpen, CallData, CallReadEOF, CallClose), which turn
// a panic into a logged error that costs one connection, never the server; HandlerPanic, for
// posted functions and timers that run outside those calls; and Outbound, the pooled queue of
// chunks a connection's pending output waits in, sent with writev; and for Conn.Dial, the address
// check every backend makes (CheckDialAddr), the cause a failed dial is reported with (DialError)
// and a standard-library dial for backends that connect off their loops (DialTCP).
//
// Every backend in this module uses it; a backend written elsewhere may too. Protocols and
// programs that only serve need package reactor alone.
package backendkit
