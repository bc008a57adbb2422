package kv_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/reactorlab/reactor/adapters"
	"github.com/reactorlab/reactor/examples/kv"
	"github.com/reactorlab/reactor/reactor"
	"github.com/reactorlab/reactor/reactor/conntest"
)

// A program that serves kv on the backend named by its first argument ("std" runs
// everywhere), until SIGINT or SIGTERM.
func Example() {
	name := "std"
	if len(os.Args) > 1 {
		name = os.Args[1]
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	b, err := adapters.Registry().New(name, reactor.Config{Addr: "127.0.0.1:7379"})
	if err != nil {
		log.Fatal(err) // an unknown name, or a backend that does not run here
	}
	s := kv.New(kv.Config{IdleTimeout: 5 * time.Minute})
	err = reactor.Serve(ctx, b, s, reactor.ShutdownTimeout(10*time.Second))
	if !errors.Is(err, reactor.ErrServerClosed) {
		log.Fatal(err)
	}
}

func Example_conntest() {
	d := conntest.Open(kv.New(kv.Config{}), "") // an in-memory connection: no socket needed
	d.Feed([]byte("SET colour bl"))
	d.Feed([]byte("ue\nGET colour\nGET size\nQUIT\n"))
	fmt.Printf("%s", d.C.Output())
	// Output:
	// OK
	// VALUE blue
	// NOT_FOUND
	// BYE
}
