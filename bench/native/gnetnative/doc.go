// Package gnetnative is the gnet baseline for measuring what the gnetloop adapter costs: a
// server written straight on gnet's own API. With proto "http" it runs the same
// protocols/http1 handler as the adapter does, through the thinnest glue gnet allows (the
// handler is lent Peek(-1), its writes are gathered in one slice and handed to gnet's Write
// once per callback), so the difference measured is the adapter's — its outbound queue,
// limits, close states and panic guard — not the protocol's. With proto "echo" it echoes
// natively: every byte received is written back in the same callback.
//
// The glue keeps none of the adapter's promises beyond what the HTTP handler needs: no
// outbound or inbound limits, no graceful close draining, no panic recovery. It is a
// measuring stick, not a backend.
package gnetnative
