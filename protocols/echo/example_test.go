package echo_test

import (
	"fmt"

	"github.com/reactorlab/reactor/protocols/echo"
	"github.com/reactorlab/reactor/reactor/conntest"
)

func Example() {
	d := conntest.Open(echo.Handler{}, "")
	d.Feed([]byte("hello, "))
	d.Feed([]byte("reactor"))
	fmt.Printf("%s\n", d.C.Output())
	// Output: hello, reactor
}
