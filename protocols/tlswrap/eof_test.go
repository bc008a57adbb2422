package tlswrap_test

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"math/rand"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/reactorlab/reactor/protocols/tlswrap"
	"github.com/reactorlab/reactor/reactor"
	"github.com/reactorlab/reactor/reactor/conntest"
)

// TestEndWaitsForPausedInput: the peer's end of input — close_notify, or a FIN at a record
// boundary — reaches a paused inner handler only after every byte decrypted before it, however
// the end and the ResumeRead calls interleave; a FIN inside a record is a truncated stream,
// reported as an error, never as an end. (A proxy relays the end as a half-close: an end that
// overtook the plaintext held for a paused handler lost that plaintext.)
func TestEndWaitsForPausedInput(t *testing.T) {
	for _, tc := range []struct {
		name        string
		closeNotify bool
		cut         int // ciphertext bytes left out at the end
	}{
		{"CloseNotify", true, 0},
		{"FINAtRecordBoundary", false, 0},
		{"FINInsideRecord", false, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := make([]byte, 100<<10)
			rand.New(rand.NewSource(7)).Read(data)
			s := &sipper{budget: 1000}
			d, client := handshakeDriver(t, s)
			if _, err := client.Write(data); err != nil {
				t.Fatal(err)
			}
			if tc.closeNotify {
				if err := client.CloseWrite(); err != nil {
					t.Fatal(err)
				}
			}
			wire := client.NetConn().(*memConn).take()
			d.Feed(wire[:len(wire)-tc.cut])
			d.EOF()
			for round := 0; !d.C.Closed() && s.eof == 0 && round < 1000; round++ {
				s.budget = 1000
				s.c.ResumeRead()
				d.Run()
			}
			if d.C.Closed() {
				d.H.OnClose(d.C, nil)
			}
			if !bytes.Equal(s.got, data[:len(s.got)]) {
				t.Fatal("the inner handler got bytes that were not sent")
			}
			if tc.cut == 0 {
				if s.eof != 1 || s.gotAtEOF != len(data) {
					t.Fatalf("the end came %d times, first after %d of %d bytes (%d in all; closed %v, %v); want once, after all",
						s.eof, s.gotAtEOF, len(data), len(s.got), s.closed, s.closeErr)
				}
				return
			}
			if s.eof != 0 || !s.closed || !errors.Is(s.closeErr, io.ErrUnexpectedEOF) {
				t.Fatalf("after a cut record: %d ends, closed %v with %v; want no end, and a close with %v",
					s.eof, s.closed, s.closeErr, io.ErrUnexpectedEOF)
			}
		})
	}
}

// handshakeDriver opens inner over TLS on a conntest.Driver and completes a handshake with a
// crypto/tls client on an in-memory transport.
func handshakeDriver(t *testing.T, inner reactor.Handler) (*conntest.Driver, *tls.Conn) {
	t.Helper()
	d := conntest.Open(wrap(t, inner, tlswrap.Config{}), "")
	m := &memConn{}
	m.cond = sync.NewCond(&m.mu)
	client := tls.Client(m, clientConfig(t))
	done := make(chan error, 1)
	go func() { done <- client.Handshake() }() // ends when the handshake does: every flight is relayed below
	for {
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("handshake: %v", err)
			}
			m.give(d.C.TakeOutput())
			return d, client
		case <-time.After(time.Millisecond):
			if p := m.take(); len(p) > 0 {
				d.Feed(p)
			}
			m.give(d.C.TakeOutput())
		}
	}
}

// sipper takes at most budget bytes of input, then pauses reading.
type sipper struct {
	c        reactor.Conn
	got      []byte
	budget   int
	eof      int // OnReadEOF calls
	gotAtEOF int
	closed   bool
	closeErr error
}

func (s *sipper) OnOpen(c reactor.Conn) { s.c = c }

func (s *sipper) OnData(c reactor.Conn, in []byte) (int, reactor.Action) {
	n := min(len(in), s.budget)
	s.budget -= n
	s.got = append(s.got, in[:n]...)
	if s.budget == 0 {
		c.PauseRead()
	}
	return n, reactor.None
}

func (s *sipper) OnReadEOF(reactor.Conn) reactor.Action {
	if s.eof++; s.eof == 1 {
		s.gotAtEOF = len(s.got)
	}
	return reactor.None
}

func (s *sipper) OnClose(_ reactor.Conn, err error) { s.closed, s.closeErr = true, err }

// memConn is the client's transport: what it writes waits for take, what give hands it is
// read.
type memConn struct {
	mu      sync.Mutex
	cond    *sync.Cond
	in, out bytes.Buffer
}

func (m *memConn) Read(p []byte) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for m.in.Len() == 0 {
		m.cond.Wait()
	}
	return m.in.Read(p)
}

func (m *memConn) Write(p []byte) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.out.Write(p)
}

func (m *memConn) give(p []byte) {
	m.mu.Lock()
	m.in.Write(p)
	m.cond.Broadcast()
	m.mu.Unlock()
}

func (m *memConn) take() []byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	p := bytes.Clone(m.out.Bytes())
	m.out.Reset()
	return p
}

func (m *memConn) Close() error                     { return nil }
func (m *memConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (m *memConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (m *memConn) SetDeadline(time.Time) error      { return nil }
func (m *memConn) SetReadDeadline(time.Time) error  { return nil }
func (m *memConn) SetWriteDeadline(time.Time) error { return nil }
