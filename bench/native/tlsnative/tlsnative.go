// Package tlsnative is the standard library's own TLS server, the contender `reactor bench
// --tls` measures every backend against: net/http with crypto/tls for http (ALPN http/1.1, as
// serve offers), and a goroutine per connection over tls.Listen for echo. Both take the same
// certificate and key files as `reactor serve --tls-cert/--tls-key`.
package tlsnative

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// Serve serves proto ("http" or "echo") over TLS on addr until ctx ends.
func Serve(ctx context.Context, proto, addr, certFile, keyFile string) error {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return err
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	switch proto {
	case "http":
		cfg.NextProtos = []string{"http/1.1"}
		return serveHTTP(ctx, addr, cfg)
	case "echo":
		return serveEcho(ctx, addr, cfg)
	}
	return fmt.Errorf("tlsnative: no %q server (http, echo)", proto)
}

var (
	plaintext = []byte("Hello, World!")
	jsonBody  = []byte(`{"message":"Hello, World!"}`)
)

func serveHTTP(ctx context.Context, addr string, cfg *tls.Config) error {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /plaintext", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("Server", "tlsnative")
		w.Write(plaintext)
	})
	mux.HandleFunc("GET /json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Server", "tlsnative")
		w.Write(jsonBody)
	})
	srv := &http.Server{Addr: addr, Handler: mux, TLSConfig: cfg, ReadHeaderTimeout: 10 * time.Second,
		// Only HTTP/1.1, as the backends serve.
		TLSNextProto: map[string]func(*http.Server, *tls.Conn, http.Handler){}}
	done := make(chan struct{})
	go func() {
		// Ends when ctx ends, after the shutdown.
		defer close(done)
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	err := srv.ListenAndServeTLS("", "")
	if errors.Is(err, http.ErrServerClosed) {
		<-done
		return nil
	}
	return err
}

func serveEcho(ctx context.Context, addr string, cfg *tls.Config) error {
	ln, err := tls.Listen("tcp", addr, cfg)
	if err != nil {
		return err
	}
	var mu sync.Mutex
	conns := map[net.Conn]bool{}
	go func() {
		// Ends when ctx ends: closing the listener and the connections ends the rest.
		<-ctx.Done()
		ln.Close()
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
	}()
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		mu.Lock()
		conns[c] = true
		mu.Unlock()
		wg.Add(1)
		go func() {
			// Ends when the peer closes, or the connection is closed at shutdown.
			defer wg.Done()
			io.Copy(c, c)
			c.Close()
			mu.Lock()
			delete(conns, c)
			mu.Unlock()
		}()
	}
}
