package reactortest

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/reactorlab/reactor/reactor"
)

// testPost: Conn.Post runs functions on the connection's owner, in the order they were posted,
// after the output written before them, and never once the connection is closing.
func (s *suite) testPost(t *testing.T) {
	t.Run("OnOwnerInOrder", s.testPostOnOwnerInOrder)
	t.Run("OwnerMethods", s.testPostOwnerMethods)
	t.Run("AfterAsyncWrites", s.testPostAfterAsyncWrites)
	t.Run("AfterClose", s.testPostAfterClose)
	t.Run("QueuedAtClose", s.testPostQueuedAtClose)
}

// openedConns returns a handler, wrapped in an OrderChecker, that hands each server-side Conn
// to the returned channel from OnOpen (which holds up to n) and serves its data with data
// (consume everything when nil).
func openedConns(n int, data func(reactor.Conn, []byte) (int, reactor.Action)) (*OrderChecker, chan reactor.Conn) {
	conns := make(chan reactor.Conn, n)
	return NewOrderChecker(funcHandler{open: func(c reactor.Conn) { conns <- c }, data: data}), conns
}

// serverConn waits for the next connection accepted, failing the test past ioTimeout.
func serverConn(t *testing.T, conns <-chan reactor.Conn) reactor.Conn {
	t.Helper()
	select {
	case c := <-conns:
		return c
	case <-time.After(ioTimeout):
		t.Fatalf("no OnOpen within %v of the dial", ioTimeout)
		return nil
	}
}

// testPostOnOwnerInOrder: four goroutines post 500 numbered functions each while the peer keeps
// OnData busy. Every function runs once, never during a callback (the OrderChecker's busy flag;
// the race detector too, since functions and OnData share unlocked state), and each
// goroutine's functions run in the order it posted them.
func (s *suite) testPostOnOwnerInOrder(t *testing.T) {
	const posters, perPoster, pokes = 4, 500, 2000
	var ran [posters]int // next number expected from each poster; owner only
	var order []string   // order problems; owner only
	var dataBytes int    // bytes seen by OnData; owner only
	oc, conns := openedConns(1, func(c reactor.Conn, in []byte) (int, reactor.Action) {
		dataBytes += len(in)
		return len(in), reactor.None
	})
	srv := s.start(t, reactor.Config{}, oc)
	c := srv.dial(t)
	sc := serverConn(t, conns)

	var wg sync.WaitGroup
	for p := 0; p < posters; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < perPoster; i++ {
				err := sc.Post(oc.guard(sc, "a posted function", func(reactor.Conn) {
					if ran[p] != i && len(order) < 5 {
						order = append(order, fmt.Sprintf("poster %d: function #%d ran when #%d was due", p, i, ran[p]))
					}
					ran[p] = i + 1
				}))
				if err != nil {
					t.Errorf("poster %d: Post #%d: %v; want nil on an open connection", p, i, err)
					return
				}
			}
		}()
	}
	// The peer's bytes make OnData run while the functions are being posted.
	for i := 0; i < pokes; i++ {
		if _, err := c.Write([]byte("p")); err != nil {
			t.Fatalf("poking OnData: %v", err)
		}
	}
	wg.Wait()

	// Posted after every other function returned, this one runs after all of them.
	type result struct {
		ran       [posters]int
		order     []string
		dataBytes int
	}
	results := make(chan result, 1)
	if err := sc.Post(func(reactor.Conn) { results <- result{ran, order, dataBytes} }); err != nil {
		t.Fatalf("Post: %v", err)
	}
	select {
	case r := <-results:
		for _, o := range r.order {
			t.Errorf("out of Post order: %s", o)
		}
		for p, n := range r.ran {
			if n != perPoster {
				t.Errorf("poster %d: %d functions ran before the one posted after them all; want %d", p, n, perPoster)
			}
		}
		// The function posted last reads dataBytes on the owner; OnData may lag the peer.
		if r.dataBytes > pokes {
			t.Errorf("OnData saw %d bytes; the peer sent %d", r.dataBytes, pokes)
		}
	case <-time.After(ioTimeout):
		t.Fatalf("the last posted function did not run within %v", ioTimeout)
	}
	c.Close()
	srv.shutdown()
	oc.Check(t)
}

