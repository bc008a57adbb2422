package reactor_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
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

// idler closes a connection that has been quiet for limit. One timer per connection, armed
// at open and re-armed by the timer itself for the time left, so that the data path never
// touches a timer: it only notes when the last input came.
type idler struct {
	reactor.NopHandler
	limit time.Duration
}

// idleState is what an idler keeps per connection, in its Context.
type idleState struct{ last time.Time }

func (h idler) OnOpen(c reactor.Conn) {
	c.SetContext(&idleState{last: time.Now()})
	c.AfterFunc(h.limit, h.check)
}

func (idler) OnData(c reactor.Conn, in []byte) (int, reactor.Action) {
	c.Context().(*idleState).last = time.Now()
	return len(in), reactor.None
}

// check runs on the connection's owner, like a callback.
func (h idler) check(c reactor.Conn) {
	quiet := time.Since(c.Context().(*idleState).last)
	if quiet >= h.limit {
		c.Write([]byte("bye: idle\n"))
		c.Close()
		return
	}
	c.AfterFunc(h.limit-quiet, h.check)
}

func ExampleConn_AfterFunc() {
	b, err := adapters.Registry().New("std", reactor.Config{})
	if err != nil {
		fmt.Println(err)
		return
	}
	addr, err := b.Start(idler{limit: 50 * time.Millisecond})
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
	start := time.Now()
	c.Write([]byte("one line, then silence\n"))
	rest, err := io.ReadAll(c) // until the server closes
	fmt.Printf("%q %v, after at least the limit: %v\n", rest, err, time.Since(start) >= 50*time.Millisecond)
	// Output: "bye: idle\n" <nil>, after at least the limit: true
}

func ExampleConn_Post() {
	// Another goroutine cannot call the owner-only methods (Context, Write from outside a
	// callback, AfterFunc, PauseRead); it posts a function that the owner runs in their place.
	d := conntest.Open(reactor.NopHandler{}, "")
	c := d.C
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.Post(func(c reactor.Conn) {
			c.SetContext("tagged by a post")
			c.Write([]byte("written on the owner\n"))
		})
	}()
	<-done
	d.Run() // the owner's turn: conntest runs what was posted
	fmt.Printf("%q %v\n", c.Output(), c.Context())
	// Output: "written on the owner\n" tagged by a post
}
