package reactortest

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"math/rand"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/reactorlab/reactor/reactor"
)

// testDial: Conn.Dial makes an outbound connection served by a handler of its own like an
// accepted one, reports every way it can fail to the handler's OnClose with ErrDialFailed and
// the reason, refuses a malformed address at once, and is cancelled by Shutdown.
//
// What stands for a remote server is a plain listener of the test's on 127.0.0.1. Dials that
// stay pending (cancelled while connecting, timed out, cut short by Shutdown) need a listener
// that does not answer; on Linux a listener whose accept queue is full is one
// (stalledListener), elsewhere those cases skip. Deadlines that have passed before the dial
// begins are covered everywhere.
func (s *suite) testDial(t *testing.T) {
	s.requires(t, "Dial")
	stalled, why := stalledListener(t)
	t.Run("Relay", s.testDialRelay)
	t.Run("Refused", s.testDialRefused)
	t.Run("Context", func(t *testing.T) { s.testDialContext(t, stalled, why) })
	t.Run("DialTimeout", func(t *testing.T) { s.testDialTimeout(t, stalled, why) })
	t.Run("BadAddr", s.testDialBadAddr)
	t.Run("Shutdown", func(t *testing.T) { s.testDialShutdown(t, stalled, why) })
}

// upstream is a plain listener on 127.0.0.1:0 standing for the server a handler dials. It
// serves each connection it accepts with serve, on a goroutine of its own, and closes it after;
// every read and write of it is bounded by ioTimeout. The listener, the connections still open
// and their goroutines end with the test.
type upstream struct {
	addr string
	wg   sync.WaitGroup

	mu     sync.Mutex
	conns  []net.Conn
	closed bool
}

func startUpstream(t *testing.T, serve func(net.Conn)) *upstream {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := &upstream{addr: ln.Addr().String()}
	u.wg.Add(1)
	go func() {
		// Ends when the listener is closed, as the test ends.
		defer u.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.SetDeadline(time.Now().Add(ioTimeout))
			u.mu.Lock()
			if u.closed {
				u.mu.Unlock()
				c.Close()
				return
			}
			u.conns = append(u.conns, c)
			u.mu.Unlock()
			u.wg.Add(1)
			go func() {
				defer u.wg.Done()
				defer c.Close()
				serve(c)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		u.mu.Lock()
		u.closed = true
		for _, c := range u.conns {
			c.Close()
		}
		u.mu.Unlock()
		u.wg.Wait()
	})
	return u
}

// owner starts a server with cfg, connects to it and returns the server's side of that
// connection, for the test to run code on its owner with onOwner.
func (s *suite) owner(t *testing.T, cfg reactor.Config) (reactor.Conn, *server) {
	t.Helper()
	conns := make(chan reactor.Conn, 1)
	srv := s.start(t, cfg, funcHandler{open: func(c reactor.Conn) { conns <- c }})
	closeAtEOF(srv.dial(t))
	return serverConn(t, conns), srv
}

// closeAtEOF closes c once the server has ended the stream, so that the server's close does
// not wait for the peer's end.
func closeAtEOF(c net.Conn) {
	go func() {
		// Ends at the end of the stream, or at c's deadline, or when the test closes c.
		io.Copy(io.Discard, c)
		c.Close()
	}()
}

// onOwner runs f on c's owner, as a posted function, and waits for it to return.
func onOwner(t *testing.T, c reactor.Conn, f func(reactor.Conn)) {
	t.Helper()
	done := make(chan struct{})
	if err := c.Post(func(c reactor.Conn) {
		defer close(done)
		f(c)
	}); err != nil {
		t.Fatalf("Post: %v", err)
	}
	select {
	case <-done:
	case <-time.After(ioTimeout):
		t.Fatalf("a posted function did not run within %v", ioTimeout)
	}
}

// dialProbe is the handler of a dial that is to fail: it counts OnOpen and keeps OnClose's
// causes.
type dialProbe struct {
	opened atomic.Int32
	closes chan error
}

func newDialProbe() *dialProbe { return &dialProbe{closes: make(chan error, 2)} }

