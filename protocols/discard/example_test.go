package discard_test

import (
	"context"
	"fmt"
	"io"
	"net"

	"github.com/reactorlab/reactor/adapters"
	"github.com/reactorlab/reactor/protocols/discard"
	"github.com/reactorlab/reactor/reactor"
)

// A client that only sends: the server takes everything and answers nothing.
func Example() {
	h := new(discard.Handler)
	b, err := adapters.Registry().New("std", reactor.Config{Addr: "127.0.0.1:0"})
	if err != nil {
		panic(err)
	}
	addr, err := b.Start(h)
	if err != nil {
		panic(err)
	}
	c, err := net.Dial("tcp", addr.String())
	if err != nil {
		panic(err)
	}
	c.Write(make([]byte, 1<<20))
	c.(*net.TCPConn).CloseWrite()
	n, _ := io.Copy(io.Discard, c) // the server closes after the end of the stream
	c.Close()
	b.Shutdown(context.Background())
	fmt.Println("got back:", n, "bytes; discarded:", h.Stats().Bytes)
	// Output: got back: 0 bytes; discarded: 1048576
}
