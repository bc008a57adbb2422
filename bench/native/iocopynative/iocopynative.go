// Package iocopynative is the TCP proxy a Go programmer writes first, for `reactor bench
// --proto proxy` to measure the backends' proxies against: on the standard library, each
// accepted connection dials its upstream, and two goroutines copy the two directions with
// io.Copy; the end of one direction (EOF) is passed on with CloseWrite, so a half-closed
// stream stays half-open, and an error in either direction closes both connections.
//
// io.Copy between two *net.TCPConn is the runtime's splice(2) path on Linux (TCPConn.ReadFrom),
// the zero-copy relay a Go user gets without asking for it. Backpressure is TCP's own: a copy
// blocked writing stops reading.
//
// It is a measuring stick, not a backend: no limits, no timeouts beyond the dial's, no
// logging.
package iocopynative

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"syscall"
	"time"
)

// dialTimeout bounds the connection to an upstream.
const dialTimeout = 5 * time.Second

// Serve listens on addr and relays every accepted connection to an upstream, taking
// upstreams in turn, until ctx is done; it then closes the listener and every connection and
// returns nil once every relay has ended.
func Serve(ctx context.Context, addr string, upstreams []string) error {
	if len(upstreams) == 0 {
		return errors.New("iocopynative: no upstream to relay to")
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("iocopynative: %w", err)
	}
	p := &proxy{conns: map[net.Conn]struct{}{}}
	stopped := make(chan struct{})
	// Exits when ctx ends or Serve returns on its own.
	go func() {
		select {
		case <-ctx.Done():
		case <-stopped:
		}
		ln.Close()
	}()
	defer close(stopped)
	var acceptErr error
	for next := 0; ; next++ {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, syscall.EMFILE) {
				// Out of descriptors (EMFILE) and the like: pause, as net/http does.
				time.Sleep(5 * time.Millisecond)
				continue
			}
			acceptErr = fmt.Errorf("iocopynative: accept: %w", err)
			break
		}
		up := upstreams[next%len(upstreams)]
		p.wg.Add(1)
		// Exits when both directions of the pair have ended.
		go func() {
			defer p.wg.Done()
			p.relay(c, up)
		}()
	}
	p.closeAll()
	p.wg.Wait()
	return acceptErr
}

// proxy tracks the live connections, so that Serve can close them when it stops.
type proxy struct {
	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
}

// track registers c; it reports false (and closes c) once the proxy is closing.
func (p *proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		c.Close()
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *proxy) untrack(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
	c.Close()
}

func (p *proxy) closeAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	for c := range p.conns {
		c.Close()
	}
}

// relay dials upstream for client and copies both ways until both directions have ended.
func (p *proxy) relay(client net.Conn, upstream string) {
	if !p.track(client) {
		return
	}
	defer p.untrack(client)
	server, err := net.DialTimeout("tcp", upstream, dialTimeout)
	if err != nil {
		return
	}
	if !p.track(server) {
		return
	}
	defer p.untrack(server)
	done := make(chan struct{})
	// Exits when the client's direction ends (EOF, or an error that closes both).
	go func() {
		pipe(server, client)
		close(done)
	}()
	pipe(client, server)
	<-done
}

// pipe copies src to dst. At src's end of stream it half-closes dst, so the peer sees the
// same end and may still answer; on an error it closes both, which ends the other direction
// too.
func pipe(dst, src net.Conn) {
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		src.Close()
		return
	}
	if hc, ok := dst.(interface{ CloseWrite() error }); ok {
		if hc.CloseWrite() == nil {
			return
		}
	}
	dst.Close()
}
