//go:build linux

//lint:file-ignore U1000 the fake structs copy a library's layout; their fields are read by reflection only

package gnetloop

import (
	"net"
	"os"
	"reflect"
	"strconv"
	"testing"

	"github.com/reactorlab/reactor/reactor"
	"github.com/reactorlab/reactor/reactor/reactortest"
)

// TestInternals: gnet's connection struct still leads to its loop's epoll descriptor the way
// PauseRead reads it, and holds its outbound buffer where Abort and the takeover at the peer's
// end of stream find it. A gnet upgrade that moves these fields fails here, loudly.
func TestInternals(t *testing.T) {
	conns := make(chan reactor.Conn, 1)
	b, addr := reactortest.Start(t, New, bigCfg(reactor.Config{Loops: 1}), funcOpen(func(c reactor.Conn) { conns <- c }))
	defer reactortest.Stop(t, b)
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	sc := (<-conns).(*conn)
	if err := findLayout(sc.gc); err != nil {
		t.Fatalf("gnet's layout: %v; PauseRead, Abort and HalfCloser depend on it (see internals_linux.go)", err)
	}
	// Output the peer does not read stays in gnet's buffer, on the loop: the one found must
	// hold as much.
	held := make(chan [2]int, 1)
	sc.Post(func(c reactor.Conn) {
		c.Write([]byte(big)) // handed to gnet as this task ends; the next one looks
		c.Post(func(reactor.Conn) { held <- [2]int{outbound(sc.gc).Buffered(), sc.gc.OutboundBuffered()} })
	})
	if n := <-held; n[0] != n[1] || n[1] == 0 {
		t.Errorf("outbound buffer read from gnet's conn holds %d bytes; gnet says %d (want more than 0)", n[0], n[1])
	}
	epfd := epollFD(sc.gc)
	if link, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(epfd)); err != nil || link != "anon_inode:[eventpoll]" {
		t.Fatalf("descriptor %d read from gnet's poller is %q (%v); want an epoll descriptor", epfd, link, err)
	}
}

func TestLayoutRejectsOtherTypes(t *testing.T) {
	type noLoop struct{ fd int }
	type loopWithoutPoller struct{ loop *struct{ idx int } }
	for _, v := range []any{nil, noLoop{}, &noLoop{}, &loopWithoutPoller{}} {
		if _, err := inspect(reflect.TypeOf(v)); err == nil {
			t.Errorf("inspect(%T) = nil error; want one", v)
		}
	}
}