func (p *dialProbe) OnOpen(reactor.Conn) { p.opened.Add(1) }

func (p *dialProbe) OnData(_ reactor.Conn, in []byte) (int, reactor.Action) {
	return len(in), reactor.None
}

func (p *dialProbe) OnClose(_ reactor.Conn, err error) {
	select {
	case p.closes <- err:
	default: // a third OnClose; the second one is reported already
	}
}

// failed waits for the OnClose of a dial that cannot succeed, checks that its cause wraps both
// ErrDialFailed and want, and returns when it came.
func (p *dialProbe) failed(t *testing.T, what string, want error) time.Time {
	t.Helper()
	select {
	case err := <-p.closes:
		if !errors.Is(err, reactor.ErrDialFailed) || !errors.Is(err, want) {
			t.Errorf("dial %s: OnClose cause %v; want one that wraps ErrDialFailed and %v", what, err, want)
		}
	case <-time.After(ioTimeout):
		t.Fatalf("dial %s: no OnClose within %v", what, ioTimeout)
	}
	return time.Now()
}

// check reports, once the server is shut down, every call the probe got beyond the one OnClose
// failed took: an OnOpen, another OnClose.
func (p *dialProbe) check(t *testing.T, what string) {
	t.Helper()
	if n := p.opened.Load(); n != 0 {
		t.Errorf("dial %s: OnOpen called %d times; want never", what, n)
	}
	if len(p.closes) > 0 {
		t.Errorf("dial %s: OnClose called again (cause %v); want once", what, <-p.closes)
	}
}

// relay is a proxy built on Dial. Every connection it accepts (a pair's front) pauses its input
// and dials the target; the dialed connection (the pair's back, whose handler is the pair)
// resumes the front once open, and each half AsyncWrites what it receives to the other. A half
// that closes closes the other, unless the server is shutting down, which closes both itself.
type relay struct {
	t      *testing.T
	s      *suite
	target atomic.Pointer[string]
	// overlaps counts the callbacks, of either half of a pair, that began while another of the
	// pair's was running.
	overlaps atomic.Int64

	mu     sync.Mutex
	pairs  []*relayPair
	dialed chan *relayPair // a front has called Dial
	opened chan *relayPair // a back's OnOpen has run
	closed chan *relayPair // a back's OnClose has run
}

func newRelay(t *testing.T, s *suite, target string, pairs int) *relay {
	r := &relay{t: t, s: s, dialed: make(chan *relayPair, pairs), opened: make(chan *relayPair, pairs), closed: make(chan *relayPair, pairs)}
	r.target.Store(&target)
	return r
}

// relayPair is one front and its back. Every callback and posted function of either half counts
// itself in busy, the overlap detector of Dial's same-owner clause.
type relayPair struct {
	r     *relay
	front reactor.Conn
	busy  atomic.Int32

	mu            sync.Mutex
	back          reactor.Conn // from the back's OnOpen
	local, remote string       // the back's addresses, as its OnOpen saw them
	opens, closes int          // the back's
	cause         error        // the back's OnClose cause
}

func (p *relayPair) enter() (leave func()) {
	if p.busy.Add(1) > 1 {
		p.r.overlaps.Add(1)
	}
	// Widen the window: another goroutine serving the other half gets to run meanwhile,
	// which a loop that serves both halves cannot.
	runtime.Gosched()
	return func() { p.busy.Add(-1) }
}

func (p *relayPair) getBack() reactor.Conn {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.back
}

// OnOpen is the front's: it pauses reading until the back is open, and dials.
func (r *relay) OnOpen(c reactor.Conn) {
	p := &relayPair{r: r, front: c}
	defer p.enter()()
	c.SetContext(p)
	c.PauseRead()
	r.mu.Lock()
	r.pairs = append(r.pairs, p)
	r.mu.Unlock()
	if err := c.Dial(context.Background(), *r.target.Load(), p); err != nil {
		r.t.Error(r.s.unlisted("Dial", err))
		c.Close()
		return
	}
	r.dialed <- p
}

