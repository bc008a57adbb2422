package reactortest

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"net"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/reactorlab/reactor/protocols/proxy"
	"github.com/reactorlab/reactor/reactor"
)

// The Proxy scenarios serve protocols/proxy and play both of its ends with plain Go sockets:
// the clients, and the upstream, a net.Listener of the test's own, so that it can flood,
// stall, refuse and reset at will.

const (
	proxyBulkConns = 64
	proxyBulkSize  = 1 << 20
	// proxyFloodSize is what one end sends while the other does not read: well past what the
	// kernel buffers of the two hops take (the receiver's buffer is held at 64 KiB, the rest
	// autotunes to a few MiB), so that the sender is held up only if the proxy stops reading.
	proxyFloodSize = 24 << 20
	// proxyHalfCloseTries is how often each half-close is played: the relayed FIN races
	// with the relayed bytes inside the backend.
	proxyHalfCloseTries = 10
)

// proxyHeapBound is how much the heap may grow while one end of a pair floods and the other
// does not read: the pending output the proxy allows (its high-water mark plus the read that
// crosses it), two read buffers for each of the pair's two connections (a backend that holds
// one per connection and one per loop), and 1 MiB for the test and the runtime, since client,
// upstream and server share the process. A proxy that kept reading would grow by the
// megabytes the sender got past the kernel's buffers (MaxOutbound is raised so that it is
// not dropped instead).
func proxyHeapBound(highWater int) int64 {
	return int64(highWater + reactor.DefaultReadBufferSize + 4*reactor.DefaultReadBufferSize + 1<<20)
}

// testProxy: the proxy protocol end to end — bulk both ways, backpressure with bounded memory,
// half-close both ways, failures relayed and logged, churn, and Shutdown with live pairs. It
// needs Dial and CloseWrite; a backend that lists either as unsupported skips it, saying so.
func (s *suite) testProxy(t *testing.T) {
	s.requires(t, "Dial", "CloseWrite")
	t.Run("Bulk", s.testProxyBulk)
	t.Run("Backpressure", func(t *testing.T) {
		t.Run("UpstreamFloodsClientNotReading", func(t *testing.T) { s.testProxyFlood(t, false) })
		t.Run("ClientFloodsUpstreamNotReading", func(t *testing.T) { s.testProxyFlood(t, true) })
		t.Run("UpstreamEndsWhilePaused", func(t *testing.T) { s.testProxyEndWhilePaused(t, false) })
		t.Run("ClientEndsWhilePaused", func(t *testing.T) { s.testProxyEndWhilePaused(t, true) })
	})
	t.Run("HalfClose", s.testProxyHalfClose)
	t.Run("Failures", s.testProxyFailures)
	t.Run("Churn", s.testProxyChurn)
	t.Run("Shutdown", s.testProxyShutdown)
}

// proxyUpstream stands for a proxy's upstream: a plain TCP server running serve on a
// goroutine of its own for each connection, which it closes when serve returns. With a nil
// serve it hands each connection to the test instead (handed), for the test to play the
// upstream by hand, and holds it until the test ends. It is stopped, its connections closed
// and its goroutines waited for, when the test ends.
type proxyUpstream struct {
	ln              net.Listener
	addr            string
	handed          chan *net.TCPConn
	stop            chan struct{} // closed when the test ends
	wg              sync.WaitGroup
	mu              sync.Mutex
	conns           map[*net.TCPConn]bool
	accepted, ended atomic.Int64
}

