//go:build linux

package netpollnative

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/cloudwego/netpoll"

	"github.com/reactorlab/reactor/bench/native/internal/nodial"
	"github.com/reactorlab/reactor/bench/native/internal/ownertimer"
	"github.com/reactorlab/reactor/protocols/http1"
	"github.com/reactorlab/reactor/reactor"
)

// httpConfig is the http1 handler's; tests shorten its time limits.
var httpConfig = http1.Config{}

// stopGrace bounds how long Serve waits for netpoll to close its connections once ctx is
// done.
const stopGrace = 5 * time.Second

// Serve listens on addr and serves proto ("http" or "echo") on netpoll with loops pollers
// until ctx is done; then it shuts the event loop down and returns nil.
func Serve(ctx context.Context, proto, addr string, loops int) error {
	var onRequest netpoll.OnRequest
	opts := []netpoll.Option{}
	switch proto {
	case "http":
		h := http1.New(httpConfig)
		defer h.Close()
		s := &httpServer{h: h}
		onRequest = s.onRequest
		opts = append(opts, netpoll.WithOnConnect(s.onConnect))
	case "echo":
		onRequest = echo
	default:
		return fmt.Errorf("netpollnative: protocol %q: %w (http, echo)", proto, reactor.ErrNotSupported)
	}
	if loops > 0 {
		if err := netpoll.Configure(netpoll.Config{PollerNum: loops}); err != nil {
			return fmt.Errorf("netpollnative: %w", err)
		}
	}
	ln, err := netpoll.CreateListener("tcp", addr)
	if err != nil {
		return fmt.Errorf("netpollnative: %w", err)
	}
	evl, err := netpoll.NewEventLoop(onRequest, opts...)
	if err != nil {
		ln.Close()
		return fmt.Errorf("netpollnative: %w", err)
	}
	served := make(chan error, 1)
	// Exits when the event loop stops: after the Shutdown below, or on its own.
	go func() { served <- evl.Serve(ln) }()
	select {
	case <-ctx.Done():
	case err := <-served:
		if err == nil {
			err = errors.New("event loop stopped")
		}
		return fmt.Errorf("netpollnative: %w", err)
	}
	sctx, cancel := context.WithTimeout(context.Background(), stopGrace)
	defer cancel()
	// A Shutdown that lands before Serve registered its server is ignored; repeat until
	// Serve has returned.
	for {
		_ = evl.Shutdown(sctx)
		select {
		case <-served:
			return nil
		case <-sctx.Done():
			return nil
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// echo writes back everything buffered.
func echo(_ context.Context, c netpoll.Connection) error {
	r, w := c.Reader(), c.Writer()
	in, err := r.Next(r.Len())
	if err != nil {
		return err
	}
	out, err := w.Malloc(len(in))
	if err != nil {
		return err
	}
	copy(out, in)
	if err := r.Release(); err != nil {
		return err
	}
	return w.Flush()
}

// httpServer runs the http1 handler with the least glue netpoll needs.
type httpServer struct{ h *http1.Handler }

type glueKey struct{}

func (s *httpServer) onConnect(ctx context.Context, c netpoll.Connection) context.Context {
	g := &glue{c: c}
	c.AddCloseCallback(func(netpoll.Connection) error {
		g.mu.Lock()
		defer g.mu.Unlock()
		g.gone = true
		g.posted = nil
		g.timers.Close()
		s.h.OnClose(g, nil)
		return nil
	})
	g.owned(func() { s.h.OnOpen(g) })
	return context.WithValue(ctx, glueKey{}, g)
}

func (s *httpServer) onRequest(ctx context.Context, c netpoll.Connection) error {
	g := ctx.Value(glueKey{}).(*glue)
	r := c.Reader()
	defer r.Release()
	for r.Len() > 0 {
		n := r.Len()
		in, err := r.Peek(n)
		if err != nil {
			return err
		}
		var consumed int
		if !g.owned(func() {
			var a reactor.Action
			consumed, a = s.h.OnData(g, in)
			if a == reactor.Close {
				g.closing = true
			}
		}) {
			return nil // closed
		}
		if consumed > 0 {
			_ = r.Skip(consumed)
		}
		if consumed == 0 {
			// An incomplete request: wait for more input, netpoll's blocking way.
			if _, err := r.Peek(n + 1); err != nil {
				return err
			}
		}
	}
	return nil
}

// glue is the reactor.Conn the handler writes to: writes gather in out and are flushed once
// per onRequest step.
//
// The handler's owner is whoever holds mu: onRequest's goroutine around OnData, a timer's
// goroutine around its function, the goroutine draining what was posted, and netpoll's close
// callback. None holds it while it blocks on the peer.
type glue struct {
	nodial.Unsupported
	c       netpoll.Connection
	mu      sync.Mutex
	out     []byte
	ctx     any
	closing bool
	gone    bool // the close callback ran
	timers  ownertimer.Set

	posted   []func(reactor.Conn) // under mu
	draining bool                 // a goroutine runs posted; under mu
}

// owned runs run as the connection's owner, then sends what it wrote and closes the
// connection if it asked to. It reports false, running nothing, once the connection is gone
// or closing.
func (g *glue) owned(run func()) bool {
	g.mu.Lock()
	if g.gone || g.closing {
		g.mu.Unlock()
		return false
	}
	run()
	closing := g.send() != nil || g.closing
	g.closing = closing
	g.mu.Unlock()
	if closing {
		// Outside mu: netpoll may run the close callback, which takes it, inside Close.
		g.c.Close()
	}
	return !closing
}

// Post queues f and has a goroutine run the queue as the owner, in order. The baseline's
// handler does not post.
func (g *glue) Post(f func(reactor.Conn)) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.gone || g.closing {
		return reactor.ErrConnClosed
	}
	g.posted = append(g.posted, f)
	if !g.draining {
		g.draining = true
		// Exits once the queue is empty, or the connection is gone (the queue is then dropped).
		go g.drain()
	}
	return nil
}

func (g *glue) drain() {
	for {
		g.mu.Lock()
		if len(g.posted) == 0 {
			g.draining = false
			g.mu.Unlock()
			return
		}
		f := g.posted[0]
		g.posted = g.posted[1:]
		g.mu.Unlock()
		if !g.owned(func() { f(g) }) {
			g.mu.Lock()
			g.draining = false
			g.mu.Unlock()
			return
		}
	}
}

// AfterFunc runs f after d on the timer's own goroutine, as the owner; the close callback stops
// the connection's timers. This is how the handler keeps its time limits: a slow request's
// onRequest waits in Peek without mu, and the Close that follows a 408 ends that wait.
func (g *glue) AfterFunc(d time.Duration, f func(reactor.Conn)) (stop func() bool) {
	return g.timers.AfterFunc(d, func(run func()) { g.owned(run) }, func() { f(g) })
}

// PauseRead, ResumeRead and Buffered are not used by the baseline's handler: the first two do
// nothing, and Buffered counts only the output gathered in the current callback.
func (g *glue) PauseRead()    {}
func (g *glue) ResumeRead()   {}
func (g *glue) Buffered() int { return len(g.out) }

func (g *glue) send() error {
	if len(g.out) == 0 {
		return nil
	}
	w := g.c.Writer()
	buf, err := w.Malloc(len(g.out))
	if err != nil {
		return err
	}
	copy(buf, g.out)
	g.out = g.out[:0]
	return w.Flush()
}

func (g *glue) Write(p []byte) (int, error) {
	g.out = append(g.out, p...)
	return len(p), nil
}

// AsyncWrite is not part of the baseline: the HTTP handler does not use it.
func (g *glue) AsyncWrite([]byte) error {
	return fmt.Errorf("netpollnative: AsyncWrite: %w", reactor.ErrNotSupported)
}

func (g *glue) Close() error {
	g.closing = true
	return nil
}

func (g *glue) Abort(error) { g.closing = true }

func (g *glue) LocalAddr() net.Addr  { return g.c.LocalAddr() }
func (g *glue) RemoteAddr() net.Addr { return g.c.RemoteAddr() }
func (g *glue) Context() any         { return g.ctx }
func (g *glue) SetContext(v any)     { g.ctx = v }