// OnData is the front's: what the client sends goes to the back.
func (r *relay) OnData(c reactor.Conn, in []byte) (int, reactor.Action) {
	p := c.Context().(*relayPair)
	defer p.enter()()
	back := p.getBack()
	if back == nil {
		r.t.Errorf("the front's OnData before its back was open, though paused until then")
		return len(in), reactor.Close
	}
	if err := back.AsyncWrite(in); err != nil {
		return len(in), reactor.Close
	}
	return len(in), reactor.None
}

// OnClose is the front's.
func (r *relay) OnClose(c reactor.Conn, err error) {
	p := c.Context().(*relayPair)
	defer p.enter()()
	if back := p.getBack(); back != nil && !errors.Is(err, reactor.ErrServerClosed) {
		back.Close()
	}
}

// OnOpen is the back's: it resumes the front.
func (p *relayPair) OnOpen(b reactor.Conn) {
	defer p.enter()()
	p.mu.Lock()
	p.back, p.local, p.remote = b, b.LocalAddr().String(), b.RemoteAddr().String()
	p.opens++
	p.mu.Unlock()
	if err := p.front.Post(func(f reactor.Conn) {
		defer p.enter()()
		f.ResumeRead()
	}); err != nil {
		b.Close() // the front has gone already
	}
	p.r.opened <- p
}

// OnData is the back's: what the upstream sends goes to the front.
func (p *relayPair) OnData(_ reactor.Conn, in []byte) (int, reactor.Action) {
	defer p.enter()()
	if err := p.front.AsyncWrite(in); err != nil {
		return len(in), reactor.Close
	}
	return len(in), reactor.None
}

// OnClose is the back's.
func (p *relayPair) OnClose(_ reactor.Conn, err error) {
	defer p.enter()()
	p.mu.Lock()
	p.closes++
	p.cause = err
	p.mu.Unlock()
	if !errors.Is(err, reactor.ErrServerClosed) {
		p.front.Close()
	}
	p.r.closed <- p
}

// relayStreams are what the clients of a relay send up (0) and the upstream sends down (1):
// random bytes, each pair's starting at a place of its own, so that bytes that cross to
// another pair show.
type relayStreams [2][]byte

func newRelayStreams(size int) *relayStreams {
	var rs relayStreams
	for dir := range rs {
		b := make([]byte, size)
		rand.New(rand.NewSource(int64(dir))).Read(b)
		rs[dir] = append(b, b...)
	}
	return &rs
}

// of returns pair id's stream, up or down.
func (rs *relayStreams) of(id int, up bool) []byte {
	dir := 1
	if up {
		dir = 0
	}
	size := len(rs[dir]) / 2
	off := id * 4099 % size
	return rs[dir][off : off+size]
}

