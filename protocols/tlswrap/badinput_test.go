package tlswrap_test

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reactorlab/reactor/adapters"
	"github.com/reactorlab/reactor/protocols/echo"
	"github.com/reactorlab/reactor/protocols/http1"
	"github.com/reactorlab/reactor/protocols/tlswrap"
	"github.com/reactorlab/reactor/reactor"
	"github.com/reactorlab/reactor/reactor/reactortest"
)

// logBuffer collects a logger's lines from several goroutines.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// captureConn is a net.Conn that keeps what is written to it and fails every read: a
// tls.Client over it writes its ClientHello and stops.
type captureConn struct {
	net.Conn
	out bytes.Buffer
}

func (c *captureConn) Write(p []byte) (int, error) { return c.out.Write(p) }
func (c *captureConn) Read([]byte) (int, error)    { return 0, io.EOF }
func (c *captureConn) Close() error                { return nil }
func (c *captureConn) SetDeadline(time.Time) error { return nil }
func (c *captureConn) SetWriteDeadline(time.Time) error {
	return nil
}

// clientHello returns the bytes of a real ClientHello.
func clientHello(t *testing.T) []byte {
	var cc captureConn
	tls.Client(&cc, &tls.Config{ServerName: "localhost"}).Handshake()
	if cc.out.Len() < 100 || cc.out.Bytes()[0] != 0x16 {
		t.Fatalf("captured ClientHello: %d bytes starting %x", cc.out.Len(), cc.out.Bytes()[:min(5, cc.out.Len())])
	}
	return cc.out.Bytes()
}

// openFDs counts the process's descriptors (-1 where /proc is missing).
func openFDs() int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(ents)
}

// TestBadInput sends each kind of bad input to a TLS server on every backend. Each gets a clear
// close, its cause logged, the failure counted, and nothing is left behind: after the server
// stops, goroutines and descriptors are back where they were.
func TestBadInput(t *testing.T) {
	hello := clientHello(t)
	cases := []struct {
		name string
		// play plays the peer on c (the handshake done when handshaken is true).
		play      func(t *testing.T, c net.Conn)
		handshake bool
		// answer is what the server must send before it closes (a prefix), or "" for nothing
		// in particular (an alert).
		answer string
		// logged is what the log line's cause must contain.
		logged string
	}{
		{name: "ClientHelloCutShort", play: func(t *testing.T, c net.Conn) {
			c.Write(hello[:len(hello)/2])
			c.(*net.TCPConn).CloseWrite()
		}, logged: "peer closed the connection during the handshake"},
		{name: "Garbage", play: func(t *testing.T, c net.Conn) {
			c.Write([]byte("\x00\x01\x02\x03\x04\x05garbage, not a record\r\n"))
		}, logged: "does not look like a TLS handshake"},
		{name: "StallMidHandshake", play: func(t *testing.T, c net.Conn) {
			c.Write(hello[:len(hello)-10])
		}, logged: "handshake timed out"},
		{name: "SilentPeer", play: func(t *testing.T, c net.Conn) {}, logged: "handshake timed out"},
		{name: "OversizedRecordInHandshake", play: func(t *testing.T, c net.Conn) {
			c.Write([]byte{0x16, 0x03, 0x01, 0xff, 0xff})
			c.Write(make([]byte, 1024))
		}, logged: "oversized record"},
		{name: "OversizedRecordAfterHandshake", handshake: true, play: func(t *testing.T, c net.Conn) {
			// Under the established TLS connection, on its TCP connection: an application data
			// record longer than TLS allows.
			c.Write([]byte{0x17, 0x03, 0x03, 0x48, 0x01})
			c.Write(make([]byte, 1024))
		}, logged: "oversized record"},
		{name: "BadRecordMAC", handshake: true, play: func(t *testing.T, c net.Conn) {
			c.Write([]byte{0x17, 0x03, 0x03, 0x00, 0x40})
			c.Write(bytes.Repeat([]byte{0x5a}, 0x40))
		}, logged: "bad record MAC"},
		{name: "PlainHTTP", play: func(t *testing.T, c net.Conn) {
			io.WriteString(c, "GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n")
		}, answer: "HTTP/1.1 400 Bad Request", logged: "plain HTTP request sent to the TLS port"},
	}
	reactortest.ForEachBackend(t, adapters.Registry(), func(t *testing.T, newBackend reactor.Constructor) {
		// A library with process-wide pollers (netpoll) starts them on first use; they belong
		// to the baseline.
		wb, waddr := reactortest.Start(t, newBackend, reactor.Config{Loops: 1}, echo.Handler{})
		reactortest.EchoMany(t, waddr, 1, 1)
		reactortest.Stop(t, wb)
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				runtime.GC()
				baseG, baseFD := runtime.NumGoroutine(), openFDs()
				var logs logBuffer
				var inner reactor.Handler = echo.Handler{}
				if !tc.handshake {
					hh := http1.New(http1.Config{})
					t.Cleanup(hh.Close)
					inner = hh
				}
				h := wrap(t, inner, tlswrap.Config{
					HandshakeTimeout: 300 * time.Millisecond,
					Logger:           slog.New(slog.NewTextHandler(&logs, nil)),
				}, "http/1.1")
				b, addr := reactortest.Start(t, newBackend, reactor.Config{Loops: 1}, h)
				raw := reactortest.Dial(t, addr)
				if tc.handshake {
					// The handshake goes over raw; what the case writes after it goes under the
					// TLS connection, which is never used again.
					if err := tls.Client(raw, clientConfig(t)).Handshake(); err != nil {
						t.Fatal(err)
					}
				}
				begun := time.Now()
				tc.play(t, raw)
				raw.SetReadDeadline(time.Now().Add(5 * time.Second))
				got, err := io.ReadAll(raw)
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					t.Fatalf("connection still open after 5s (read %q)", got)
				}
				if !strings.HasPrefix(string(got), tc.answer) {
					t.Errorf("server answered %q; want it to start with %q", got, tc.answer)
				}
				if tc.logged == "handshake timed out" {
					if took := time.Since(begun); took < 250*time.Millisecond {
						t.Errorf("closed after %v; want the 300ms handshake timeout", took)
					}
				}
				reactortest.Stop(t, b)
				if _, failed := h.Handshakes(); failed != 1 && !tc.handshake {
					t.Errorf("%d handshakes counted failed; want 1", failed)
				}
				if !strings.Contains(logs.String(), tc.logged) {
					t.Errorf("log %q lacks the cause %q", logs.String(), tc.logged)
				}
				raw.Close()
				if hh, ok := inner.(*http1.Handler); ok {
					hh.Close() // its Date ticker
				}
				deadline := time.Now().Add(5 * time.Second)
				for (runtime.NumGoroutine() > baseG || openFDs() > baseFD) && time.Now().Before(deadline) {
					time.Sleep(10 * time.Millisecond)
				}
				if g, fd := runtime.NumGoroutine(), openFDs(); g > baseG || fd > baseFD {
					t.Errorf("after the server stopped: %d goroutines, %d descriptors; want ≤ %d, %d", g, fd, baseG, baseFD)
				}
			})
		}
	})
}

