// Package nethttpnative is the net/http baseline of `reactor bench --proto http`: the server a
// Go user writes first, an http.Server with a ServeMux, answering GET /plaintext and /json as
// protocols/http1 does (same bodies and content types). It measures what a user gives up, or
// gains, by leaving the standard library: a goroutine per connection, net/http's parser and
// its default limits. It is a measuring stick, not a backend.
package nethttpnative

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"time"

	"github.com/reactorlab/reactor/reactor"
)

var (
	plaintext = []byte("Hello, World!")
	jsonBody  = []byte(`{"message":"Hello, World!"}`)
)

// Serve listens on addr and serves proto ("http" only) with net/http until ctx is done; then it
// shuts the server down and returns nil once it has. loops > 0 caps GOMAXPROCS, the nearest
// net/http has to a number of event loops.
func Serve(ctx context.Context, proto, addr string, loops int) error {
	if proto != "http" {
		return fmt.Errorf("nethttpnative: protocol %q: %w (http)", proto, reactor.ErrNotSupported)
	}
	if loops > 0 {
		runtime.GOMAXPROCS(loops)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("nethttpnative: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /plaintext", answer("text/plain", plaintext))
	mux.HandleFunc("GET /json", answer("application/json", jsonBody))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: time.Minute}
	served := make(chan error, 1)
	// Exits when the server does: on Shutdown below, or on its own if Serve fails.
	go func() { served <- srv.Serve(ln) }()
	select {
	case <-ctx.Done():
	case err := <-served:
		return fmt.Errorf("nethttpnative: %w", err)
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err = srv.Shutdown(sctx)
	if serr := <-served; !errors.Is(serr, http.ErrServerClosed) {
		return fmt.Errorf("nethttpnative: %w", serr)
	}
	if err != nil {
		return fmt.Errorf("nethttpnative: shutdown: %w", err)
	}
	return nil
}

// answer writes body with contentType and the Server header protocols/http1 sends, so the
// responses compared are the same size give or take net/http's Date.
func answer(contentType string, body []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		h := w.Header()
		h["Server"] = []string{"nethttp"}
		h["Content-Type"] = []string{contentType}
		w.Write(body)
	}
}
