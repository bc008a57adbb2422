package proxy_test

import (
	"fmt"
	"log"

	"github.com/reactorlab/reactor/protocols/proxy"
	"github.com/reactorlab/reactor/reactor/conntest"
)

// The proxy on bytes alone: conntest records the client's dial, and the test plays the
// upstream connecting and answering.
func Example() {
	p, err := proxy.New(proxy.Config{Upstreams: []string{"127.0.0.1:7000"}})
	if err != nil {
		log.Fatal(err)
	}
	client := conntest.Open(p, "")
	dial := client.C.Dials()[0]
	fmt.Println("dialled", dial.Addr)

	upstream := conntest.Open(dial.H, dial.Addr)
	client.Run() // the client waited, paused, for its upstream
	client.Feed([]byte("ping"))
	upstream.Feed([]byte("pong"))
	fmt.Printf("upstream got %s, client got %s\n", upstream.C.Output(), client.C.Output())
	// Output:
	// dialled 127.0.0.1:7000
	// upstream got ping, client got pong
}

func ExampleParseUpstreams() {
	addrs, err := proxy.ParseUpstreams("10.0.0.1:7000, 10.0.0.2:7000")
	fmt.Println(addrs, err)
	_, err = proxy.ParseUpstreams("10.0.0.1")
	fmt.Println(err)
	// Output:
	// [10.0.0.1:7000 10.0.0.2:7000] <nil>
	// proxy: upstream "10.0.0.1": want host:port (address 10.0.0.1: missing port in address)
}
