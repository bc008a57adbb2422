package reactor

import (
	"log/slog"
	"runtime"
	"time"
)

// Defaults applied by Config.WithDefaults to zero fields.
const (
	DefaultAddr           = "127.0.0.1:0"
	DefaultReadBufferSize = 64 << 10
	DefaultMaxInbound     = 1 << 20
	DefaultMaxOutbound    = 1 << 20
	DefaultLowWater       = 64 << 10
	DefaultDialTimeout    = 5 * time.Second
)

// Config tunes a backend. The zero value works: every zero field means its documented default,
// filled in by WithDefaults. Options a backend cannot honour are listed in its Info.Unsupported.
type Config struct {
	// Addr is the TCP address to listen on, host:port. Default DefaultAddr (loopback, a port
	// chosen by the kernel; Backend.Start returns it).
	Addr string

	// Loops is the number of event loops (pollers, reactors) for backends that have them.
	// Default: runtime.GOMAXPROCS(0). Goroutine-per-connection backends ignore it.
	Loops int

	// EdgeTriggered asks for edge-triggered readiness instead of level-triggered, where the
	// backend offers the choice.
	EdgeTriggered bool

	// ReusePort binds with SO_REUSEPORT, so that other processes can serve the same port (the
	// prefork model, reactor serve --procs); backends with loops also give each loop a listener
	// of its own, the kernel spreading connections, instead of one shared listener.
	ReusePort bool

	// ReadBufferSize is the size of one read from a socket. Default DefaultReadBufferSize.
	ReadBufferSize int

	// MaxInbound bounds a connection's received-but-unconsumed bytes; past it the connection is
	// closed with ErrInboundFull. Default DefaultMaxInbound.
	MaxInbound int

	// MaxOutbound is a connection's high-water mark: output pending beyond it closes the
	// connection with ErrOutboundFull. Default DefaultMaxOutbound.
	MaxOutbound int

	// LowWater is the pending output at or below which a Handler that implements Drainer gets
	// OnDrain, after the output had been above it. Default DefaultLowWater, at most MaxOutbound.
	LowWater int

	// DialTimeout bounds how long Conn.Dial waits for an outbound connection to be made (a
	// context passed to Dial may set an earlier deadline). Default DefaultDialTimeout.
	DialTimeout time.Duration

	// Stats, when set, is where the backend counts connections, bytes and closes (see Stats);
	// nil counts nothing. Several backends may share one.
	Stats *Stats

	// Logger receives the backend's own reports (handler panics, accept errors). Default
	// slog.Default().
	Logger *slog.Logger
}

// WithDefaults returns a copy of c with every zero field set to its default.
func (c Config) WithDefaults() Config {
	if c.Addr == "" {
		c.Addr = DefaultAddr
	}
	if c.Loops <= 0 {
		c.Loops = runtime.GOMAXPROCS(0)
	}
	if c.ReadBufferSize <= 0 {
		c.ReadBufferSize = DefaultReadBufferSize
	}
	if c.MaxInbound <= 0 {
		c.MaxInbound = DefaultMaxInbound
	}
	if c.MaxOutbound <= 0 {
		c.MaxOutbound = DefaultMaxOutbound
	}
	if c.LowWater <= 0 {
		c.LowWater = DefaultLowWater
	}
	c.LowWater = min(c.LowWater, c.MaxOutbound)
	if c.DialTimeout <= 0 {
		c.DialTimeout = DefaultDialTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}