func startProxyUpstream(t *testing.T, serve func(c *net.TCPConn)) *proxyUpstream {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := &proxyUpstream{ln: ln, addr: ln.Addr().String(), handed: make(chan *net.TCPConn, 16),
		stop: make(chan struct{}), conns: map[*net.TCPConn]bool{}}
	if serve == nil {
		serve = func(c *net.TCPConn) {
			select {
			case u.handed <- c:
				<-u.stop
			case <-u.stop:
			}
		}
	}
	u.wg.Add(1)
	go func() {
		// Ends when the listener is closed.
		defer u.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			tc := c.(*net.TCPConn)
			u.mu.Lock()
			u.conns[tc] = true
			u.mu.Unlock()
			u.accepted.Add(1)
			u.wg.Add(1)
			go func() {
				// Ends when serve returns: every read and write has a deadline, and a
				// handed connection is held until stop.
				defer u.wg.Done()
				tc.SetDeadline(time.Now().Add(ioTimeout))
				serve(tc)
				tc.Close()
				u.mu.Lock()
				delete(u.conns, tc)
				u.mu.Unlock()
				u.ended.Add(1)
			}()
		}
	}()
	t.Cleanup(func() {
		close(u.stop)
		ln.Close()
		u.mu.Lock()
		for c := range u.conns {
			c.Close()
		}
		u.mu.Unlock()
		u.wg.Wait()
	})
	return u
}

// echoUpstream sends back what it reads and relays the end of stream with a FIN; it counts
// the streams that ended cleanly (not by a reset) in clean, when non-nil.
func echoUpstream(clean *atomic.Int64) func(*net.TCPConn) {
	return func(c *net.TCPConn) {
		// Not io.Copy: between two TCP connections it splices through a pipe, and the pipes
		// it keeps in a pool would count as descriptors left behind.
		buf := make([]byte, 4<<10)
		for {
			n, err := c.Read(buf)
			if _, werr := c.Write(buf[:n]); werr != nil {
				return
			}
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return
			}
		}
		c.CloseWrite()
		if clean != nil {
			clean.Add(1)
		}
	}
}

// next waits for the connection the proxy makes to the upstream (one started with a nil
// serve).
func (u *proxyUpstream) next(t *testing.T) *net.TCPConn {
	t.Helper()
	select {
	case c := <-u.handed:
		return c
	case <-time.After(ioTimeout):
		t.Fatalf("the proxy did not connect to the upstream within %v", ioTimeout)
		return nil
	}
}

// startProxy serves a proxy to upstreams with cfg; its log goes to the capture returned, and
// into the test's output if the test fails.
func (s *suite) startProxy(t *testing.T, cfg reactor.Config, upstreams ...string) (*server, *proxy.Proxy, *logCapture) {
	t.Helper()
	logs := &logCapture{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the proxy logged (debug and up; one line a second of each kind):\n%s", logs.String())
		}
	})
	p, err := proxy.New(proxy.Config{Upstreams: upstreams, Backend: cfg, Logger: logs.logger()})
	if err != nil {
		t.Fatal(err)
	}
	return s.start(t, cfg, p), p, logs
}

// streamPeriod is the length of the random pattern the streams are cut from: longer than a
// bulk stream, and a multiple of no chunk size, so that a chunk lost, repeated or misplaced
// shows, and (the count being checked too) so does one of a flood.
const streamPeriod = 1<<20 + 4099

// streamPattern is the pattern, followed by a copy of its first 64 KiB so that any slice of
// up to 64 KiB is contiguous. Made once per process, so that a scenario measuring the heap
// can have it made before it measures.
var streamPattern = sync.OnceValue(func() []byte {
	p := make([]byte, streamPeriod+64<<10)
	rand.New(rand.NewSource(1)).Read(p[:streamPeriod])
	copy(p[streamPeriod:], p)
	return p
})

// streamAt returns n ≤ 64 KiB bytes of stream seed from offset off. Streams of different seeds
// start at different places in the pattern, so that bytes crossing over from another stream
// show too. The bytes are shared: read them, never write them.
func streamAt(seed uint32, off, n int) []byte {
	start := (int(seed)*7919 + off) % streamPeriod
	return streamPattern()[start : start+n]
}

