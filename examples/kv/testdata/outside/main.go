// Command kvserver is a program outside the reactor module, written with its public API only:
// TestOutsideModule in package kv builds and tests it in a module of its own. It serves a
// protocol that echoes lines and closes connections that stay quiet for too long.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"log"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/reactorlab/reactor/adapters"
	"github.com/reactorlab/reactor/reactor"
)

// lines echoes every complete line and closes a connection quiet for limit.
type lines struct {
	reactor.NopHandler
	limit time.Duration
}

// last is when a connection's last input came, kept in its Context.
type last struct{ at time.Time }

func (h lines) OnOpen(c reactor.Conn) {
	c.SetContext(&last{at: time.Now()})
	c.AfterFunc(h.limit, h.check)
}

func (lines) OnData(c reactor.Conn, in []byte) (int, reactor.Action) {
	c.Context().(*last).at = time.Now()
	end := bytes.LastIndexByte(in, '\n') + 1 // a partial line waits for the rest
	c.Write(in[:end])
	return end, reactor.None
}

// check is the connection's one idle timer, re-armed for the time left.
func (h lines) check(c reactor.Conn) {
	quiet := time.Since(c.Context().(*last).at)
	if quiet >= h.limit {
		c.Write([]byte("BYE idle\n"))
		c.Close()
		return
	}
	c.AfterFunc(h.limit-quiet, h.check)
}

func main() {
	reg := adapters.Registry()
	backend := flag.String("backend", "std", "backend: "+strings.Join(reg.Names(), ", "))
	addr := flag.String("addr", "127.0.0.1:7000", "address to listen on")
	idle := flag.Duration("idle", time.Minute, "close connections quiet for this long")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	b, err := reg.New(*backend, reactor.Config{Addr: *addr})
	if err != nil {
		log.Fatal(err)
	}
	err = reactor.Serve(ctx, b, lines{limit: *idle}, reactor.ShutdownTimeout(10*time.Second))
	if !errors.Is(err, reactor.ErrServerClosed) {
		log.Fatal(err)
	}
}
