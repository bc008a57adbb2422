// Package evionative is the baseline against which the evio adapter (adapters/evioloop) is
// measured: a server written straight on evio's own API, with nothing the reactor contract
// asks for beyond what the protocol needs.
//
// For "echo" the Data callback returns its input. For "http" the same protocols/http1 handler
// the adapter serves runs behind the thinnest glue evio allows: evio's InputStream keeps the
// unconsumed tail, a per-connection buffer collects the handler's writes and is returned as
// Data's output. There is no asynchronous write queue, no outbound or inbound limit, no panic
// recovery and no evio internals; the difference in CPU per request between this server and
// the adapter is the adapter's cost.
//
// Like the adapter, it reads with ReuseInputBuffer and uses evio's Random balancing; unlike
// the adapter it leaves Nagle's algorithm on, as evio does (evio's API cannot turn it off).
package evionative

import (
	"context"
	"fmt"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tidwall/evio"

	"github.com/reactorlab/reactor/bench/native/internal/nodial"
	"github.com/reactorlab/reactor/bench/native/internal/ownertimer"
	"github.com/reactorlab/reactor/protocols/http1"
	"github.com/reactorlab/reactor/reactor"
)

// httpConfig is the http1 handler's; tests shorten its time limits.
var httpConfig = http1.Config{}

