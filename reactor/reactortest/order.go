package reactortest

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/reactorlab/reactor/reactor"
)

// The WriteOrder scenario's records. Each names its source and its number within that source,
// and says, for every source, how many of that source's records were written before it in
// happens-before order: those must arrive first.
const (
	orderGoroutines = 8                   // sources 0..7: goroutines that AsyncWrite
	srcWrite        = orderGoroutines     // records Written by OnData
	srcCallback     = orderGoroutines + 1 // records written both ways inside one callback
	srcPost         = orderGoroutines + 2 // sources 10..17: functions posted by goroutine 0..7
	orderSources    = srcPost + orderGoroutines
	orderRecSize    = 8 + 4*orderSources
)

// postSource is the source of the records written by functions that goroutine g posted. They
// are a source apart from g's AsyncWrites: a function runs when the owner gets to it, so an
// AsyncWrite that g makes after the Post may go out before what the function writes.
func postSource(g int) uint32 { return uint32(srcPost + g) }

type orderRec struct {
	src, seq uint32
	after    [orderSources]uint32
}

// encode writes r into b and returns it.
func (r *orderRec) encode(b *[orderRecSize]byte) []byte {
	binary.BigEndian.PutUint32(b[0:], r.src)
	binary.BigEndian.PutUint32(b[4:], r.seq)
	for i, a := range r.after {
		binary.BigEndian.PutUint32(b[8+4*i:], a)
	}
	return b[:]
}

func decodeOrderRec(b []byte) orderRec {
	r := orderRec{src: binary.BigEndian.Uint32(b), seq: binary.BigEndian.Uint32(b[4:])}
	for i := range r.after {
		r.after[i] = binary.BigEndian.Uint32(b[8+4*i:])
	}
	return r
}

// orderCheck follows the records as they arrive and rejects the first one out of order.
type orderCheck struct {
	next [orderSources]uint32 // records of each source seen so far
	n    int
}

func (oc *orderCheck) feed(r orderRec) error {
	defer func() { oc.n++ }()
	if r.src >= orderSources {
		return fmt.Errorf("record %d: source %d; the stream is garbled", oc.n, r.src)
	}
	if r.seq != oc.next[r.src] {
		return fmt.Errorf("record %d: source %d #%d; want #%d (each source in its own order)", oc.n, r.src, r.seq, oc.next[r.src])
	}
	for s, a := range r.after {
		if oc.next[s] < a {
			return fmt.Errorf("record %d: source %d #%d arrived after %d records of source %d; want ≥ %d, written before it (happens-before)", oc.n, r.src, r.seq, oc.next[s], s, a)
		}
	}
	oc.next[r.src]++
	return nil
}

// readOrdered reads n records from c and checks each; it stops at the first error.
func readOrdered(c net.Conn, oc *orderCheck, n int) error {
	var b [orderRecSize]byte
	for i := 0; i < n; i++ {
		if _, err := io.ReadFull(c, b[:]); err != nil {
			return fmt.Errorf("after %d records: %w", oc.n, err)
		}
		if err := oc.feed(decodeOrderRec(b[:])); err != nil {
			return err
		}
	}
	return nil
}

// testWriteOrder: every byte written to a connection — Write from its callbacks, AsyncWrite
// from anywhere — goes out in one order consistent with the order the calls were made
// (happens-before), and a Close that follows sends both.
func (s *suite) testWriteOrder(t *testing.T) {
	t.Run("InCallback", s.testWriteOrderInCallback)
	t.Run("SignalledInCallback", s.testWriteOrderSignalled)
	t.Run("SignalledByPeer", s.testWriteOrderByPeer)
	t.Run("Concurrent", s.testWriteOrderConcurrent)
	t.Run("ConcurrentWithPost", s.testWriteOrderWithPost)
}