// testPostOwnerMethods: a posted function may use the owner-only methods: it reads and sets the
// Context that OnOpen set and OnData reads, and Writes.
func (s *suite) testPostOwnerMethods(t *testing.T) {
	conns := make(chan reactor.Conn, 1)
	// The context as it stands, back to the peer.
	sayContext := func(c reactor.Conn) {
		v, _ := c.Context().(string)
		c.Write([]byte(v + "\n"))
	}
	oc := NewOrderChecker(funcHandler{
		open: func(c reactor.Conn) {
			c.SetContext("opened")
			sayContext(c)
			conns <- c
		},
		data: func(c reactor.Conn, in []byte) (int, reactor.Action) {
			sayContext(c)
			return len(in), reactor.None
		},
	})
	srv := s.start(t, reactor.Config{}, oc)
	c := srv.dial(t)
	if got := readFull(t, c, len("opened\n")); string(got) != "opened\n" {
		t.Fatalf("OnOpen's greeting = %q; want %q", got, "opened\n")
	}
	sc := serverConn(t, conns)
	err := sc.Post(oc.guard(sc, "a posted function", func(c reactor.Conn) {
		v, _ := c.Context().(string)
		c.SetContext(v + "+posted")
		if _, err := c.Write([]byte("from post\n")); err != nil {
			t.Errorf("Write in a posted function: %v", err)
		}
	}))
	if err != nil {
		t.Fatalf("Post: %v", err)
	}
	want := "from post\n"
	if got := readFull(t, c, len(want)); string(got) != want {
		t.Fatalf("the posted function's Write: %q; want %q", got, want)
	}
	c.Write([]byte("?"))
	want = "opened+posted\n"
	if got := readFull(t, c, len(want)); string(got) != want {
		t.Fatalf("Context seen by OnData after the posted function's SetContext: %q; want %q", got, want)
	}
	c.Close()
	srv.shutdown()
	oc.Check(t)
}

// testPostAfterAsyncWrites: one goroutine AsyncWrites a few records, then posts a function that
// Writes one, again and again, never waiting. Each posted record arrives after the AsyncWrites
// that preceded its Post.
func (s *suite) testPostAfterAsyncWrites(t *testing.T) {
	const rounds, batch = 300, 3
	oc, conns := openedConns(1, nil)
	srv := s.start(t, reactor.Config{}, oc)
	c := srv.dial(t)
	sc := serverConn(t, conns)
	read := make(chan error, 1)
	go func() {
		// Ends after the last record, or at the first error (a read error included).
		var check orderCheck
		read <- readOrdered(c, &check, rounds*(batch+1))
	}()
	var b [orderRecSize]byte
	var seq uint32
	for r := 0; r < rounds; r++ {
		for i := 0; i < batch; i++ {
			rec := orderRec{src: 0, seq: seq}
			seq++
			if err := sc.AsyncWrite(rec.encode(&b)); err != nil {
				t.Fatalf("AsyncWrite: %v", err)
			}
		}
		rec := orderRec{src: postSource(0), seq: uint32(r)}
		rec.after[0] = seq
		err := sc.Post(oc.guard(sc, "a posted function", func(c reactor.Conn) {
			var b [orderRecSize]byte
			if _, err := c.Write(rec.encode(&b)); err != nil {
				t.Errorf("Write in a posted function: %v", err)
			}
		}))
		if err != nil {
			t.Fatalf("Post: %v", err)
		}
	}
	if err := <-read; err != nil {
		t.Fatalf("AsyncWrites then a Post that Writes, from one goroutine: %v", err)
	}
	c.Close()
	srv.shutdown()
	oc.Check(t)
}

