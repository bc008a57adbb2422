package proxy

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/reactorlab/reactor/reactor"
)

// pair is one proxied connection: a client and the connection dialled to an upstream for it.
// It is the pair's one allocation; the relay allocates nothing per message.
type pair struct {
	p      *Proxy
	target *upstream

	client   side
	upstream side

	// mu orders the client's OnClose against the upstream's OnOpen, which may run at once on
	// backends where each connection has its own goroutine: whichever comes second ends the
	// other. It guards upstream.conn's setting, clientGone and clientErr.
	mu         sync.Mutex
	clientGone bool  // the client closed before the upstream opened
	clientErr  error // and why

	upOpened bool        // the upstream's OnOpen ran; the upstream's owner's only
	ended    atomic.Bool // set by the first side to close, whose cause is the pair's
}

// side is one connection of a pair, relaying what it reads to its peer.
type side struct {
	pr   *pair
	peer *side
	// conn is this side's connection: the client's from the start, the upstream's from its
	// OnOpen. The peer's callbacks read it only after learning of it through a Post (the
	// client is resumed by one) or the Dial, so it needs no lock there.
	conn reactor.Conn
	// paused is set while this side's reading is paused because its peer's output passed the
	// high-water mark. This side's owner sets it; the peer's OnDrain reads it, so that it posts
	// a resume only to a side that waits for one (a Post wakes the owner, which on the std
	// backend interrupts a blocked Read).
	paused     atomic.Bool
	resumeFn   func(reactor.Conn) // resumeClient or resumeUpstream: a func value, not a closure
	isUpstream bool
}

func newPair(p *Proxy, u *upstream, c reactor.Conn) *pair {
	pr := &pair{p: p, target: u}
	pr.client = side{pr: pr, peer: &pr.upstream, conn: c, resumeFn: resumeClient}
	pr.upstream = side{pr: pr, peer: &pr.client, resumeFn: resumeUpstream, isUpstream: true}
	return pr
}

// relay sends in to the peer and pauses this side when the peer's output has passed the
// mark. On this side's owner.
func (s *side) relay(c reactor.Conn, in []byte) (int, reactor.Action) {
	t := s.peer.conn
	// AsyncWrite, not Write: the peer may belong to another goroutine (std, netpoll), and a
	// handler cannot tell. It copies, as Write would.
	if err := t.AsyncWrite(in); err != nil {
		// The peer is closing (or was just dropped over MaxOutbound): its OnClose ends this
		// side with the right cause. Read nothing more meanwhile.
		c.PauseRead()
		return len(in), reactor.None
	}
	if t.Buffered() > s.pr.p.highWater {
		// The flag goes up before the second look, so that an OnDrain of the peer's that
		// races with this either sees it and posts a resume, or came before the second look,
		// which then finds the output fallen and does not pause.
		s.paused.Store(true)
		if t.Buffered() > s.pr.p.highWater {
			c.PauseRead()
		} else {
			s.paused.Store(false)
		}
	}
	return len(in), reactor.None
}

// resume resumes this side's reading if it was paused and its peer's output is at or below
// the mark. On this side's owner, posted by the peer's OnDrain (or, for the client, by the
// upstream's OnOpen). A resume that finds the output above the mark again leaves the side
// paused: the output is above LowWater, so another OnDrain is to come.
func (s *side) resume(c reactor.Conn) {
	if !s.paused.Load() || s.peer.conn.Buffered() > s.pr.p.highWater {
		return
	}
	s.paused.Store(false)
	c.ResumeRead()
}

func resumeClient(c reactor.Conn)   { c.Context().(*pair).client.resume(c) }
func resumeUpstream(c reactor.Conn) { c.Context().(*pair).upstream.resume(c) }

// closeWrite is posted to a side whose peer has read the end of stream. CloseWrite flushes
// what the peer relayed before, then sends the FIN.
func closeWrite(c reactor.Conn) { c.CloseWrite() }

// readEOF relays this side's end of stream to the peer's sending half. A peer already
// closing refuses the Post, and its OnClose ends this side.
func (s *side) readEOF() {
	s.peer.conn.Post(closeWrite)
}

// drained resumes the peer if it was paused for this side's output. On this side's owner.
func (s *side) drained() {
	if t := s.peer; t.paused.Load() {
		t.conn.Post(t.resumeFn)
	}
}