// writeStream sends size bytes of stream seed to c, counting them in sent when non-nil.
func writeStream(c net.Conn, seed uint32, size int, sent *atomic.Int64) error {
	for off := 0; off < size; {
		n, err := c.Write(streamAt(seed, off, min(32<<10, size-off)))
		off += n
		if sent != nil {
			sent.Add(int64(n))
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// readStream reads c to its end and checks it is stream seed: it returns how many bytes came,
// the offset of the first wrong byte (-1 if none) and the error that ended the stream (nil
// for a clean end).
func readStream(c net.Conn, seed uint32) (n, badAt int, err error) {
	buf := make([]byte, 32<<10)
	badAt = -1
	for {
		k, err := c.Read(buf)
		if want := streamAt(seed, n, k); badAt < 0 && !bytes.Equal(buf[:k], want) {
			for i := range want {
				if buf[i] != want[i] {
					badAt = n + i
					break
				}
			}
		}
		n += k
		if errors.Is(err, io.EOF) {
			return n, badAt, nil
		}
		if err != nil {
			return n, badAt, err
		}
	}
}

// testProxyBulk: 64 pairs carry 1 MiB each way at once, byte-exact, each client and upstream
// checking the stream it receives; each side ends its stream with a FIN, relayed.
func (s *suite) testProxyBulk(t *testing.T) {
	const upstreamSeeds = 1 << 16 // the upstream's stream for client i is i + upstreamSeeds
	up := startProxyUpstream(t, func(c *net.TCPConn) {
		var hdr [4]byte
		if _, err := io.ReadFull(c, hdr[:]); err != nil {
			t.Errorf("upstream: reading the client's number: %v", err)
			return
		}
		seed := binary.BigEndian.Uint32(hdr[:])
		sent := make(chan error, 1)
		go func() { sent <- writeStream(c, seed+upstreamSeeds, proxyBulkSize, nil) }() // ends when written, or at the deadline
		n, bad, err := readStream(c, seed)
		if n != proxyBulkSize || bad >= 0 || err != nil {
			t.Errorf("upstream for client %d: %d of %d bytes, first wrong at %d, end %v; want all, right, and a clean end", seed, n, proxyBulkSize, bad, err)
		}
		if err := <-sent; err != nil {
			t.Errorf("upstream for client %d: writing: %v", seed, err)
			return
		}
		c.CloseWrite()
	})
	srv, _, _ := s.startProxy(t, reactor.Config{}, up.addr)
	pairs := s.scale(proxyBulkConns)
	if slices.Contains(s.info.Unsupported, idleCPU) {
		// The backend spins a core of the two the suite may have, which its own clients and
		// upstream, in this process, then do without: a quarter of the pairs, so that the
		// scenario tests the relaying, not the race detector's speed on one core.
		pairs /= 4
		t.Logf("%s lists %s in Info.Unsupported: %d pairs instead of %d", s.info.Name, idleCPU, pairs, proxyBulkConns)
	}
	var wg sync.WaitGroup
	for i := 0; i < pairs; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := srv.dialE(t)
			if err != nil {
				t.Error(err)
				return
			}
			sent := make(chan error, 1)
			go func() {
				// Ends when written, or at the deadline.
				var hdr [4]byte
				binary.BigEndian.PutUint32(hdr[:], uint32(i))
				_, err := c.Write(hdr[:])
				if err == nil {
					err = writeStream(c, uint32(i), proxyBulkSize, nil)
				}
				if err == nil {
					err = c.CloseWrite()
				}
				sent <- err
			}()
			n, bad, err := readStream(c, uint32(i)+upstreamSeeds)
			if n != proxyBulkSize || bad >= 0 || err != nil {
				t.Errorf("client %d: %d of %d bytes, first wrong at %d, end %v; want all, right, and a clean end", i, n, proxyBulkSize, bad, err)
			}
			if err := <-sent; err != nil {
				t.Errorf("client %d: writing: %v", i, err)
			}
		}()
	}
	wg.Wait()
	if !eventually(ioTimeout, func() bool { return up.ended.Load() == up.accepted.Load() }) {
		t.Errorf("%d of %d upstream connections still open after every client finished", up.accepted.Load()-up.ended.Load(), up.accepted.Load())
	}
}

// testProxyFlood: one end of a pair sends proxyFloodSize bytes while the other does not read.
// The proxy stops reading the sender once its output to the other end passes the high-water
// mark: the sender is held up, its connection open and its writes blocked, not failed, and the
// server's heap stays within proxyHeapBound. When the other end reads, every byte arrives,
// in order, and then the end of stream.
func (s *suite) testProxyFlood(t *testing.T, clientFloods bool) {
	up := startProxyUpstream(t, nil)
	srv, p, _ := s.startProxy(t, reactor.Config{MaxOutbound: 2 * proxyFloodSize}, up.addr)

	streamPattern() // made before the heap is measured
	var before, after runtime.MemStats
	settledHeap(&before)

	c := srv.dial(t)
	uc := up.next(t)
	from, to := uc, c
	if clientFloods {
		from, to = c, uc
	}
	// A small, fixed receive buffer, so that the kernel does not grow it to take most of the
	// flood (see testDrain).
	to.SetReadBuffer(64 << 10)
	var sent atomic.Int64
	wrote := make(chan error, 1)
	go func() {
		// Ends when all is written, or at the write deadline.
		err := writeStream(from, 7, proxyFloodSize, &sent)
		if err == nil {
			err = from.CloseWrite()
		}
		wrote <- err
	}()

	stalled := func() bool {
		n := sent.Load()
		time.Sleep(200 * time.Millisecond)
		return sent.Load() == n
	}
	if !eventually(ioTimeout, stalled) {
		t.Fatalf("the sender kept sending for %v to a peer that does not read", ioTimeout)
	}
	settledHeap(&after)
	grew := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("the sender got %d KiB of %d KiB out, then stalled; the heap grew by %d KiB (high-water mark %d KiB)",
		sent.Load()>>10, proxyFloodSize>>10, grew>>10, p.HighWater()>>10)
	if bound := proxyHeapBound(p.HighWater()) + s.tlsHeap(); grew > bound {
		t.Errorf("the heap grew by %d KiB while the receiver did not read; want ≤ %d KiB (the marks and the read buffers)", grew>>10, bound>>10)
	}
	select {
	case err := <-wrote:
		t.Fatalf("the sender finished (%v) while the receiver did not read; want it held up, its writes blocked", err)
	default:
	}

	n, bad, err := readStream(to, 7)
	if n != proxyFloodSize || bad >= 0 || err != nil {
		t.Fatalf("the receiver got %d of %d bytes, first wrong at %d, end %v; want all, right, and a clean end", n, proxyFloodSize, bad, err)
	}
	if err := <-wrote; err != nil {
		t.Errorf("the sender's writes: %v; want all written once the receiver read", err)
	}
}

// testProxyEndWhilePaused: one end half-closes, and the other, once it has read that end of
// stream, floods it until the proxy pauses, and closes. Its FIN reaches the proxy behind the
// unread flood, while the proxy is paused — most of the time, as the receiver reads slowly —
// with both directions of that connection shut: a hang-up, not just an end of stream. Every
// byte the sender got out must still arrive, in order, then a clean end of stream.
func (s *suite) testProxyEndWhilePaused(t *testing.T, clientEnds bool) {
	up := startProxyUpstream(t, nil)
	srv, _, _ := s.startProxy(t, reactor.Config{MaxOutbound: 2 * proxyFloodSize}, up.addr)
	c := srv.dial(t)
	uc := up.next(t)
	from, to := uc, c
	if clientEnds {
		from, to = c, uc
	}
	to.SetReadBuffer(64 << 10)
	to.CloseWrite()
	from.SetReadDeadline(time.Now().Add(ioTimeout))
	if got, err := io.ReadAll(from); len(got) != 0 || err != nil {
		t.Fatalf("the sender read %q, %v; want the other end's end of stream", got, err)
	}
	var sent atomic.Int64
	wrote := make(chan error, 1)
	go func() { wrote <- writeStream(from, 11, proxyFloodSize, &sent) }() // ends when written, or at the close
	stalled := func() bool {
		n := sent.Load()
		time.Sleep(200 * time.Millisecond)
		return sent.Load() == n
	}
	if !eventually(ioTimeout, stalled) {
		t.Fatalf("the sender kept sending for %v to a peer that does not read", ioTimeout)
	}
	// The kernel still sends what the sender's socket holds, then the FIN.
	from.Close()
	<-wrote
	n, bad, err := readStream(slowConn{to}, 11)
	if int64(n) != sent.Load() || bad >= 0 || err != nil {
		t.Errorf("the receiver got %d of the %d bytes sent (first wrong at %d), then %v; want all, right, and a clean end", n, sent.Load(), bad, err)
	}
}

// slowConn reads at most 16 KiB a millisecond: a receiver slower than the proxy.
type slowConn struct{ net.Conn }

func (c slowConn) Read(p []byte) (int, error) {
	time.Sleep(time.Millisecond)
	return c.Conn.Read(p[:min(len(p), 16<<10)])
}

// settledHeap reads the memory statistics after two collections: the first moves what sync
// pools hold to their victim caches, the second frees it, so that buffers pooled by an
// earlier scenario do not count.
func settledHeap(m *runtime.MemStats) {
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(m)
}

// testProxyHalfClose: the end of stream of either end reaches the other, after every byte
// sent before it, while the other direction stays open: the other end replies after reading
// the end, and its reply and its own end of stream come back.
func (s *suite) testProxyHalfClose(t *testing.T) {
	up := startProxyUpstream(t, nil)
	srv, _, _ := s.startProxy(t, reactor.Config{}, up.addr)
	for _, upstreamFirst := range []bool{false, true} {
		name := "ClientFirst"
		if upstreamFirst {
			name = "UpstreamFirst"
		}
		t.Run(name, func(t *testing.T) {
			for try := 0; try < proxyHalfCloseTries; try++ {
				c := srv.dial(t)
				uc := up.next(t)
				a, b := c, uc
				if upstreamFirst {
					a, b = uc, c
				}
				io.WriteString(a, "last words")
				a.CloseWrite()
				if got, err := io.ReadAll(b); string(got) != "last words" || err != nil {
					t.Fatalf("try %d: the other end read %q, %v; want %q, then the end of stream", try, got, err, "last words")
				}
				io.WriteString(b, "the reply")
				b.CloseWrite()
				if got, err := io.ReadAll(a); string(got) != "the reply" || err != nil {
					t.Fatalf("try %d: after its FIN the first end read %q, %v; want %q, then the end of stream", try, got, err, "the reply")
				}
				c.Close()
				uc.Close()
			}
		})
	}
}

// testProxyFailures: an upstream that refuses, cannot be reached or does not answer within
// Config.DialTimeout closes the client cleanly with the cause logged; a reset of either end mid-stream resets the other (ECONNRESET), the
// upstream's logged.
func (s *suite) testProxyFailures(t *testing.T) {
	t.Run("Refused", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close() // nobody listens there now: connections are refused
		srv, _, logs := s.startProxy(t, reactor.Config{}, addr)
		c := srv.dial(t)
		if got, err := io.ReadAll(c); len(got) != 0 || err != nil {
			t.Errorf("client read %q, %v; want a clean end of stream, no bytes", got, err)
		}
		logs.expect(t, "cannot reach upstream", "upstream="+addr, "connection refused")
	})
	t.Run("Unreachable", func(t *testing.T) {
		// 192.0.2.1 is TEST-NET-1 (RFC 5737), routed nowhere: the dial times out, or fails
		// at once where no route leads out.
		const addr, timeout = "192.0.2.1:9", 300 * time.Millisecond
		srv, _, logs := s.startProxy(t, reactor.Config{DialTimeout: timeout}, addr)
		c := srv.dial(t)
		start := time.Now()
		if got, err := io.ReadAll(c); len(got) != 0 || err != nil {
			t.Errorf("client read %q, %v; want a clean end of stream, no bytes", got, err)
		}
		if d := time.Since(start); d > timeout+5*time.Second {
			t.Errorf("client closed %v after a dial bounded by %v", d, timeout)
		}
		logs.expect(t, "cannot reach upstream", "upstream="+addr)
	})
	t.Run("TimesOut", func(t *testing.T) {
		addr, why := StalledAddr(t)
		if addr == "" {
			t.Skipf("no connect can be held pending here: %s", why)
		}
		const timeout = 200 * time.Millisecond
		srv, _, logs := s.startProxy(t, reactor.Config{DialTimeout: timeout}, addr)
		start := time.Now() // before the client connects: the proxy may dial before dial returns
		c := srv.dial(t)
		if got, err := io.ReadAll(c); len(got) != 0 || err != nil {
			t.Errorf("client read %q, %v; want a clean end of stream, no bytes", got, err)
		}
		if d := time.Since(start); d < timeout || d > timeout+5*time.Second {
			t.Errorf("client closed %v after it began to connect; want once the dial timed out, after %v", d, timeout)
		}
		logs.expect(t, "cannot reach upstream", "upstream="+addr)
	})
	t.Run("ClientResetsWhilePaused", func(t *testing.T) { s.testProxyResetWhilePaused(t, true) })
	t.Run("UpstreamResetsWhilePaused", func(t *testing.T) { s.testProxyResetWhilePaused(t, false) })
	for _, upstreamResets := range []bool{true, false} {
		name := "ClientResets"
		if upstreamResets {
			name = "UpstreamResets"
		}
		t.Run(name, func(t *testing.T) {
			up := startProxyUpstream(t, nil)
			srv, _, logs := s.startProxy(t, reactor.Config{}, up.addr)
			c := srv.dial(t)
			uc := up.next(t)
			cut, other := c, uc
			if upstreamResets {
				cut, other = uc, c
			}
			// Mid-stream: bytes went through before the reset.
			io.WriteString(cut, "partial")
			if got := readFull(t, other, len("partial")); string(got) != "partial" {
				t.Fatalf("read %q before the reset; want %q", got, "partial")
			}
			cut.SetLinger(0)
			cut.Close()
			other.SetReadDeadline(time.Now().Add(ioTimeout))
			got, err := io.ReadAll(other)
			if !errors.Is(err, syscall.ECONNRESET) {
				t.Errorf("after the reset the other end read %q, then %v; want a reset (ECONNRESET)", got, err)
			}
			if upstreamResets {
				logs.expect(t, "upstream cut the connection", "upstream="+up.addr, "reset")
			}
		})
	}
}

