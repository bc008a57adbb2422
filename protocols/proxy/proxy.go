package proxy

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/reactorlab/reactor/internal/ratelog"
	"github.com/reactorlab/reactor/reactor"
)

// Config tunes a Proxy. Upstreams is required; every other zero field means its default.
type Config struct {
	// Upstreams are the servers to relay to, host:port each (ParseUpstreams reads the
	// comma-separated form). Connections are dealt out to them in turn, round-robin.
	Upstreams []string

	// HighWater is the pending output, in bytes, past which one side of a pair stops reading
	// the other: when the upstream's output passes it the client is paused, and the other way
	// round. Reading resumes when the output falls to the backend's LowWater (OnDrain). It must
	// lie between Backend.LowWater and Backend.MaxOutbound less one read (ReadBufferSize), so
	// that the read that crosses the mark still fits. Default: 4 × LowWater (256 KiB with the
	// backend's defaults), lowered to fit under MaxOutbound when that is small.
	HighWater int

	// Backend is the Config of the backend that serves the proxy (zero fields meaning their
	// defaults, as for the backend): its LowWater, MaxOutbound and ReadBufferSize size and
	// bound HighWater. Its DialTimeout is what bounds a connection to an upstream; the proxy
	// sets no deadline of its own.
	Backend reactor.Config

	// Logger receives the proxy's warnings: an upstream that cannot be reached or that cuts a
	// connection (at most one line a second per upstream, with a count of those held back),
	// and, at debug level, clients that cut theirs. Default slog.Default().
	Logger *slog.Logger
}

// Proxy is a reactor.Handler that relays every connection it is given to an upstream server,
// both ways; see the package documentation. It also implements reactor.HalfCloser and
// reactor.Drainer, which it needs to relay half-closes and to resume reading. One Proxy serves
// every connection of a backend; its methods are safe for the concurrent callbacks of many
// connections.
type Proxy struct {
	ups       *roundRobin
	highWater int
	log       *slog.Logger
	// clientWarn limits the debug lines about clients that cut their connections.
	clientWarn ratelog.Limiter
}

// New returns a Proxy for cfg, or an error naming what is wrong with it: no upstream, a
// malformed one, or a HighWater the backend's limits leave no room for.
func New(cfg Config) (*Proxy, error) {
	if len(cfg.Upstreams) == 0 {
		return nil, ErrNoUpstream
	}
	for _, a := range cfg.Upstreams {
		if err := checkUpstream(a); err != nil {
			return nil, err
		}
	}
	hw, err := highWater(cfg.HighWater, cfg.Backend.WithDefaults())
	if err != nil {
		return nil, err
	}
	p := &Proxy{ups: newRoundRobin(cfg.Upstreams), highWater: hw, log: cfg.Logger}
	if p.log == nil {
		p.log = slog.Default()
	}
	return p, nil
}

// highWater checks the mark asked for against the backend's limits, or chooses one.
//
// Pausing when the output passes the mark must be followed by an OnDrain, which comes only
// when the output falls to LowWater from above: so the mark may not be below LowWater. The
// read that takes the output past the mark is relayed whole, so the mark plus one read must
// fit under MaxOutbound, or the backend drops the connection instead.
func highWater(asked int, b reactor.Config) (int, error) {
	most := b.MaxOutbound - b.ReadBufferSize
	if asked < 0 {
		return 0, fmt.Errorf("proxy: high-water mark %d is negative", asked)
	}
	if asked == 0 {
		hw := min(4*b.LowWater, most)
		if hw < b.LowWater {
			return 0, fmt.Errorf("proxy: the backend's MaxOutbound %d leaves no room for a high-water mark between its LowWater %d and MaxOutbound less one read (%d); raise MaxOutbound",
				b.MaxOutbound, b.LowWater, b.ReadBufferSize)
		}
		return hw, nil
	}
	if asked < b.LowWater || asked > most {
		return 0, fmt.Errorf("proxy: high-water mark %d must lie between the backend's LowWater %d and its MaxOutbound %d less one read of %d (%d)",
			asked, b.LowWater, b.MaxOutbound, b.ReadBufferSize, most)
	}
	return asked, nil
}

// HighWater returns the mark in force: the one asked for, or the default chosen by New.
func (p *Proxy) HighWater() int { return p.highWater }

// OnOpen pauses the client, which has nothing to be relayed to yet, and dials its upstream;
// the upstream's OnOpen resumes it. The dial is bounded by the backend's DialTimeout.
func (p *Proxy) OnOpen(c reactor.Conn) {
	pr := newPair(p, p.ups.pick(), c)
	c.SetContext(pr)
	pr.client.paused.Store(true)
	c.PauseRead()
	if err := c.Dial(context.Background(), pr.target.addr, (*upstreamHandler)(pr)); err != nil {
		// The dial could not begin (the backend cannot dial, or the client is closing): the
		// upstream side never opens, so the client is closed here.
		pr.dialFailed(err)
		c.Close()
	}
}

// OnData relays the client's bytes to its upstream.
func (p *Proxy) OnData(c reactor.Conn, in []byte) (int, reactor.Action) {
	return c.Context().(*pair).client.relay(c, in)
}

// OnReadEOF relays the client's half-close: the upstream's sending half is shut down once
// what the client sent before its FIN has been written.
func (p *Proxy) OnReadEOF(c reactor.Conn) reactor.Action {
	c.Context().(*pair).client.readEOF()
	return reactor.None
}

// OnDrain resumes the upstream's reading if the client's output had paused it.
func (p *Proxy) OnDrain(c reactor.Conn) {
	c.Context().(*pair).client.drained()
}

// OnClose ends the pair: the upstream is closed, or reset if the client's connection was cut
// (see the package documentation). An upstream still being dialled is closed when it opens.
func (p *Proxy) OnClose(c reactor.Conn, err error) {
	pr, ok := c.Context().(*pair)
	if !ok {
		return
	}
	pr.clientClosed(err)
}
