package reactor

import "errors"

// Sentinel errors. Backends wrap them with %w where they add detail, so test with errors.Is.
var (
	// ErrServerClosed is returned by Backend.Wait after Shutdown, and is the cause given to
	// OnClose for connections closed by Shutdown.
	ErrServerClosed = errors.New("reactor: server closed")

	// ErrConnClosed is returned by writes to a connection that is closing or closed.
	ErrConnClosed = errors.New("reactor: connection closed")

	// ErrOutboundFull is the cause given to OnClose when a connection's pending output passed
	// Config.MaxOutbound (the peer does not read fast enough), and is returned by the write that
	// passed it.
	ErrOutboundFull = errors.New("reactor: outbound buffer over its limit")

	// ErrInboundFull is the cause given to OnClose when a connection's unconsumed input passed
	// Config.MaxInbound.
	ErrInboundFull = errors.New("reactor: inbound buffer over its limit")

	// ErrHandlerPanic is wrapped by the cause given to OnClose when a handler callback panicked.
	ErrHandlerPanic = errors.New("reactor: handler panicked")

	// ErrDialFailed is wrapped, together with the reason, by the cause given to OnClose when an
	// outbound connection (Conn.Dial) could not be made.
	ErrDialFailed = errors.New("reactor: dial failed")

	// ErrNotSupported is returned for a feature or option a backend cannot provide, and by
	// backends that do not run on this operating system.
	ErrNotSupported = errors.New("reactor: not supported")

	// ErrAlreadyStarted is returned by a second call to Backend.Start.
	ErrAlreadyStarted = errors.New("reactor: backend already started")

	// ErrUnknownBackend is returned by Registry.New for a name nobody registered.
	ErrUnknownBackend = errors.New("reactor: unknown backend")
)