// testDialRelay: 64 clients each send 256 KiB up through a relay while its upstream sends
// 256 KiB down, at once; every byte arrives, in order, both ways. Each dialed connection opens
// once, with the upstream's address as its RemoteAddr and, as its LocalAddr, the address the
// upstream sees it from; it closes once, with a nil cause, after the client has gone. Where the
// backend has event loops, the callbacks of a pair's two halves never run at the same time.
func (s *suite) testDialRelay(t *testing.T) {
	n, size := s.most(64), 256<<10
	streams := newRelayStreams(size)
	var peersMu sync.Mutex
	peers := map[string]bool{} // the upstream's view of each back
	up := startUpstream(t, func(c net.Conn) {
		peersMu.Lock()
		peers[c.RemoteAddr().String()] = true
		peersMu.Unlock()
		var id [4]byte
		if _, err := io.ReadFull(c, id[:]); err != nil {
			t.Errorf("upstream: reading the pair's number: %v", err)
			return
		}
		i := int(binary.BigEndian.Uint32(id[:]))
		wrote := make(chan error, 1)
		go func() {
			_, err := c.Write(streams.of(i, false))
			wrote <- err
		}()
		got := make([]byte, size)
		if _, err := io.ReadFull(c, got); err != nil {
			t.Errorf("upstream, pair %d: reading what the client sent: %v", i, err)
		} else if !bytes.Equal(got, streams.of(i, true)) {
			t.Errorf("upstream, pair %d: the bytes relayed up differ from those the client sent", i)
		}
		if err := <-wrote; err != nil {
			t.Errorf("upstream, pair %d: writing: %v", i, err)
		}
		// The relay closes its back once the client has gone.
		if rest, err := io.ReadAll(c); len(rest) > 0 || err != nil {
			t.Errorf("upstream, pair %d: %d bytes more, then %v; want the end of the stream", i, len(rest), err)
		}
	})
	r := newRelay(t, s, up.addr, n)
	oc := NewOrderChecker(r)
	srv := s.start(t, reactor.Config{MaxOutbound: 4 << 20}, oc)

	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := srv.dialE(t)
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			wrote := make(chan error, 1)
			go func() {
				// Ends once all is sent, or at the connection's deadline.
				_, err := c.Write(append(binary.BigEndian.AppendUint32(nil, uint32(i)), streams.of(i, true)...))
				wrote <- err
			}()
			got := make([]byte, size)
			if _, err := io.ReadFull(c, got); err != nil {
				t.Errorf("client %d: reading what the upstream sent: %v", i, err)
			} else if !bytes.Equal(got, streams.of(i, false)) {
				t.Errorf("client %d: the bytes relayed down differ from those the upstream sent", i)
			}
			if err := <-wrote; err != nil {
				t.Errorf("client %d: writing: %v", i, err)
			}
		}()
	}
	wg.Wait()
	for i := 0; i < n; i++ {
		select {
		case <-r.closed:
		case <-time.After(ioTimeout):
			t.Fatalf("%d of %d dialed connections closed within %v of their clients", i, n, ioTimeout)
		}
	}
	srv.shutdown()
	oc.Check(t)

	peersMu.Lock()
	defer peersMu.Unlock()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range r.pairs {
		p.mu.Lock()
		switch {
		case p.opens != 1 || p.closes != 1:
			t.Errorf("a dialed connection opened %d and closed %d times; want once each", p.opens, p.closes)
		case p.cause != nil:
			t.Errorf("a dialed connection closed by its relay: OnClose cause %v; want nil", p.cause)
		case p.remote != up.addr:
			t.Errorf("a dialed connection's RemoteAddr is %s; want the upstream's, %s", p.remote, up.addr)
		case !peers[p.local]:
			t.Errorf("a dialed connection's LocalAddr is %s; the upstream accepted none from there", p.local)
		}
		p.mu.Unlock()
	}
	t.Run("SameOwner", func(t *testing.T) {
		overlaps := r.overlaps.Load()
		if s.goroutinePerConn {
			t.Skipf("%s gives every connection a goroutine of its own, a dialed one too, so a pair's callbacks may run at the same time (they did %d times)", s.info.Name, overlaps)
		}
		if overlaps > 0 {
			t.Errorf("the callbacks of a connection and of the one it dialed ran at the same time %d times; want never (the dialed one belongs to the asker's loop)", overlaps)
		}
	})
}

// testDialRefused: a dial to a port nobody listens on fails with ErrDialFailed and
// ECONNREFUSED, and OnOpen is never called.
func (s *suite) testDialRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	sc, srv := s.owner(t, reactor.Config{})
	probe := newDialProbe()
	onOwner(t, sc, func(c reactor.Conn) {
		if err := c.Dial(context.Background(), addr, probe); err != nil {
			t.Error(s.unlisted("Dial", err))
		}
	})
	probe.failed(t, "to a closed port", syscall.ECONNREFUSED)
	srv.shutdown()
	probe.check(t, "to a closed port")
}

