//go:build linux

package gnetnative

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"

	"github.com/reactorlab/reactor/bench/native/internal/nodial"
	"github.com/reactorlab/reactor/bench/native/internal/ownertimer"
	"github.com/reactorlab/reactor/protocols/http1"
	"github.com/reactorlab/reactor/reactor"
)

// httpConfig is the http1 handler's; tests shorten its time limits.
var httpConfig = http1.Config{}

// Serve listens on addr and serves proto ("http" or "echo") on gnet with loops event loops
// until ctx is done; then it stops the engine and returns nil once gnet has.
func Serve(ctx context.Context, proto, addr string, loops int) error {
	var ev gnet.EventHandler
	var h *http1.Handler
	switch proto {
	case "http":
		h = http1.New(httpConfig)
		defer h.Close()
		ev = &httpEvents{h: h}
	case "echo":
		ev = &echoEvents{}
	default:
		return fmt.Errorf("gnetnative: protocol %q: %w (http, echo)", proto, reactor.ErrNotSupported)
	}
	if loops <= 0 {
		loops = 1
	}
	booted := make(chan gnet.Engine, 1)
	runDone := make(chan error, 1)
	// Exits when the engine stops: below, once ctx is done, or on its own if it fails.
	go func() {
		runDone <- gnet.Run(bootHook{ev, booted}, "tcp://"+addr,
			gnet.WithNumEventLoop(loops),
			gnet.WithTCPNoDelay(gnet.TCPNoDelay),
			gnet.WithLogger(quiet{}))
	}()
	var eng gnet.Engine
	select {
	case eng = <-booted:
	case err := <-runDone:
		return fmt.Errorf("gnetnative: %w", err)
	}
	select {
	case <-ctx.Done():
	case err := <-runDone:
		if err == nil {
			err = errors.New("engine stopped")
		}
		return fmt.Errorf("gnetnative: %w", err)
	}
	// Engine.Stop notices the end on a 500 ms poll; cancel it as soon as Run has returned.
	stopCtx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		_ = eng.Stop(stopCtx)
	}()
	<-runDone
	cancel()
	<-stopped
	return nil
}

// bootHook hands the engine to Serve from OnBoot and forwards everything else.
type bootHook struct {
	gnet.EventHandler
	booted chan<- gnet.Engine
}

func (b bootHook) OnBoot(eng gnet.Engine) gnet.Action {
	b.booted <- eng
	return gnet.None
}

// echoEvents writes every byte back from the callback that received it.
type echoEvents struct{ gnet.BuiltinEventEngine }

func (*echoEvents) OnTraffic(c gnet.Conn) gnet.Action {
	buf, _ := c.Next(-1)
	if _, err := c.Write(buf); err != nil {
		return gnet.Close
	}
	return gnet.None
}

// httpEvents runs the http1 handler with the least glue gnet needs.
type httpEvents struct {
	gnet.BuiltinEventEngine
	h *http1.Handler
}

func (e *httpEvents) OnOpen(c gnet.Conn) ([]byte, gnet.Action) {
	g := &glue{c: c, loop: c.EventLoop()}
	c.SetContext(g)
	e.h.OnOpen(g)
	return g.take(), g.action()
}

func (e *httpEvents) OnTraffic(c gnet.Conn) gnet.Action {
	g := c.Context().(*glue)
	in, _ := c.Peek(-1)
	n, a := e.h.OnData(g, in)
	if n > 0 {
		_, _ = c.Discard(n)
	}
	if len(g.out) > 0 {
		if _, err := c.Write(g.out); err != nil {
			return gnet.Close
		}
		g.out = g.out[:0]
	}
	if a == reactor.Close {
		g.closing = true
	}
	return g.action()
}

func (e *httpEvents) OnClose(c gnet.Conn, err error) gnet.Action {
	if g, ok := c.Context().(*glue); ok {
		g.gone.Store(true)
		g.timers.Close()
		e.h.OnClose(g, err)
	}
	return gnet.None
}

// glue is the reactor.Conn the handler writes to: writes gather in out and leave in one
// gnet Write when the callback returns.
type glue struct {
	nodial.Unsupported
	c       gnet.Conn
	loop    gnet.EventLoop // the connection's, safe from any goroutine
	out     []byte
	ctx     any
	closing bool
	timers  ownertimer.Set
	gone    atomic.Bool // OnClose ran; read by Post from any goroutine
}

// onLoop runs run on the connection's event loop, through gnet's own task queue, then does
// what OnTraffic does after the handler: sends what run wrote, and closes if it asked to.
func (g *glue) onLoop(run func()) error {
	return g.loop.Execute(context.Background(), gnet.RunnableFunc(func(context.Context) error {
		if g.gone.Load() {
			return nil
		}
		run()
		if len(g.out) > 0 {
			if _, err := g.c.Write(g.out); err != nil {
				g.closing = true
			}
			g.out = g.out[:0]
		}
		if g.closing {
			return g.loop.Close(g.c)
		}
		return nil
	}))
}

// Post runs f on the connection's event loop. Unlike the adapter it does not order f after
// earlier AsyncWrites, which gnet queues ahead of tasks; the baseline's handler uses neither.
func (g *glue) Post(f func(reactor.Conn)) error {
	if g.gone.Load() {
		return reactor.ErrConnClosed
	}
	if err := g.onLoop(func() { f(g) }); err != nil {
		return fmt.Errorf("gnetnative: Post: %w", err)
	}
	return nil
}

// AfterFunc waits with time.AfterFunc and runs f on the connection's event loop; OnClose stops
// the connection's timers. This is how the handler keeps its time limits.
func (g *glue) AfterFunc(d time.Duration, f func(reactor.Conn)) (stop func() bool) {
	return g.timers.AfterFunc(d, func(run func()) { _ = g.onLoop(run) }, func() { f(g) })
}

// PauseRead, ResumeRead and Buffered are not used by the baseline's handler: the first two do
// nothing, and Buffered counts only the output gathered in the current callback.
func (g *glue) PauseRead()    {}
func (g *glue) ResumeRead()   {}
func (g *glue) Buffered() int { return len(g.out) }

func (g *glue) take() []byte {
	if len(g.out) == 0 {
		return nil
	}
	out := append([]byte(nil), g.out...)
	g.out = g.out[:0]
	return out
}

func (g *glue) action() gnet.Action {
	if g.closing {
		return gnet.Close
	}
	return gnet.None
}

func (g *glue) Write(p []byte) (int, error) {
	g.out = append(g.out, p...)
	return len(p), nil
}

func (g *glue) AsyncWrite(p []byte) error {
	return g.c.AsyncWrite(append([]byte(nil), p...), nil)
}

func (g *glue) Close() error {
	g.closing = true
	return nil
}

func (g *glue) Abort(error) {
	_ = g.c.SetLinger(0)
	g.closing = true
}

func (g *glue) LocalAddr() net.Addr  { return g.c.LocalAddr() }
func (g *glue) RemoteAddr() net.Addr { return g.c.RemoteAddr() }
func (g *glue) Context() any         { return g.ctx }
func (g *glue) SetContext(v any)     { g.ctx = v }

// quiet drops gnet's logging: a baseline prints nothing.
type quiet struct{}

func (quiet) Debugf(string, ...any) {}
func (quiet) Infof(string, ...any)  {}
func (quiet) Warnf(string, ...any)  {}
func (quiet) Errorf(string, ...any) {}
func (quiet) Fatalf(string, ...any) {}
