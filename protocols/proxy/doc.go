// Package proxy is a TCP proxy: every connection accepted is relayed, both ways and byte for
// byte, to an upstream server dialled for it with Conn.Dial. Upstreams are taken in turn
// (round-robin) from a list. It runs on every backend that offers Dial, CloseWrite and
// HalfCloser; docs/protocols.md has the user's view and the reasons behind the choices.
//
// What the relay guarantees:
//
//   - Bytes arrive in order and whole in each direction, or the other end is reset.
//   - Backpressure: when one side's pending output (Conn.Buffered) passes the high-water mark,
//     the other side's reading is paused, and resumed when the output falls to the backend's
//     LowWater (OnDrain). A side that does not read thus slows the other down through TCP
//     instead of making the server buffer: each direction holds at most the mark plus one
//     read, whatever the speeds.
//   - Half-close: the end of stream read on one side (OnReadEOF) shuts down the sending half
//     of the other (CloseWrite) once what came before it has been written; the other
//     direction goes on until it ends too, and then both connections close.
//   - Resets: a side that is cut — a reset, a broken pipe, a timeout, a backend limit — is
//     relayed as a reset of the other side (Conn.Abort), so that neither end takes a stream
//     cut short for a whole one. A side that ends in good order (end of stream, Close,
//     Shutdown) closes the other after its pending output.
//   - An upstream that cannot be reached (refused, unreachable, the backend's DialTimeout
//     passed) closes the client without a byte; the cause is logged, at most once a second
//     per upstream, with a count of the lines held back. So is an upstream that cuts a
//     connection.
//
// What runs where. A client's reading is paused in OnOpen, since there is nothing to relay to
// until the upstream connects; the upstream's OnOpen resumes it. On backends with event
// loops, Dial puts the upstream on the client's loop, but on those with a goroutine per
// connection (std, netpoll) the two sides have different owners, and a handler cannot tell
// which it is on. So the relay uses only what is safe from any owner: AsyncWrite to send to
// the other side (it copies the bytes, as Write would), Buffered to look at its output, and
// Post for what only the other side's owner may do (ResumeRead, CloseWrite), posting only
// when the other side waits for it. A pair is one allocation; relaying allocates nothing.
package proxy
