package reactortest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/reactorlab/reactor/reactor"
)

// halfFuncHandler is a funcHandler that is a reactor.HalfCloser too.
type halfFuncHandler struct {
	funcHandler
	eof func(reactor.Conn) reactor.Action
}

func (f halfFuncHandler) OnReadEOF(c reactor.Conn) reactor.Action { return f.eof(c) }

// testHalfCloser: a handler that is a reactor.HalfCloser hears of the peer's end of stream with
// OnReadEOF, after every OnData, and goes on writing until it ends the connection; CloseWrite
// sends the end of stream after what was written, while the connection goes on reading. (A
// handler that is no HalfCloser gets OnClose with io.EOF instead: the HalfClose scenario.)
// OnReadEOF goes with CloseWrite: a backend that lists CloseWrite skips this.
func (s *suite) testHalfCloser(t *testing.T) {
	s.requires(t, "CloseWrite")
	t.Run("ReplyAfterEOF", s.testReplyAfterEOF)
	t.Run("WriteSideFirst", s.testWriteSideFirst)
}

// The ways the ReplyAfterEOF handler answers once the peer's input has ended; the peer's first
// byte picks one.
const (
	eofWrite       = iota // Write in OnReadEOF, then CloseWrite
	eofAsync              // AsyncWrite from another goroutine, then a posted CloseWrite
	eofTimer              // an AfterFunc Writes, then CloseWrites
	eofReturnClose        // Write in OnReadEOF, which returns Close
	eofWays
)

var eofWayNames = [eofWays]string{"Write+CloseWrite", "AsyncWrite+posted CloseWrite", "AfterFunc Write+CloseWrite", "Write+return Close"}

// testReplyAfterEOF: peers send a request of 1 byte to 1 MiB and their FIN; the handler keeps
// what OnData brings and, at OnReadEOF, echoes all of it, in each of the eofWays, then ends the
// connection. Each peer reads its whole request back, then a clean end of stream; every
// connection gets OnReadEOF once and closes with a nil cause.
func (s *suite) testReplyAfterEOF(t *testing.T) {
	sizes := []int{0, 1000, 64 << 10, 1 << 20}
	conns := eofWays * len(sizes)
	var eofs atomic.Int32
	var async sync.WaitGroup
	causes := make(chan error, conns)
	closeWrite := func(c reactor.Conn) {
		if err := c.CloseWrite(); err != nil {
			t.Error(s.unlisted("CloseWrite", err))
		}
	}
	write := func(c reactor.Conn, p []byte) {
		if _, err := c.Write(p); err != nil {
			t.Errorf("Write after the peer's end of stream: %v", err)
		}
	}
	hc := newHalfCloseChecker(halfFuncHandler{
		funcHandler: funcHandler{
			data: func(c reactor.Conn, in []byte) (int, reactor.Action) {
				got, _ := c.Context().([]byte)
				c.SetContext(append(got, in...))
				return len(in), reactor.None
			},
			close: func(_ reactor.Conn, err error) { causes <- err },
		},
		eof: func(c reactor.Conn) reactor.Action {
			eofs.Add(1)
			got, _ := c.Context().([]byte)
			if len(got) == 0 {
				t.Errorf("OnReadEOF before the request's first byte came")
				return reactor.Close
			}
			switch got[0] {
			case eofWrite:
				write(c, got)
				closeWrite(c)
			case eofAsync:
				async.Add(1)
				go func() {
					defer async.Done()
					if err := c.AsyncWrite(got); err != nil {
						t.Errorf("AsyncWrite after the peer's end of stream: %v", err)
					}
					if err := c.Post(closeWrite); err != nil {
						t.Errorf("Post after the peer's end of stream: %v", err)
					}
				}()
			case eofTimer:
				c.AfterFunc(5*time.Millisecond, func(c reactor.Conn) {
					write(c, got)
					closeWrite(c)
				})
			case eofReturnClose:
				write(c, got)
				return reactor.Close
			}
			return reactor.None
		},
	})
	srv := s.start(t, reactor.Config{MaxOutbound: 4 << 20}, hc)

	var wg sync.WaitGroup
	for i := 0; i < conns; i++ {
		way, size := i%eofWays, sizes[i/eofWays]
		c := srv.dial(t)
		wg.Add(1)
		go func() {
			defer wg.Done()
			req := make([]byte, 1+size)
			req[0] = byte(way)
			for k := range size {
				req[1+k] = patternAt(i + k)
			}
			sent := make(chan error, 1)
			go func() {
				// Ends once the request and the FIN are sent, or the connection fails.
				_, err := c.Write(req)
				if err == nil {
					err = c.CloseWrite()
				}
				sent <- err
			}()
			got, err := io.ReadAll(c)
			if werr := <-sent; werr != nil {
				t.Errorf("%s, %d bytes: sending the request and FIN: %v", eofWayNames[way], len(req), werr)
			}
			if !bytes.Equal(got, req) || err != nil {
				t.Errorf("%s, %d bytes: got %d bytes back, then %v; want the request back and a clean end of stream", eofWayNames[way], len(req), len(got), err)
			}
		}()
	}
	wg.Wait()
	async.Wait()
	for i := 0; i < conns; i++ {
		select {
		case err := <-causes:
			if err != nil {
				t.Errorf("OnClose cause after the reply to a half-closed peer: %v; want nil (the handler ended the connection)", err)
			}
		case <-time.After(ioTimeout):
			t.Fatalf("%d of %d connections closed within %v of their replies", i, conns, ioTimeout)
		}
	}
	if n := eofs.Load(); n != int32(conns) {
		t.Errorf("OnReadEOF called %d times for %d half-closed peers; want once each", n, conns)
	}
	srv.shutdown()
	hc.Check(t)
}

