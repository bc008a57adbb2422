// Package fasthttpnative is the github.com/valyala/fasthttp baseline of `reactor bench --proto
// http`: the server a Go user picks when net/http is too slow, a fasthttp.Server answering GET
// /plaintext and /json as protocols/http1 does (same bodies and content types), with
// fasthttp's defaults (a worker goroutine pool, its own parser). It is a measuring stick, not a
// backend.
package fasthttpnative

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/reactorlab/reactor/reactor"
)

var (
	plaintext = []byte("Hello, World!")
	jsonBody  = []byte(`{"message":"Hello, World!"}`)
)

// Serve listens on addr and serves proto ("http" only) with fasthttp until ctx is done; then it
// shuts the server down and returns nil once it has. loops > 0 caps GOMAXPROCS.
func Serve(ctx context.Context, proto, addr string, loops int) error {
	if proto != "http" {
		return fmt.Errorf("fasthttpnative: protocol %q: %w (http)", proto, reactor.ErrNotSupported)
	}
	if loops > 0 {
		runtime.GOMAXPROCS(loops)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("fasthttpnative: %w", err)
	}
	srv := &fasthttp.Server{
		Handler:               handle,
		Name:                  "fasthttp",
		ReadTimeout:           time.Minute,
		IdleTimeout:           time.Minute,
		NoDefaultContentType:  true,
		NoDefaultServerHeader: false,
	}
	served := make(chan error, 1)
	// Exits when the server does: on Shutdown below, or on its own if Serve fails.
	go func() { served <- srv.Serve(ln) }()
	select {
	case <-ctx.Done():
	case err := <-served:
		if err == nil {
			err = errors.New("server stopped")
		}
		return fmt.Errorf("fasthttpnative: %w", err)
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err = srv.ShutdownWithContext(sctx)
	if serr := <-served; serr != nil {
		return fmt.Errorf("fasthttpnative: %w", serr)
	}
	if err != nil {
		return fmt.Errorf("fasthttpnative: shutdown: %w", err)
	}
	return nil
}

// handle answers the two fixed routes; anything else is 404, a wrong method 405.
func handle(ctx *fasthttp.RequestCtx) {
	var ct string
	var body []byte
	switch string(ctx.Path()) {
	case "/plaintext":
		ct, body = "text/plain", plaintext
	case "/json":
		ct, body = "application/json", jsonBody
	default:
		ctx.SetStatusCode(fasthttp.StatusNotFound)
		return
	}
	if !ctx.IsGet() && !ctx.IsHead() {
		ctx.SetStatusCode(fasthttp.StatusMethodNotAllowed)
		return
	}
	ctx.SetContentType(ct)
	ctx.SetBody(body)
}