// Serve listens on addr and serves proto ("http" or "echo") with loops evio loops (0: one per
// CPU, as the adapter's default) until ctx is done, then stops evio and returns nil; it returns
// early with the error if evio cannot start.
func Serve(ctx context.Context, proto, addr string, loops int) error {
	if loops <= 0 {
		loops = runtime.GOMAXPROCS(0) // evio itself would take 0 as a single loop
	}
	var stopping atomic.Bool
	ev := evio.Events{NumLoops: loops, LoadBalance: evio.Random}
	// evio stops only when a callback returns evio.Shutdown; once ctx is done, the next
	// connection opened (the glue dials one itself) does.
	opened := func(c evio.Conn) evio.Action {
		if stopping.Load() {
			return evio.Shutdown
		}
		return evio.None
	}
	switch proto {
	case "echo":
		ev.Opened = func(c evio.Conn) ([]byte, evio.Options, evio.Action) {
			return nil, evio.Options{ReuseInputBuffer: true}, opened(c)
		}
		ev.Data = func(c evio.Conn, in []byte) ([]byte, evio.Action) { return in, evio.None }
	case "http":
		h := http1.New(httpConfig)
		defer h.Close()
		ev.Opened = func(c evio.Conn) ([]byte, evio.Options, evio.Action) {
			gc := &glue{ec: c}
			c.SetContext(gc)
			h.OnOpen(gc)
			return gc.out, evio.Options{ReuseInputBuffer: true}, opened(c)
		}
		ev.Data = func(c evio.Conn, in []byte) ([]byte, evio.Action) {
			gc := c.Context().(*glue)
			gc.out = gc.out[:0]
			if in == nil {
				// A Wake: run what was posted to the loop (timers included), no input.
				gc.runPosted()
			} else {
				data := gc.is.Begin(in)
				n, a := h.OnData(gc, data)
				gc.is.End(data[n:])
				if a == reactor.Close {
					gc.closing = true
				}
			}
			if gc.closing {
				return gc.out, evio.Close
			}
			return gc.out, evio.None
		}
		ev.Closed = func(c evio.Conn, err error) evio.Action {
			if gc, ok := c.Context().(*glue); ok {
				gc.mu.Lock()
				gc.gone, gc.posted = true, nil
				gc.mu.Unlock()
				gc.timers.Close()
				h.OnClose(gc, err)
			}
			return evio.None
		}
	default:
		return fmt.Errorf("evionative: unknown protocol %q (want http or echo)", proto)
	}

	bound := make(chan net.Addr, 1)
	ev.Serving = func(s evio.Server) evio.Action {
		bound <- s.Addrs[0]
		return evio.None
	}
	served := make(chan error, 1)
	// Exits when evio.Serve returns: on a start-up error, or after the stop below.
	go func() { served <- evio.Serve(ev, "tcp://"+addr) }()
	var ln net.Addr
	select {
	case ln = <-bound:
	case err := <-served:
		return fmt.Errorf("evionative: %w", err)
	}
	select {
	case <-ctx.Done():
	case err := <-served:
		return fmt.Errorf("evionative: evio stopped on its own: %v", err)
	}
	stopping.Store(true)
	// Each dial stops one loop; evio then stops the rest. evio loses the stop signal when it
	// comes before its Serve goroutine waits for it, which only a stop right after start can
	// do (the adapter guards against that; a baseline serves for seconds first); with more than
	// one loop the next dial would make up for it.
	for {
		if nc, err := net.DialTimeout("tcp", ln.String(), time.Second); err == nil {
			nc.Close()
		}
		select {
		case <-served:
			return nil
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// glue is the least a reactor.Conn needs to be for the http1 handler on evio: writes collect
// in out, which Data returns; the handler never writes asynchronously.
type glue struct {
	nodial.Unsupported
	ec      evio.Conn
	is      evio.InputStream
	out     []byte
	ctx     any
	closing bool
	timers  ownertimer.Set

	mu     sync.Mutex
	posted []func() // for the loop; under mu
	gone   bool     // Closed ran; under mu
}

// post queues run for the connection's loop and wakes it: evio then calls Data with no input,
// which runs the queue. evio ignores a wake for a connection it has closed.
func (g *glue) post(run func()) error {
	g.mu.Lock()
	if g.gone {
		g.mu.Unlock()
		return reactor.ErrConnClosed
	}
	g.posted = append(g.posted, run)
	g.mu.Unlock()
	g.ec.Wake()
	return nil
}

// runPosted runs the queue on the loop, in order, until the connection is closing.
func (g *glue) runPosted() {
	for !g.closing {
		g.mu.Lock()
		if len(g.posted) == 0 {
			g.mu.Unlock()
			return
		}
		run := g.posted[0]
		g.posted = g.posted[1:]
		g.mu.Unlock()
		run()
	}
}

// Post runs f on the connection's loop. The baseline's handler does not post.
func (g *glue) Post(f func(reactor.Conn)) error {
	return g.post(func() { f(g) })
}

// AfterFunc waits with time.AfterFunc and runs f on the connection's loop through post; Closed
// stops the connection's timers. This is how the handler keeps its time limits. (evio 1.0.8
// replaces, rather than appends to, output still unsent when a wake's Data returns more, so a
// 408 sent to a peer that is not reading what it was sent before may cost that output; a
// baseline accepts this.)
func (g *glue) AfterFunc(d time.Duration, f func(reactor.Conn)) (stop func() bool) {
	return g.timers.AfterFunc(d, func(run func()) { _ = g.post(run) }, func() { f(g) })
}

// PauseRead, ResumeRead and Buffered are not used by the baseline's handler: the first two do
// nothing, and Buffered counts only the output gathered in the current callback.
func (g *glue) PauseRead()    {}
func (g *glue) ResumeRead()   {}
func (g *glue) Buffered() int { return len(g.out) }

func (g *glue) Write(p []byte) (int, error) {
	g.out = append(g.out, p...)
	return len(p), nil
}

// AsyncWrite is not needed by the protocols this baseline serves.
func (g *glue) AsyncWrite(p []byte) error {
	return fmt.Errorf("evionative: AsyncWrite: %w", reactor.ErrNotSupported)
}

func (g *glue) Close() error {
	g.closing = true
	return nil
}

func (g *glue) Abort(error)          { g.closing = true }
func (g *glue) LocalAddr() net.Addr  { return g.ec.LocalAddr() }
func (g *glue) RemoteAddr() net.Addr { return g.ec.RemoteAddr() }
func (g *glue) Context() any         { return g.ctx }
func (g *glue) SetContext(v any)     { g.ctx = v }
