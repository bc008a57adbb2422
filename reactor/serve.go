package reactor

import (
	"context"
	"fmt"
	"net"
	"time"
)

// A ServeOption changes how Serve runs a backend.
type ServeOption func(*serveOptions)

type serveOptions struct {
	started func(net.Addr)
	grace   time.Duration // 0: no bound of Serve's own
}

// OnStarted has Serve call f with the address the backend bound — the port the kernel chose,
// when Config.Addr asks for port 0 — once the backend accepts connections. f runs on Serve's
// goroutine before Serve waits, so it must return promptly.
func OnStarted(f func(addr net.Addr)) ServeOption {
	return func(o *serveOptions) { o.started = f }
}

// ShutdownTimeout bounds the graceful shutdown Serve makes when its context is done: after d,
// connections still draining are aborted, and Serve returns an error wrapping
// context.DeadlineExceeded once the backend has stopped. Without it the drain has no bound of
// Serve's own; it is still bounded per connection, since Close stops waiting for a peer that
// does not take its output within a few seconds (contract point 5). A d of 0 or less sets no
// bound.
func ShutdownTimeout(d time.Duration) ServeOption {
	return func(o *serveOptions) { o.grace = d }
}

// Serve starts b serving h and blocks until b stops. When ctx is done, Serve shuts b down
// gracefully, as Backend.Shutdown does: it stops accepting, lets written bytes drain and closes
// every connection, OnClose running with ErrServerClosed. Shutdown's context keeps ctx's values
// but not its cancellation; bound it with ShutdownTimeout.
//
// Like net/http's Serve, Serve always returns a non-nil error:
//   - Start's error, at once, when b does not start;
//   - ErrServerClosed when ctx was done and the shutdown completed, or when someone else called
//     b.Shutdown;
//   - Shutdown's error, wrapped, when the graceful shutdown failed (context.DeadlineExceeded
//     when ShutdownTimeout ran out);
//   - otherwise the error that stopped b on its own, as Backend.Wait reports it.
//
// Serve returns only once b has stopped, and leaves no goroutine of its own behind. A backend
// serves once: construct a new one to serve again.
func Serve(ctx context.Context, b Backend, h Handler, opts ...ServeOption) error {
	var o serveOptions
	for _, opt := range opts {
		opt(&o)
	}
	addr, err := b.Start(h)
	if err != nil {
		return err
	}
	// Exits when b stops: on its own, after Shutdown, or after Serve's own shutdown below.
	stopped := make(chan error, 1)
	go func() { stopped <- b.Wait() }()
	if o.started != nil {
		o.started(addr)
	}
	select {
	case err := <-stopped:
		return err
	case <-ctx.Done():
	}
	sctx := context.WithoutCancel(ctx)
	if o.grace > 0 {
		var cancel context.CancelFunc
		sctx, cancel = context.WithTimeout(sctx, o.grace)
		defer cancel()
	}
	if err := b.Shutdown(sctx); err != nil {
		<-stopped
		return fmt.Errorf("reactor: graceful shutdown: %w", err)
	}
	return <-stopped
}