// testPostAfterClose: once the connection is closing — Close called, the handler asked for a
// close, the peer went away — Post returns ErrConnClosed and the function never runs.
func (s *suite) testPostAfterClose(t *testing.T) {
	closed := make(chan reactor.Conn, 3)
	inner := funcHandler{
		data: func(c reactor.Conn, in []byte) (int, reactor.Action) { return len(in), reactor.Close },
		close: func(c reactor.Conn, err error) {
			closed <- c
		},
	}
	conns := make(chan reactor.Conn, 3)
	inner.open = func(c reactor.Conn) { conns <- c }
	oc := NewOrderChecker(inner)
	srv := s.start(t, reactor.Config{}, oc)
	var ran atomic.Int32
	never := func(reactor.Conn) { ran.Add(1) }
	postClosed := func(how string, sc reactor.Conn) {
		t.Helper()
		if err := sc.Post(oc.guard(sc, "a function posted after close", never)); !errors.Is(err, reactor.ErrConnClosed) {
			t.Errorf("Post after %s = %v; want ErrConnClosed", how, err)
		}
	}
	awaitClose := func(how string) {
		t.Helper()
		select {
		case <-closed:
		case <-time.After(ioTimeout):
			t.Fatalf("%s: no OnClose within %v", how, ioTimeout)
		}
	}

	// Close from the test's goroutine: closing at once, before OnClose.
	c := srv.dial(t)
	sc := serverConn(t, conns)
	sc.Close()
	postClosed("Close returned", sc)
	awaitClose("Close")
	postClosed("OnClose (Close)", sc)
	c.Close()

	// The handler's Close action.
	c = srv.dial(t)
	sc = serverConn(t, conns)
	c.Write([]byte("x"))
	awaitClose("the Close action")
	postClosed("OnClose (the handler's Close action)", sc)
	c.Close()

	// The peer's end of stream.
	c = srv.dial(t)
	sc = serverConn(t, conns)
	c.Close()
	awaitClose("the peer's close")
	postClosed("OnClose (the peer closed)", sc)

	// Had a function run, it would have run by the time a function posted to a live
	// connection has run too.
	c = srv.dial(t)
	sc = serverConn(t, conns)
	done := make(chan struct{})
	if err := sc.Post(func(reactor.Conn) { close(done) }); err != nil {
		t.Fatalf("Post to an open connection: %v", err)
	}
	select {
	case <-done:
	case <-time.After(ioTimeout):
		t.Fatalf("a function posted to an open connection did not run within %v", ioTimeout)
	}
	if n := ran.Load(); n != 0 {
		t.Errorf("%d functions posted after close ran; want none", n)
	}
	c.Close()
	srv.shutdown()
	oc.Check(t)
}

// testPostQueuedAtClose: goroutines keep posting to connections while they close in every way
// (the handler's Close after posting to itself, Abort from another goroutine, the peer's
// reset). Post returns nil or ErrConnClosed, and ErrConnClosed for good once it has; a
// function whose Post succeeded runs before OnClose or never (the OrderChecker's guard).
func (s *suite) testPostQueuedAtClose(t *testing.T) {
	const conns, posts = 60, 300
	var ranAfter atomic.Int32
	var accepted, ran atomic.Int64
	var oc *OrderChecker
	oc, opened := openedConns(conns, func(c reactor.Conn, in []byte) (int, reactor.Action) {
		// Functions posted to itself, queued behind the callback that asks for the close.
		for i := 0; i < 10; i++ {
			if c.Post(oc.guard(c, "a function posted before a close", func(reactor.Conn) { ran.Add(1) })) == nil {
				accepted.Add(1)
			}
		}
		return len(in), reactor.Close
	})
	srv := s.start(t, reactor.Config{}, oc)
	var wg sync.WaitGroup
	for i := 0; i < conns; i++ {
		c := srv.dial(t)
		sc := serverConn(t, opened)
		wg.Add(2)
		go func() {
			// Ends after posts Posts.
			defer wg.Done()
			gone, reported := false, false
			for k := 0; k < posts; k++ {
				err := sc.Post(oc.guard(sc, "a function posted while closing", func(reactor.Conn) { ran.Add(1) }))
				switch {
				case err == nil && gone:
					ranAfter.Add(1)
				case err == nil:
					accepted.Add(1)
				case errors.Is(err, reactor.ErrConnClosed):
					gone = true
				case !reported:
					// Reported once, and the loop goes on: the close below must happen anyway.
					t.Errorf("Post while closing: %v; want nil or ErrConnClosed", err)
					reported = true
				}
				if k == posts/3 {
					switch i % 3 {
					case 0:
						c.Write([]byte("x")) // the handler posts to itself and closes
					case 1:
						sc.Abort(nil)
					case 2:
						c.SetLinger(0)
						c.Close()
					}
				}
			}
		}()
		go func() {
			// Ends when the server's end of the connection closes.
			defer wg.Done()
			expectEOF(t, c, ioTimeout)
		}()
	}
	wg.Wait()
	if !eventually(ioTimeout, func() bool { _, closed := oc.Counts(); return closed == conns }) {
		opened, closed := oc.Counts()
		t.Fatalf("%d opened, %d closed; want every one of %d closed", opened, closed, conns)
	}
	if n := ranAfter.Load(); n != 0 {
		t.Errorf("%d Posts returned nil after one to the same connection had returned ErrConnClosed", n)
	}
	// A late function would run soon after OnClose, if at all; give it the time to show.
	time.Sleep(100 * time.Millisecond)
	if r, a := ran.Load(), accepted.Load(); r > a {
		t.Errorf("%d posted functions ran; only %d Posts succeeded", r, a)
	}
	t.Logf("%d of %d accepted functions ran before their connection closed", ran.Load(), accepted.Load())
	srv.shutdown()
	oc.Check(t)
}