// testWriteOrderInCallback: one callback alternates AsyncWrite and Write (each follows each);
// the records arrive in the order of the calls. The last command also asks for a close: both
// kinds of bytes arrive before the end of the stream.
func (s *suite) testWriteOrderInCallback(t *testing.T) {
	const rounds, perRound = 20, 32
	var seq uint32 // touched by the one connection's callbacks only
	h := funcHandler{data: func(c reactor.Conn, in []byte) (int, reactor.Action) {
		var b [orderRecSize]byte
		for _, cmd := range in {
			for k := 0; k < perRound; k++ {
				r := orderRec{src: srcCallback, seq: seq}
				seq++
				// A A W W A A W W …: an AsyncWrite after a Write, a Write after an AsyncWrite,
				// and each after its own kind.
				if k%4 < 2 {
					if err := c.AsyncWrite(r.encode(&b)); err != nil {
						t.Errorf("AsyncWrite: %v", err)
					}
				} else if _, err := c.Write(r.encode(&b)); err != nil {
					t.Errorf("Write: %v", err)
				}
			}
			if cmd == 'z' {
				return len(in), reactor.Close
			}
		}
		return len(in), reactor.None
	}}
	srv := s.start(t, reactor.Config{}, h)
	c := srv.dial(t)
	var oc orderCheck
	for r := 0; r < rounds; r++ {
		c.Write([]byte("a"))
		if err := readOrdered(c, &oc, perRound); err != nil {
			t.Fatalf("AsyncWrite and Write in one callback, round %d: %v", r, err)
		}
	}
	c.Write([]byte("z"))
	if err := readOrdered(c, &oc, perRound); err != nil {
		t.Fatalf("AsyncWrite and Write in the callback that closes: %v", err)
	}
	if rest := expectEOF(t, c, ioTimeout); len(rest) != 0 {
		t.Fatalf("%d bytes after the last record; want the end of the stream", len(rest))
	}
}

// testWriteOrderSignalled: while OnData waits, another goroutine AsyncWrites a batch and then
// tells the callback so through a channel; the callback then Writes a marker. The batch
// happened before the marker's Write, so it arrives first.
func (s *suite) testWriteOrderSignalled(t *testing.T) {
	const rounds, batch = 20, 8
	conns := make(chan reactor.Conn, 1)
	holding := make(chan struct{}, 1)
	posted := make(chan uint32, 1)
	var wseq uint32 // the connection's callbacks only
	h := funcHandler{
		open: func(c reactor.Conn) { conns <- c },
		data: func(c reactor.Conn, in []byte) (int, reactor.Action) {
			for range in {
				holding <- struct{}{}
				// A callback must not block; this one waits, boundedly, only so that the
				// AsyncWrites land while it runs, which is the case the order must survive.
				select {
				case n := <-posted:
					r := orderRec{src: srcWrite, seq: wseq}
					r.after[0] = n
					wseq++
					var b [orderRecSize]byte
					if _, err := c.Write(r.encode(&b)); err != nil {
						t.Errorf("Write: %v", err)
					}
				case <-time.After(ioTimeout):
					t.Errorf("the batch was not posted within %v", ioTimeout)
				}
			}
			return len(in), reactor.None
		},
	}
	srv := s.start(t, reactor.Config{}, h)
	c := srv.dial(t)
	sc := <-conns
	var oc orderCheck
	var seq uint32
	for r := 0; r < rounds; r++ {
		c.Write([]byte("h"))
		select {
		case <-holding:
		case <-time.After(ioTimeout):
			t.Fatalf("round %d: OnData was not called within %v", r, ioTimeout)
		}
		var b [orderRecSize]byte
		for i := 0; i < batch; i++ {
			rec := orderRec{src: 0, seq: seq}
			seq++
			if err := sc.AsyncWrite(rec.encode(&b)); err != nil {
				t.Fatalf("AsyncWrite: %v", err)
			}
		}
		posted <- seq
		if err := readOrdered(c, &oc, batch+1); err != nil {
			t.Fatalf("AsyncWrites signalled to a running callback that then Writes, round %d: %v", r, err)
		}
	}
}

