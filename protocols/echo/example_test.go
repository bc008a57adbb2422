package echo_test

import (
	"fmt"
	"os"
	"strconv"
	"strings"

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

// With a tag, each reply says who served it: here the process, as the classic forking server
// answered "<pid>: <msg>".
func ExampleHandler_tag() {
	h := echo.Handler{Tag: echo.PID}
	d := conntest.Open(h, "")
	d.Feed([]byte("hello\n"))
	pid, msg, _ := strings.Cut(string(d.C.Output()), ": ")
	fmt.Println(pid == strconv.Itoa(os.Getpid()), msg)
	// Output: true hello
}