// TestHandshakeLimit bounds the handshakes in progress: with MaxHandshakes 2, two stalled
// handshakes hold both slots and two more wait; a fifth client completes only once the stalled
// ones give up theirs.
func TestHandshakeLimit(t *testing.T) {
	reactortest.ForEachBackend(t, adapters.Registry(), func(t *testing.T, newBackend reactor.Constructor) {
		hello := clientHello(t)
		var logs logBuffer
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("the server logged:\n%s", logs.String())
			}
		})
		h := wrap(t, echo.Handler{}, tlswrap.Config{MaxHandshakes: 2, HandshakeTimeout: 10 * time.Second,
			Logger: slog.New(slog.NewTextHandler(&logs, nil))})
		_, addr := reactortest.Start(t, newBackend, reactor.Config{Loops: 1}, h)
		var stalled []net.Conn
		for i := 0; i < 4; i++ {
			c := reactortest.Dial(t, addr)
			c.Write(hello[:len(hello)-1]) // a handshake that stalls
			stalled = append(stalled, c)
		}
		// The server must have taken the stalled ClientHellos, two into the slots and two into
		// the queue, before the fifth client comes: on a busy machine a backend may not have
		// read them yet.
		if !eventually(func() bool { r, w := h.InProgress(); return r == 2 && w == 2 }) {
			r, w := h.InProgress()
			t.Fatalf("with 4 stalled handshakes and 2 slots: %d running, %d waiting; want 2 and 2", r, w)
		}
		const hold = 300 * time.Millisecond
		go func() {
			// Ends after hold: the stalled clients give up, and their slots come free.
			time.Sleep(hold)
			for _, c := range stalled {
				c.Close()
			}
		}()
		begun := time.Now()
		c := dialTLS(t, addr, clientConfig(t))
		if took := time.Since(begun); took < hold-50*time.Millisecond {
			t.Errorf("a fifth handshake finished after %v, while the limit's two slots were held by stalled ones for %v; want it to wait", took, hold)
		}
		c.Write([]byte("ping"))
		buf := make([]byte, 4)
		if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "ping" {
			t.Fatalf("echo after waiting for a slot: %q, %v", buf, err)
		}
		if ok, _ := h.Handshakes(); ok != 1 {
			t.Errorf("%d handshakes succeeded; want 1", ok)
		}
		if !eventually(func() bool { _, failed := h.Handshakes(); return failed == 4 }) {
			_, failed := h.Handshakes()
			t.Errorf("%d handshakes counted failed; want the 4 stalled ones", failed)
		}
	})
}

// eventually polls cond for up to 5 seconds.
func eventually(cond func() bool) bool {
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return true
		}
	}
	return cond()
}
