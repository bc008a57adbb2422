package reactortest

import (
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/reactorlab/reactor/internal/reuseport"
	"github.com/reactorlab/reactor/reactor"
)

// testSharedPort: two servers of the backend bind one port with ReusePort, as the workers of
// reactor serve --procs do; the kernel spreads connections and both serve.
func (s *suite) testSharedPort(t *testing.T) {
	addr, release, err := reuseport.Reserve("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	var counts [2]atomic.Int64
	for i := range counts {
		h := funcHandler{data: func(c reactor.Conn, in []byte) (int, reactor.Action) {
			counts[i].Add(1)
			c.Write(in)
			return len(in), reactor.None
		}}
		s.start(t, reactor.Config{Addr: addr.String(), ReusePort: true}, h)
	}
	release()
	for k := 0; k < 200; k++ {
		c, err := net.DialTimeout("tcp", addr.String(), ioTimeout)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(ioTimeout))
		c.Write([]byte("x"))
		_, err = io.ReadFull(c, make([]byte, 1))
		c.Close()
		if err != nil {
			t.Fatalf("connection %d to the shared port: %v", k, err)
		}
	}
	if counts[0].Load() == 0 || counts[1].Load() == 0 {
		t.Errorf("connections per server: %d and %d; want both serving the shared port", counts[0].Load(), counts[1].Load())
	}
}