// testWriteOrderByPeer: a goroutine AsyncWrites a batch and, once AsyncWrite has returned, the
// client sends a byte on which OnData Writes a marker; the marker says how many AsyncWrites
// had returned when it was written, and they arrive before it.
func (s *suite) testWriteOrderByPeer(t *testing.T) {
	const rounds, batch = 200, 4
	conns := make(chan reactor.Conn, 1)
	var returned atomic.Uint32 // AsyncWrites that have returned
	var wseq uint32            // the connection's callbacks only
	h := funcHandler{
		open: func(c reactor.Conn) { conns <- c },
		data: func(c reactor.Conn, in []byte) (int, reactor.Action) {
			var b [orderRecSize]byte
			for range in {
				r := orderRec{src: srcWrite, seq: wseq}
				r.after[0] = returned.Load()
				wseq++
				if _, err := c.Write(r.encode(&b)); err != nil {
					t.Errorf("Write: %v", err)
				}
			}
			return len(in), reactor.None
		},
	}
	srv := s.start(t, reactor.Config{}, h)
	c := srv.dial(t)
	sc := <-conns
	read := make(chan error, 1)
	go func() {
		// Ends after the last record, or at the first error (a read error included).
		var oc orderCheck
		read <- readOrdered(c, &oc, rounds*(batch+1))
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
			returned.Store(seq)
		}
		if _, err := c.Write([]byte("m")); err != nil {
			t.Fatalf("sending the trigger: %v", err)
		}
	}
	if err := <-read; err != nil {
		t.Fatalf("AsyncWrites, then a byte from the peer on which OnData Writes: %v", err)
	}
}

// testWriteOrderConcurrent: 8 goroutines AsyncWrite numbered records while the peer keeps
// sending bytes, each of which makes OnData Write a record. Each goroutine's records arrive in
// order, and every record after those that happened before it: a Write record names the
// AsyncWrites that had returned when it was written, an AsyncWrite record the Writes made
// before it began.
func (s *suite) testWriteOrderConcurrent(t *testing.T) {
	const perGoroutine, writes = 400, 1000
	conns := make(chan reactor.Conn, 1)
	var returned [orderGoroutines]atomic.Uint32 // per goroutine: its AsyncWrites that returned
	var written atomic.Uint32                   // Writes made by OnData
	var wseq uint32                             // the connection's callbacks only
	h := funcHandler{
		open: func(c reactor.Conn) { conns <- c },
		data: func(c reactor.Conn, in []byte) (int, reactor.Action) {
			var b [orderRecSize]byte
			for range in {
				r := orderRec{src: srcWrite, seq: wseq}
				for g := range returned {
					r.after[g] = returned[g].Load()
				}
				wseq++
				if _, err := c.Write(r.encode(&b)); err != nil {
					t.Errorf("Write: %v", err)
				}
				written.Store(wseq)
			}
			return len(in), reactor.None
		},
	}
	srv := s.start(t, reactor.Config{}, h)
	c := srv.dial(t)
	sc := <-conns
	read := make(chan error, 1)
	go func() {
		// Ends after the last record, or at the first error (a read error included).
		var oc orderCheck
		read <- readOrdered(c, &oc, orderGoroutines*perGoroutine+writes)
	}()
	var wg sync.WaitGroup
	for g := 0; g < orderGoroutines; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var b [orderRecSize]byte
			for i := 0; i < perGoroutine; i++ {
				r := orderRec{src: uint32(g), seq: uint32(i)}
				r.after[srcWrite] = written.Load()
				if err := sc.AsyncWrite(r.encode(&b)); err != nil {
					t.Errorf("goroutine %d: AsyncWrite: %v", g, err)
					return
				}
				returned[g].Store(uint32(i + 1))
				if i%8 == 7 {
					// Spread the AsyncWrites over the time the peer's bytes arrive in.
					time.Sleep(50 * time.Microsecond)
				}
			}
		}()
	}
	for i := 0; i < writes; {
		k := min(1+i%3, writes-i)
		if _, err := c.Write([]byte("www")[:k]); err != nil {
			t.Fatalf("sending the triggers: %v", err)
		}
		i += k
		runtime.Gosched()
	}
	wg.Wait()
	if err := <-read; err != nil {
		t.Fatalf("8 goroutines AsyncWriting while OnData Writes: %v", err)
	}
}