// testProxyResetWhilePaused: one end sends until the proxy, its output to the other end
// piled up past the mark, stops reading it; then it resets. The proxy's paused side must still
// learn of the reset as an error and relay it as a reset: the other end, reading what it was
// sent, ends with ECONNRESET, not with an end of stream that would pass the cut stream off as
// whole.
func (s *suite) testProxyResetWhilePaused(t *testing.T, clientResets bool) {
	up := startProxyUpstream(t, nil)
	srv, _, _ := s.startProxy(t, reactor.Config{}, up.addr)
	c := srv.dial(t)
	uc := up.next(t)
	from, to := uc, c
	if clientResets {
		from, to = c, uc
	}
	to.SetReadBuffer(64 << 10)
	var sent atomic.Int64
	wrote := make(chan error, 1)
	go func() { wrote <- writeStream(from, 9, 4*proxyFloodSize, &sent) }() // ends at the reset
	stalled := func() bool {
		n := sent.Load()
		time.Sleep(200 * time.Millisecond)
		return sent.Load() == n
	}
	if !eventually(ioTimeout, stalled) {
		t.Fatalf("the sender kept sending for %v to a peer that does not read", ioTimeout)
	}
	from.SetLinger(0)
	from.Close()
	<-wrote
	n, bad, err := readStream(to, 9)
	if !errors.Is(err, syscall.ECONNRESET) || bad >= 0 {
		t.Errorf("after the sender reset, paused after %d KiB, the other end read %d KiB (first wrong byte at %d), then %v; want a reset (ECONNRESET)",
			sent.Load()>>10, n>>10, bad, err)
	}
}