// clean reports whether a connection ended in good order, so that its peer may be closed
// with a FIN after its pending output. Anything else cut the stream short (a reset, a broken
// pipe, a timeout, a limit, a panic), and the peer is reset too, so that it does not take a
// truncated stream for a whole one.
func clean(err error) bool {
	return err == nil || errors.Is(err, io.EOF) || errors.Is(err, reactor.ErrServerClosed)
}

// end closes c after its pending output, or resets it when cause cut the stream.
func end(c reactor.Conn, cause error) {
	if clean(cause) {
		c.Close()
	} else {
		c.Abort(cause)
	}
}

// closed notes that s ended with err; the first side of the pair to end decides the pair's
// cause, which is logged when it is not clean: an upstream's as a warning, a client's at
// debug level.
func (s *side) closed(err error) {
	pr := s.pr
	if !pr.ended.CompareAndSwap(false, true) || clean(err) {
		return
	}
	if s.isUpstream {
		if n, ok := pr.target.warn.Allow(); ok {
			pr.p.log.Warn("proxy: upstream cut the connection", "upstream", pr.target.addr,
				"client", pr.client.conn.RemoteAddr().String(), "err", err, "suppressed", n)
		}
		return
	}
	if pr.p.log.Enabled(context.Background(), slog.LevelDebug) {
		if n, ok := pr.p.clientWarn.Allow(); ok {
			pr.p.log.Debug("proxy: client cut the connection", "client", pr.client.conn.RemoteAddr().String(),
				"upstream", pr.target.addr, "err", err, "suppressed", n)
		}
	}
}

// dialFailed logs that the upstream could not be reached, unless the server is shutting down.
func (pr *pair) dialFailed(err error) {
	pr.ended.Store(true)
	if errors.Is(err, reactor.ErrServerClosed) {
		return
	}
	if n, ok := pr.target.warn.Allow(); ok {
		pr.p.log.Warn("proxy: cannot reach upstream", "upstream", pr.target.addr,
			"client", pr.client.conn.RemoteAddr().String(), "err", err, "suppressed", n)
	}
}

// clientClosed ends the pair from the client's side: the upstream is ended like the client,
// at once if it is open, or when it opens.
func (pr *pair) clientClosed(err error) {
	pr.mu.Lock()
	up := pr.upstream.conn
	if up == nil {
		pr.clientGone, pr.clientErr = true, err
	}
	pr.mu.Unlock()
	pr.client.closed(err)
	if up != nil {
		end(up, err)
	}
}

// upstreamHandler serves a pair's upstream connection: the Handler given to Dial. It is the
// pair itself under another method set, so it costs no allocation.
type upstreamHandler pair

// OnOpen resumes the client, paused since it was accepted, or ends the upstream at once if
// the client has gone meanwhile.
func (h *upstreamHandler) OnOpen(c reactor.Conn) {
	pr := (*pair)(h)
	c.SetContext(pr)
	pr.upOpened = true
	pr.mu.Lock()
	pr.upstream.conn = c
	gone, cause := pr.clientGone, pr.clientErr
	pr.mu.Unlock()
	if gone {
		end(c, cause)
		return
	}
	// A client already closing refuses the Post; its OnClose, which now sees the upstream,
	// ends it.
	pr.client.conn.Post(resumeClient)
}

// OnData relays the upstream's bytes to the client.
func (h *upstreamHandler) OnData(c reactor.Conn, in []byte) (int, reactor.Action) {
	return (*pair)(h).upstream.relay(c, in)
}

// OnReadEOF relays the upstream's half-close to the client.
func (h *upstreamHandler) OnReadEOF(reactor.Conn) reactor.Action {
	(*pair)(h).upstream.readEOF()
	return reactor.None
}

// OnDrain resumes the client's reading if the upstream's output had paused it.
func (h *upstreamHandler) OnDrain(reactor.Conn) { (*pair)(h).upstream.drained() }

// OnClose ends the client like the upstream; an upstream that never opened could not be
// dialled, and the client is closed after logging why.
func (h *upstreamHandler) OnClose(_ reactor.Conn, err error) {
	pr := (*pair)(h)
	if !pr.upOpened {
		pr.dialFailed(err)
		pr.client.conn.Close()
		return
	}
	pr.upstream.closed(err)
	end(pr.client.conn, err)
}