// testWriteOrderWithPost: as Concurrent, but each of the 8 goroutines alternates AsyncWrite
// with a Post whose function Writes. One order holds all three: a posted function's record
// arrives after the AsyncWrites its goroutine made before the Post and after every AsyncWrite
// that had returned by the time it ran; an OnData record after the posted functions that ran
// before it; an AsyncWrite record after the Writes, of either kind, made before it began.
func (s *suite) testWriteOrderWithPost(t *testing.T) {
	const perGoroutine, writes = 400, 1000
	conns := make(chan reactor.Conn, 1)
	var returned [orderGoroutines]atomic.Uint32 // per goroutine: its AsyncWrites that returned
	var postsRun [orderGoroutines]atomic.Uint32 // per goroutine: its posted functions that wrote
	var written atomic.Uint32                   // Writes made by OnData
	var wseq uint32                             // the connection's callbacks only
	// seen fills in, for a record written on the owner, every other source written before it.
	seen := func(r *orderRec) {
		for g := range returned {
			r.after[g] = max(r.after[g], returned[g].Load())
			r.after[postSource(g)] = postsRun[g].Load()
		}
		r.after[srcWrite] = wseq
	}
	oc := NewOrderChecker(funcHandler{
		open: func(c reactor.Conn) { conns <- c },
		data: func(c reactor.Conn, in []byte) (int, reactor.Action) {
			var b [orderRecSize]byte
			for range in {
				r := orderRec{src: srcWrite, seq: wseq}
				seen(&r)
				wseq++
				if _, err := c.Write(r.encode(&b)); err != nil {
					t.Errorf("Write: %v", err)
				}
				written.Store(wseq)
			}
			return len(in), reactor.None
		},
	})
	srv := s.start(t, reactor.Config{}, oc)
	c := srv.dial(t)
	sc := <-conns
	read := make(chan error, 1)
	go func() {
		// Ends after the last record, or at the first error (a read error included).
		var check orderCheck
		read <- readOrdered(c, &check, orderGoroutines*perGoroutine+writes)
	}()
	var wg sync.WaitGroup
	for g := 0; g < orderGoroutines; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var b [orderRecSize]byte
			var asyncs, posts uint32
			for i := 0; i < perGoroutine; i++ {
				if i%2 == 0 {
					r := orderRec{src: uint32(g), seq: asyncs}
					r.after[srcWrite] = written.Load()
					for h := range postsRun {
						r.after[postSource(h)] = postsRun[h].Load()
					}
					if err := sc.AsyncWrite(r.encode(&b)); err != nil {
						t.Errorf("goroutine %d: AsyncWrite: %v", g, err)
						return
					}
					asyncs++
					returned[g].Store(asyncs)
				} else {
					r := orderRec{src: postSource(g), seq: posts}
					r.after[g] = asyncs
					posts++
					err := sc.Post(oc.guard(sc, "a posted function", func(c reactor.Conn) {
						var b [orderRecSize]byte
						seen(&r)
						if _, err := c.Write(r.encode(&b)); err != nil {
							t.Errorf("Write in a posted function: %v", err)
						}
						postsRun[g].Store(r.seq + 1)
					}))
					if err != nil {
						t.Errorf("goroutine %d: Post: %v", g, err)
						return
					}
				}
				if i%8 == 7 {
					// Spread the calls over the time the peer's bytes arrive in.
					time.Sleep(50 * time.Microsecond)
				}
			}
		}()
	}
	for i := 0; i < writes; {
		k := min(1+i%3, writes-i)
		if _, err := c.Write([]byte("www")[:k]); err != nil {
			t.Fatalf("sending the triggers: %v", err)
		}
		i += k
		runtime.Gosched()
	}
	wg.Wait()
	if err := <-read; err != nil {
		t.Fatalf("8 goroutines AsyncWriting and posting Writes while OnData Writes: %v", err)
	}
	c.Close()
	srv.shutdown()
	oc.Check(t)
}
