//go:build linux

package nbionative

import (
	"context"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/lesismal/nbio"
	"github.com/lesismal/nbio/logging"

	"github.com/reactorlab/reactor/bench/native/internal/nodial"
	"github.com/reactorlab/reactor/bench/native/internal/ownertimer"
	"github.com/reactorlab/reactor/protocols/http1"
	"github.com/reactorlab/reactor/reactor"
)

// httpConfig is the http1 handler's; tests shorten its time limits.
var httpConfig = http1.Config{}

// Serve listens on addr and serves proto ("http" or "echo") on nbio with loops pollers until
// ctx is done; then it stops the engine and returns nil once nbio has.
func Serve(ctx context.Context, proto, addr string, loops int) error {
	if proto != "http" && proto != "echo" {
		return fmt.Errorf("nbionative: protocol %q: %w (http, echo)", proto, reactor.ErrNotSupported)
	}
	logging.SetLevel(logging.LevelNone) // a baseline prints nothing
	if loops <= 0 {
		loops = 1
	}
	eng := nbio.NewEngine(nbio.Config{Network: "tcp", Addrs: []string{addr}, NPoller: loops})
	switch proto {
	case "echo":
		eng.OnData(func(c *nbio.Conn, data []byte) {
			if _, err := c.Write(data); err != nil {
				c.Close()
			}
		})
	case "http":
		h := http1.New(httpConfig)
		defer h.Close()
		eng.OnOpen(func(c *nbio.Conn) {
			g := &glue{c: c}
			// nbio's close reports on a goroutine of its own, after taking the connection's
			// lock: taking it here too orders the glue's making before OnClose's use of it.
			c.Lock()
			c.SetSession(g) // under the lock: the store is what OnClose's goroutine is ordered after
			c.Unlock()
			g.mu.Lock()
			h.OnOpen(g)
			g.flush()
			g.mu.Unlock()
		})
		eng.OnData(func(c *nbio.Conn, data []byte) {
			g := c.Session().(*glue)
			g.mu.Lock()
			in := data
			if len(g.tail) > 0 {
				g.tail = append(g.tail, data...)
				in = g.tail
			}
			n, a := h.OnData(g, in)
			g.tail = append(g.tail[:0], in[n:]...)
			if a == reactor.Close {
				g.closing = true
			}
			g.flush()
			g.mu.Unlock()
		})
		eng.OnClose(func(c *nbio.Conn, err error) {
			g, ok := c.Session().(*glue)
			if !ok {
				return
			}
			g.mu.Lock()
			g.gone = true
			g.timers.Close()
			h.OnClose(g, err)
			g.mu.Unlock()
		})
	}
	if err := eng.Start(); err != nil {
		return fmt.Errorf("nbionative: %w", err)
	}
	<-ctx.Done()
	eng.Stop()
	return nil
}

// glue is the reactor.Conn the handler writes to: writes gather in out and leave in one
// nbio Write when the call returns. mu is held by whoever runs the handler for the
// connection: the poller (OnOpen, OnData, OnClose) or a timer's goroutine.
type glue struct {
	nodial.Unsupported
	mu      sync.Mutex
	c       *nbio.Conn
	out     []byte
	tail    []byte
	ctx     any
	closing bool
	gone    bool
	timers  ownertimer.Set
}

// flush sends what the handler wrote and closes when it asked to. mu held.
func (g *glue) flush() {
	if len(g.out) > 0 {
		if _, err := g.c.Write(g.out); err != nil {
			g.closing = true
		}
		g.out = g.out[:0]
	}
	if g.closing {
		g.c.Close()
	}
}

// onOwner runs run as the owner: under the connection's mutex, then flushes.
func (g *glue) onOwner(run func()) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.gone {
		return
	}
	run()
	g.flush()
}

// Post runs f as the owner, on a goroutine of its own (f may come from inside a callback,
// whose mutex is held).
func (g *glue) Post(f func(reactor.Conn)) error {
	g.mu.Lock()
	gone := g.gone
	g.mu.Unlock()
	if gone {
		return reactor.ErrConnClosed
	}
	go g.onOwner(func() { f(g) })
	return nil
}

// AfterFunc waits with time.AfterFunc and runs f under the connection's mutex; OnClose stops
// the connection's timers. This is how the handler keeps its time limits.
func (g *glue) AfterFunc(d time.Duration, f func(reactor.Conn)) (stop func() bool) {
	return g.timers.AfterFunc(d, g.onOwner, func() { f(g) })
}

// PauseRead, ResumeRead and Buffered are not used by the baseline's handler: the first two do
// nothing, and Buffered counts only the output gathered in the current call.
func (g *glue) PauseRead()    {}
func (g *glue) ResumeRead()   {}
func (g *glue) Buffered() int { return len(g.out) }

func (g *glue) Write(p []byte) (int, error) {
	g.out = append(g.out, p...)
	return len(p), nil
}

func (g *glue) AsyncWrite(p []byte) error {
	_, err := g.c.Write(p) // nbio's Write is safe from any goroutine and copies what waits
	return err
}

func (g *glue) Close() error {
	g.closing = true
	return nil
}

func (g *glue) Abort(error) {
	_ = g.c.SetLinger(1, 0)
	g.closing = true
}

func (g *glue) LocalAddr() net.Addr  { return g.c.LocalAddr() }
func (g *glue) RemoteAddr() net.Addr { return g.c.RemoteAddr() }
func (g *glue) Context() any         { return g.ctx }
func (g *glue) SetContext(v any)     { g.ctx = v }
