// Package nbionative is the nbio baseline for measuring what the nbioloop adapter costs: a
// server written straight on nbio's own API, with nbio's defaults (its acceptor, level-
// triggered pollers reading into the poller's buffer, OnData). With proto "echo" it echoes
// natively: every byte received goes back in one Conn.Write from the OnData that got it. With
// proto "http" it runs the same protocols/http1 handler as the adapter does, through the
// thinnest glue nbio allows: the handler is lent the poller's buffer (joined with the tail an
// earlier call left, which the glue keeps, as nbio keeps none), its writes gather in one slice
// handed to Conn.Write once per call, and a per-connection mutex — nbio's own way of reaching
// a connection from elsewhere — runs the handler's timers beside the poller, never at once.
//
// The glue keeps none of the adapter's promises beyond what the HTTP handler needs: no
// outbound or inbound limits, no graceful close draining, no panic recovery. It is a
// measuring stick, not a backend.
package nbionative
