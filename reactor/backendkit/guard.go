package backendkit

import (
	"fmt"
	"log/slog"

	"github.com/reactorlab/reactor/reactor"
)

// CallOpen calls h.OnOpen(c) for a backend. A panic is recovered, logged once with its stack,
// and returned as an error wrapping reactor.ErrHandlerPanic, for the backend to abort the connection
// with: a panicking handler costs its connection, never the server.
func CallOpen(log *slog.Logger, h reactor.Handler, c reactor.Conn) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = HandlerPanic(log, c.RemoteAddr().String(), v)
		}
	}()
	h.OnOpen(c)
	return nil
}

// CallData calls h.OnData(c, in) for a backend, recovering a panic as CallOpen does. It also
// returns an error when the handler claims to have consumed a count outside [0, len(in)],
// which breaks the contract and would corrupt the stream.
func CallData(log *slog.Logger, h reactor.Handler, c reactor.Conn, in []byte) (n int, a reactor.Action, err error) {
	defer func() {
		if v := recover(); v != nil {
			err = HandlerPanic(log, c.RemoteAddr().String(), v)
		}
	}()
	n, a = h.OnData(c, in)
	if n < 0 || n > len(in) {
		return 0, reactor.Close, fmt.Errorf("%w: consumed %d of %d bytes", reactor.ErrHandlerPanic, n, len(in))
	}
	return n, a, nil
}

// CallReadEOF calls h.OnReadEOF(c) for a backend whose handler is a reactor.HalfCloser,
// recovering a panic as CallOpen does.
func CallReadEOF(log *slog.Logger, h reactor.HalfCloser, c reactor.Conn) (a reactor.Action, err error) {
	defer func() {
		if v := recover(); v != nil {
			err = HandlerPanic(log, c.RemoteAddr().String(), v)
		}
	}()
	return h.OnReadEOF(c), nil
}

// CallClose calls h.OnClose(c, cause) for a backend. The connection is gone already, so a
// panic is only logged, and reported for the backend to count (reactor.StatShard.HandlerPanic).
func CallClose(log *slog.Logger, h reactor.Handler, c reactor.Conn, cause error) (panicked bool) {
	defer func() {
		if v := recover(); v != nil {
			HandlerPanic(log, c.RemoteAddr().String(), v)
			panicked = true
		}
	}()
	h.OnClose(c, cause)
	return false
}
