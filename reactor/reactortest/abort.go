package reactortest

import (
	"bytes"
	"errors"
	"io"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/reactorlab/reactor/reactor"
)

// testAbortResets: Abort ends a connection with a reset, so that the peer's read fails with
// ECONNRESET instead of ending cleanly: from the connection's own callback, dropping the output
// that callback wrote, and from another goroutine. The server has read everything the peer sent
// by then, so the reset can only be Abort's.
func (s *suite) testAbortResets(t *testing.T) {
	const conns = 10 // each way
	errAborted := errors.New("conformance: deliberate abort")
	causes := make(chan error, 2*conns)
	fromGoroutine := make(chan reactor.Conn, conns)
	h := funcHandler{
		data: func(c reactor.Conn, in []byte) (int, reactor.Action) {
			switch in[0] {
			case 'c': // abort in this callback
				c.Write(bytes.Repeat([]byte("dropped "), 8<<10))
				c.Abort(errAborted)
			case 'g': // abort from the test's goroutine
				fromGoroutine <- c
			}
			return len(in), reactor.None
		},
		close: func(_ reactor.Conn, err error) { causes <- err },
	}
	srv := s.start(t, reactor.Config{}, h)

	// reset checks that c's peer was reset: its read fails with ECONNRESET, after nothing when
	// the server's output was dropped.
	reset := func(way string, c io.Reader, dropped bool) {
		got, err := io.ReadAll(c)
		switch {
		case !errors.Is(err, syscall.ECONNRESET):
			t.Errorf("Abort %s: the peer read %d bytes, then %v; want ECONNRESET", way, len(got), err)
		case dropped && len(got) > 0:
			t.Errorf("Abort %s: the peer read %d bytes that the callback wrote before Abort; want them dropped", way, len(got))
		}
	}
	var wg sync.WaitGroup
	for i := 0; i < conns; i++ {
		c := srv.dial(t)
		c.Write([]byte("c"))
		wg.Add(1)
		go func() {
			defer wg.Done()
			reset("in a callback", c, true)
		}()
	}
	for i := 0; i < conns; i++ {
		c := srv.dial(t)
		c.Write([]byte("g"))
		var sc reactor.Conn
		select {
		case sc = <-fromGoroutine:
		case <-time.After(ioTimeout):
			t.Fatalf("no OnData within %v of the peer's byte", ioTimeout)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			reset("from another goroutine", c, false)
		}()
		sc.Abort(nil)
	}
	wg.Wait()
	var fromCallback, fromElsewhere int
	for i := 0; i < 2*conns; i++ {
		select {
		case err := <-causes:
			switch {
			case errors.Is(err, errAborted):
				fromCallback++
			case errors.Is(err, reactor.ErrConnClosed):
				fromElsewhere++
			default:
				t.Errorf("OnClose cause after Abort: %v; want Abort's cause (ErrConnClosed for nil)", err)
			}
		case <-time.After(ioTimeout):
			t.Fatalf("%d of %d aborted connections closed within %v", i, 2*conns, ioTimeout)
		}
	}
	if fromCallback != conns || fromElsewhere != conns {
		t.Errorf("OnClose causes: %d Abort(cause), %d Abort(nil); want %d each", fromCallback, fromElsewhere, conns)
	}
}