// testWriteSideFirst: the handler greets and CloseWrites in OnOpen; the peer reads the greeting
// and a clean end of stream, while later writes on the server fail with ErrConnClosed and a
// second CloseWrite does nothing. The connection goes on reading: the peer then sends 256 KiB,
// every byte reaches OnData, and the peer's FIN brings OnReadEOF and the close, with a nil cause.
func (s *suite) testWriteSideFirst(t *testing.T) {
	const conns, size, greeting = 4, 256 << 10, "hello\n"
	type result struct {
		received, eofs int
		badAt          int // the first byte that differs from what was sent, -1 if none
		err            error
	}
	results := make(chan result, conns)
	hc := newHalfCloseChecker(halfFuncHandler{
		funcHandler: funcHandler{
			open: func(c reactor.Conn) {
				c.SetContext(&result{badAt: -1})
				if _, err := c.Write([]byte(greeting)); err != nil {
					t.Errorf("Write: %v", err)
				}
				if err := c.CloseWrite(); err != nil {
					t.Error(s.unlisted("CloseWrite", err))
					return
				}
				if _, err := c.Write([]byte("late")); !errors.Is(err, reactor.ErrConnClosed) {
					t.Errorf("Write after CloseWrite: %v; want ErrConnClosed", err)
				}
				if err := c.AsyncWrite([]byte("late")); !errors.Is(err, reactor.ErrConnClosed) {
					t.Errorf("AsyncWrite after CloseWrite: %v; want ErrConnClosed", err)
				}
				if err := c.CloseWrite(); err != nil {
					t.Errorf("CloseWrite a second time: %v; want nil (it does nothing)", err)
				}
			},
			data: func(c reactor.Conn, in []byte) (int, reactor.Action) {
				r := c.Context().(*result)
				for i, b := range in {
					if b != patternAt(r.received+i) && r.badAt < 0 {
						r.badAt = r.received + i
					}
				}
				r.received += len(in)
				return len(in), reactor.None
			},
			close: func(c reactor.Conn, err error) {
				r := c.Context().(*result)
				r.err = err
				results <- *r
			},
		},
		eof: func(c reactor.Conn) reactor.Action {
			c.Context().(*result).eofs++
			return reactor.None
		},
	})
	srv := s.start(t, reactor.Config{}, hc)

	data := make([]byte, size)
	for i := range data {
		data[i] = patternAt(i)
	}
	var wg sync.WaitGroup
	for i := 0; i < conns; i++ {
		c := srv.dial(t)
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := io.ReadAll(c)
			if string(got) != greeting || err != nil {
				t.Errorf("conn %d: read %q, then %v; want %q and a clean end of stream", i, got, err, greeting)
				return
			}
			if _, err := c.Write(data); err != nil {
				t.Errorf("conn %d: writing after the server's end of stream: %v", i, err)
				return
			}
			if err := c.CloseWrite(); err != nil {
				t.Errorf("conn %d: CloseWrite: %v", i, err)
			}
		}()
	}
	wg.Wait()
	for i := 0; i < conns; i++ {
		select {
		case r := <-results:
			var problems []string
			if r.received != size || r.badAt >= 0 {
				problems = append(problems, fmt.Sprintf("OnData saw %d of %d bytes (first wrong at %d, -1: none)", r.received, size, r.badAt))
			}
			if r.eofs != 1 {
				problems = append(problems, fmt.Sprintf("OnReadEOF called %d times; want once", r.eofs))
			}
			if r.err != nil {
				problems = append(problems, fmt.Sprintf("OnClose cause %v; want nil (both directions ended in order)", r.err))
			}
			if len(problems) > 0 {
				t.Errorf("a connection that CloseWrote first, after its peer sent and half-closed: %v", problems)
			}
		case <-time.After(ioTimeout):
			t.Fatalf("%d of %d connections closed within %v of their peer's FIN, after the server's", i, conns, ioTimeout)
		}
	}
	srv.shutdown()
	hc.Check(t)
}
