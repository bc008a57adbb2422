// Package tlswrap serves any reactor.Handler over TLS, on any backend, with the standard
// library's crypto/tls and no goroutine per connection.
//
// New wraps a handler; the wrapper is itself a reactor.Handler, served like any other:
//
//	h, err := tlswrap.New(http1.New(http1.Config{}), tlswrap.Config{TLS: &tls.Config{
//		Certificates: []tls.Certificate{cert},
//		NextProtos:   []string{"http/1.1"},
//	}})
//	…
//	addr, err := backend.Start(h)
//
// # What runs where
//
// The handshake runs as a coroutine (iter.Pull) on the connection's owner: OnData hands it the
// ciphertext that arrived and resumes it, and it suspends again when it needs more. Once the
// handshake is done the coroutine has ended; records are then decrypted and sealed directly on
// the owner, inside the callbacks, over an in-memory transport that never blocks. An idle
// established connection holds its crypto/tls state and nothing else: no goroutine, no read
// buffer.
//
// # What the wrapped handler sees
//
// The inner handler sees plaintext and a reactor.Conn that keeps the whole contract: OnOpen once
// the handshake has succeeded (never for a connection whose handshake failed, which then gets no
// OnClose either), OnData with decrypted bytes, lent as usual, and OnClose once. On its Conn:
//
//   - Write, inside a callback, gathers plaintext; what one callback wrote is sealed when it
//     returns, in records of up to 16 KiB. Outside the connection's own callbacks (a proxy
//     writing from its other half on the same loop) it seals at once.
//   - AsyncWrite seals at once, on the caller's goroutine, and hands the records to the
//     backend's AsyncWrite; a lock per connection orders every sealing with the hand-over of
//     its records, so they reach the backend in the order of their sequence numbers, and the
//     backend's one write order does the rest. (Sealing on the owner, via Post, would lose
//     what AsyncWrite accepted when the connection closes first: Shutdown delivers
//     AsyncWrites, not posted functions.) While a callback of the connection gathers its
//     writes, AsyncWrite adds to them instead, after what the callback wrote.
//   - Close sends what was written, then a close_notify alert, then closes. CloseWrite sends a
//     close_notify and half-closes TCP. Abort resets at once.
//   - Post, AfterFunc, PauseRead, ResumeRead and Buffered keep their meaning (Buffered counts
//     plaintext not yet sealed as well as ciphertext not yet sent); Dial dials plain TCP, so a
//     proxy behind the wrapper terminates TLS.
//   - The peer's close_notify, or its TCP end of stream at a record boundary, is the end of
//     input: OnReadEOF for a reactor.HalfCloser, otherwise the connection closes and OnClose
//     gets io.EOF. A paused handler hears of it only after ResumeRead, once it has been shown
//     every byte that came before. A TCP end of stream inside a record is a truncated stream:
//     the connection closes and OnClose gets io.ErrUnexpectedEOF.
//
// State reports the negotiated tls.ConnectionState of a connection it wraps.
//
// # Limits and bad input
//
// A handshake must finish within Config.HandshakeTimeout (10 s); at most Config.MaxHandshakes
// (1024) run at once per Handler, later ones wait, paused, for a slot. Decrypted input the inner
// handler has not consumed is bounded by Config.MaxInbound; output, sealed as it is written, by
// the backend's Config.MaxOutbound. Waiting for a slot uses PauseRead, so on a backend that
// cannot pause (gnet with EdgeTriggered) a ClientHello past the bound ends its connection with
// reactor.ErrNotSupported instead. A handshake that fails (a ClientHello cut short, a record that is not TLS,
// an oversized record, a peer that stalls) closes the connection after crypto/tls's alert, and
// the cause is logged at most once a second. Plain HTTP sent to the TLS port, when the handler
// speaks http/1.1 (Config.TLS.NextProtos lists it), gets a 400 answer saying so, as nginx does;
// anything else is closed. docs/robustness.md lists the cases and their tests.
package tlswrap