// testProxyChurn: thousands of short pairs, most cut by a client reset at once (while the
// upstream is still being dialled, or just after), the rest a round trip and a clean close
// both ways. Every upstream connection ends, no warning is logged, and descriptors and
// goroutines fall back to where they were with the server still running.
func (s *suite) testProxyChurn(t *testing.T) {
	cycles := 10000
	if raceEnabled {
		cycles = 1000 // the race detector slows each cycle several times over; CI runs with it
	}
	cycles = s.scale(cycles)
	const workers = 8
	var clean atomic.Int64
	up := startProxyUpstream(t, echoUpstream(&clean))
	srv, _, logs := s.startProxy(t, reactor.Config{}, up.addr)
	base := snapshot()
	var failures atomic.Int64
	var example atomic.Value
	fail := func(err error) {
		failures.Add(1)
		example.CompareAndSwap(nil, err.Error())
	}
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 1)
			for i := w; i < cycles; i += workers {
				c, err := net.DialTimeout("tcp", srv.addr, ioTimeout)
				if err != nil {
					fail(err)
					continue
				}
				tc := c.(*net.TCPConn)
				if i%5 != 0 {
					// Mostly resets, so that TIME_WAIT sockets do not pile up.
					tc.SetLinger(0)
					tc.Close()
					continue
				}
				tc.SetDeadline(time.Now().Add(ioTimeout))
				if err := roundTrip(tc, buf); err != nil {
					fail(err)
				}
				tc.Close()
			}
		}()
	}
	wg.Wait()
	if n := failures.Load(); n > 0 {
		t.Errorf("%d of %d cycles failed; first: %v", n, cycles, example.Load())
	}
	if !eventually(ioTimeout, func() bool { return up.ended.Load() == up.accepted.Load() }) {
		t.Errorf("%d of %d upstream connections still open after the churn", up.accepted.Load()-up.ended.Load(), up.accepted.Load())
	}
	if want := int64(cycles / 5); clean.Load() < want {
		t.Errorf("%d upstream connections ended cleanly; want at least %d, the round trips'", clean.Load(), want)
	}
	t.Logf("%d cycles: the upstream accepted %d connections, %d ended cleanly", cycles, up.accepted.Load(), clean.Load())
	checkReturnsTo(t, base, "the churn, with the server still running")
	if strings.Contains(logs.String(), "level=WARN") {
		t.Errorf("warnings logged during the churn; want none:\n%s", logs.String())
	}
}