// testDialContext: the context passed to Dial ends the connecting: cancelled or past its
// deadline before the dial, and (where a connect can be held pending) cancelled or reaching its
// deadline while connecting. The cause wraps ErrDialFailed and the context's error, and Dial
// returns at once even when the connect stalls.
func (s *suite) testDialContext(t *testing.T, stalled, why string) {
	up := startUpstream(t, func(c net.Conn) { io.Copy(io.Discard, c) })
	sc, srv := s.owner(t, reactor.Config{})
	// dial dials addr from sc's owner.
	dial := func(ctx context.Context, addr string, h reactor.Handler) {
		onOwner(t, sc, func(c reactor.Conn) {
			began := time.Now()
			if err := c.Dial(ctx, addr, h); err != nil {
				t.Error(s.unlisted("Dial", err))
			}
			if took := time.Since(began); took > time.Second {
				t.Errorf("Dial blocked its caller for %v; want it to return at once", took)
			}
		})
	}
	needStall := func(t *testing.T) {
		if stalled == "" {
			t.Skipf("no connect can be held pending here: %s", why)
		}
	}
	var probes []*dialProbe
	probe := func() *dialProbe {
		p := newDialProbe()
		probes = append(probes, p)
		return p
	}

	t.Run("Cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		p := probe()
		dial(ctx, up.addr, p)
		p.failed(t, "with a cancelled context", context.Canceled)
	})
	t.Run("DeadlinePassed", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Nanosecond)
		defer cancel()
		<-ctx.Done()
		p := probe()
		dial(ctx, up.addr, p)
		p.failed(t, "with a context past its deadline", context.DeadlineExceeded)
	})
	t.Run("CancelledWhileConnecting", func(t *testing.T) {
		needStall(t)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		p := probe()
		dial(ctx, stalled, p)
		select {
		case err := <-p.closes:
			t.Fatalf("a dial to a listener that does not answer ended before it was cancelled: %v", err)
		case <-time.After(50 * time.Millisecond):
		}
		cancel()
		p.failed(t, "cancelled while connecting", context.Canceled)
	})
	t.Run("DeadlineWhileConnecting", func(t *testing.T) {
		needStall(t)
		const d = 100 * time.Millisecond
		ctx, cancel := context.WithTimeout(context.Background(), d)
		defer cancel()
		deadline, _ := ctx.Deadline()
		p := probe()
		dial(ctx, stalled, p)
		if at := p.failed(t, "whose context's deadline passed while connecting", context.DeadlineExceeded); at.Before(deadline) {
			t.Errorf("the dial failed %v before the context's deadline; want no sooner", deadline.Sub(at))
		}
	})
	srv.shutdown()
	for _, p := range probes {
		p.check(t, "whose context ended")
	}
}

// testDialTimeout: Config.DialTimeout ends a connect that stalls, with ErrDialFailed and
// context.DeadlineExceeded, no sooner than the timeout.
func (s *suite) testDialTimeout(t *testing.T, stalled, why string) {
	if stalled == "" {
		t.Skipf("no connect can be held pending here: %s", why)
	}
	const timeout = 100 * time.Millisecond
	sc, srv := s.owner(t, reactor.Config{DialTimeout: timeout})
	probe := newDialProbe()
	var began time.Time
	onOwner(t, sc, func(c reactor.Conn) {
		began = time.Now()
		if err := c.Dial(context.Background(), stalled, probe); err != nil {
			t.Error(s.unlisted("Dial", err))
		}
	})
	const what = "with Config.DialTimeout 100ms to a listener that does not answer"
	if took := probe.failed(t, what, context.DeadlineExceeded).Sub(began); took < timeout {
		t.Errorf("the dial failed %v after it began; want no sooner than DialTimeout, %v", took, timeout)
	}
	srv.shutdown()
	probe.check(t, what)
}

// testDialBadAddr: Dial refuses a malformed address at once, with an error, and the handler is
// never called; so it does on a connection that is closing, with ErrConnClosed.
func (s *suite) testDialBadAddr(t *testing.T) {
	sc, srv := s.owner(t, reactor.Config{})
	probe := newDialProbe()
	bad := []string{"", "127.0.0.1", "127.0.0.1:", "127.0.0.1:0", "127.0.0.1:65536", "127.0.0.1:http", "[::1"}
	onOwner(t, sc, func(c reactor.Conn) {
		for _, addr := range bad {
			switch err := c.Dial(context.Background(), addr, probe); {
			case err == nil:
				t.Errorf("Dial(%q) = nil; want an error at once", addr)
			case errors.Is(err, reactor.ErrNotSupported):
				t.Error(s.unlisted("Dial", err))
			}
		}
		c.Close()
		if err := c.Dial(context.Background(), "127.0.0.1:1", probe); !errors.Is(err, reactor.ErrConnClosed) {
			t.Errorf("Dial on a connection that is closing = %v; want ErrConnClosed", err)
		}
	})
	srv.shutdown()
	if n := probe.opened.Load(); n != 0 || len(probe.closes) != 0 {
		t.Errorf("the handler of dials refused at once got %d OnOpen and %d OnClose calls; want none", n, len(probe.closes))
	}
}

