package reactor_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/reactorlab/reactor/adapters"
	"github.com/reactorlab/reactor/reactor"
	"github.com/reactorlab/reactor/reactor/conntest"
)

// echo sends every byte back. It embeds NopHandler, so it defines only OnData.
type echo struct{ reactor.NopHandler }

func (echo) OnData(c reactor.Conn, in []byte) (int, reactor.Action) {
	c.Write(in)
	return len(in), reactor.None
}

// A program that serves a protocol of its own on a backend chosen by name, until SIGINT or
// SIGTERM, then drains its connections for at most ten seconds. It is the program the README
// shows.
func Example() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	b, err := adapters.Registry().New("std", reactor.Config{Addr: "127.0.0.1:7000"})
	if err != nil {
		log.Fatal(err)
	}
	err = reactor.Serve(ctx, b, echo{}, reactor.ShutdownTimeout(10*time.Second))
	if !errors.Is(err, reactor.ErrServerClosed) {
		log.Fatal(err)
	}
}

func ExampleServe() {
	b, err := adapters.Registry().New("std", reactor.Config{Addr: "127.0.0.1:0"})
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	started := make(chan net.Addr, 1)
	served := make(chan error, 1)
	go func() {
		served <- reactor.Serve(ctx, b, echo{}, reactor.OnStarted(func(addr net.Addr) { started <- addr }))
	}()

	var addr net.Addr
	select {
	case addr = <-started:
	case err := <-served:
		fmt.Println(err)
		return
	}
	c, err := net.Dial("tcp", addr.String())
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Fprintln(c, "hello, reactor")
	reply, err := bufio.NewReader(c).ReadString('\n')
	c.Close()
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Print(reply)

	cancel() // Serve shuts the backend down gracefully and returns
	fmt.Println(<-served)
	// Output:
	// hello, reactor
	// reactor: server closed
}

// greeter says hello when a connection opens; NopHandler takes care of the rest (input is
// consumed and dropped, and closing needs nothing).
type greeter struct{ reactor.NopHandler }

func (greeter) OnOpen(c reactor.Conn) { c.Write([]byte("hello\n")) }

func ExampleNopHandler() {
	d := conntest.Open(greeter{}, "") // an in-memory connection: no socket needed
	d.Feed([]byte("ignored"))
	fmt.Printf("%q, %d bytes left unconsumed\n", d.C.Output(), len(d.Tail))
	// Output:
	// "hello\n", 0 bytes left unconsumed
}

// ages answers a name with an age it looks up slowly. A callback must not block, so OnData
// hands the lookup to a goroutine, which sends the answer with AsyncWrite.
type ages struct{ reactor.NopHandler }

func (ages) OnData(c reactor.Conn, in []byte) (int, reactor.Action) {
	end := bytes.IndexByte(in, '\n')
	if end < 0 {
		return 0, reactor.None // the rest of the line comes with the next call
	}
	name := string(in[:end]) // a copy: in is only lent
	go func() {
		time.Sleep(10 * time.Millisecond) // a database, another server: anything slow
		c.AsyncWrite([]byte(name + " is 30\n"))
	}()
	return end + 1, reactor.None
}

func ExampleConn_AsyncWrite() {
	b, err := adapters.Registry().New("std", reactor.Config{})
	if err != nil {
		fmt.Println(err)
		return
	}
	addr, err := b.Start(ages{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer b.Shutdown(context.Background())

	c, err := net.Dial("tcp", addr.String())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	fmt.Fprintln(c, "alice")
	reply, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Print(reply)
	// Output: alice is 30
}