// roundTrip sends a byte through the proxy to the echoing upstream and back, then a FIN,
// and expects the upstream's FIN back after it.
func roundTrip(c *net.TCPConn, buf []byte) error {
	if _, err := c.Write([]byte{'x'}); err != nil {
		return err
	}
	if _, err := io.ReadFull(c, buf[:1]); err != nil {
		return fmt.Errorf("reading the echo: %w", err)
	}
	c.CloseWrite()
	if rest, err := io.ReadAll(c); len(rest) != 0 || err != nil {
		return fmt.Errorf("after the echo and a FIN: %q, %v; want the end of stream", rest, err)
	}
	return nil
}

// testProxyShutdown: Shutdown with 200 live pairs (fewer where the backend holds fewer
// descriptors) returns in time, and every client and every upstream connection sees a clean
// end of stream.
func (s *suite) testProxyShutdown(t *testing.T) {
	pairs := s.most(400) / 2 // four descriptors a pair in this process
	var clean atomic.Int64
	up := startProxyUpstream(t, echoUpstream(&clean))
	srv, _, _ := s.startProxy(t, reactor.Config{}, up.addr)
	clients := make([]*net.TCPConn, pairs)
	for i := range clients {
		clients[i] = srv.dial(t)
		clients[i].Write([]byte("live"))
	}
	for i, c := range clients {
		if got := readFull(t, c, 4); string(got) != "live" {
			t.Fatalf("client %d: %q through the proxy; want %q", i, got, "live")
		}
	}
	start := time.Now()
	srv.shutdown()
	t.Logf("Shutdown with %d live pairs took %v", pairs, time.Since(start))
	unclean := 0
	for _, c := range clients {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if rest, err := io.ReadAll(c); len(rest) != 0 || err != nil {
			unclean++
		}
	}
	if unclean > 0 {
		t.Errorf("%d of %d clients did not get a clean end of stream after Shutdown", unclean, pairs)
	}
	if !eventually(ioTimeout, func() bool { return up.ended.Load() == up.accepted.Load() }) {
		t.Errorf("%d of %d upstream connections still open after Shutdown", up.accepted.Load()-up.ended.Load(), up.accepted.Load())
	}
	if n := clean.Load(); n != int64(pairs) {
		t.Errorf("%d of %d upstream connections ended cleanly after Shutdown; want all", n, pairs)
	}
}