// testDialShutdown: Shutdown with 50 relayed pairs open and 5 dials pending closes everything:
// both halves of the open pairs with ErrServerClosed, the pending dials with ErrDialFailed
// wrapping ErrServerClosed (and no OnOpen), and the upstream sees the end of every stream.
// The suite then finds no goroutine or descriptor left, a pending connect's included.
func (s *suite) testDialShutdown(t *testing.T, stalled, why string) {
	live, pending := s.most(50), 5
	if stalled == "" {
		pending = 0
		t.Logf("no dial is pending at Shutdown: no connect can be held pending here: %s", why)
	}
	ended := make(chan struct{}, live)
	up := startUpstream(t, func(c net.Conn) {
		if _, err := io.Copy(io.Discard, c); err == nil {
			ended <- struct{}{}
		}
	})
	r := newRelay(t, s, up.addr, live+pending)
	oc := NewOrderChecker(r)
	srv := s.start(t, reactor.Config{}, oc)
	for i := 0; i < live; i++ {
		closeAtEOF(srv.dial(t))
	}
	for i := 0; i < live; i++ {
		select {
		case <-r.opened:
		case <-time.After(ioTimeout):
			t.Fatalf("%d of %d dialed connections open within %v", i, live, ioTimeout)
		}
	}
	if pending > 0 {
		r.target.Store(&stalled)
		for i := 0; i < pending; i++ {
			closeAtEOF(srv.dial(t))
		}
	}
	for i := 0; i < live+pending; i++ {
		select {
		case <-r.dialed:
		case <-time.After(ioTimeout):
			t.Fatalf("%d of %d fronts dialed within %v", i, live+pending, ioTimeout)
		}
	}
	srv.shutdown()

	// Every OnClose has run once Shutdown has returned.
	if opened, closed := oc.Counts(); opened != live+pending || closed != opened {
		t.Errorf("fronts: %d opened, %d closed; want %d each", opened, closed, live+pending)
	}
	for _, err := range oc.causeList() {
		if !errors.Is(err, reactor.ErrServerClosed) {
			t.Errorf("a front's OnClose cause on Shutdown: %v; want ErrServerClosed", err)
		}
	}
	oc.Check(t)
	var open, notOpen int
	r.mu.Lock()
	for _, p := range r.pairs {
		p.mu.Lock()
		switch {
		case p.closes != 1 || p.opens > 1:
			t.Errorf("a dialed connection opened %d and closed %d times; want one close, after at most one open", p.opens, p.closes)
		case p.opens == 1:
			open++
			if !errors.Is(p.cause, reactor.ErrServerClosed) || errors.Is(p.cause, reactor.ErrDialFailed) {
				t.Errorf("a dialed connection open at Shutdown: OnClose cause %v; want ErrServerClosed", p.cause)
			}
		default:
			notOpen++
			if !errors.Is(p.cause, reactor.ErrDialFailed) || !errors.Is(p.cause, reactor.ErrServerClosed) {
				t.Errorf("a dial pending at Shutdown: OnClose cause %v; want one that wraps ErrDialFailed and ErrServerClosed", p.cause)
			}
		}
		p.mu.Unlock()
	}
	r.mu.Unlock()
	if open != live || notOpen != pending {
		t.Errorf("at Shutdown: %d dialed connections had opened and %d had not; want %d and %d", open, notOpen, live, pending)
	}
	for i := 0; i < live; i++ {
		select {
		case <-ended:
		case <-time.After(ioTimeout):
			t.Fatalf("the upstream saw %d of %d dialed connections end within %v of Shutdown", i, live, ioTimeout)
		}
	}
}
