package reactortest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reactorlab/reactor/protocols/echo"
	"github.com/reactorlab/reactor/reactor"
)

// Run runs the whole conformance suite against the backend newBackend makes. After every
// scenario, once its servers are shut down and its clients closed, goroutines and descriptors
// must be back where they were before it began. A scenario for a contract point the backend
// lists in Info.Unsupported skips, saying so; one for a point it does not list fails on
// reactor.ErrNotSupported like on any other error.
func Run(t *testing.T, newBackend reactor.Constructor, opts ...Option) {
	s := &suite{newBackend: newBackend}
	for _, o := range opts {
		o(s)
	}
	s.warmUp(t)
	for _, sc := range []struct {
		name string
		fn   func(*testing.T)
	}{
		{"Lifecycle", s.testLifecycle},
		{"EchoBulk", s.testEchoBulk},
		{"AsyncWriteOrder", s.testAsyncWriteOrder},
		{"AsyncWriteShared", s.testAsyncWriteShared},
		{"WriteOrder", s.testWriteOrder},
		{"Post", s.testPost},
		{"AfterFunc", s.testAfterFunc},
		{"PauseRead", s.testPauseRead},
		{"Drain", s.testDrain},
		{"CloseFlushes", s.testCloseFlushes},
		{"AsyncWriteThenClose", s.testAsyncWriteThenClose},
		{"OutboundLimit", s.testOutboundLimit},
		{"InboundLimit", s.testInboundLimit},
		{"HandlerPanic", s.testHandlerPanic},
		{"Stats", s.testStats},
		{"HTTP", s.testHTTP},
		{"BadHTTP", s.testBadHTTP},
		{"HTTPTenThousandPipelined", s.testHTTPTenThousandPipelined},
		{"HTTPFaults", s.testHTTPFaults},
		{"HalfClose", s.testHalfClose},
		{"HalfCloser", s.testHalfCloser},
		{"AbortResets", s.testAbortResets},
		{"Dial", s.testDial},
		{"Proxy", s.testProxy},
		{"ConnectChurn", s.testConnectChurn},
		{"SlowPeers", s.testSlowPeers},
		{"SharedPort", s.testSharedPort},
		{"RestartSamePort", s.testRestartSamePort},
		{"DescriptorLimit", s.testDescriptorLimit},
		{"Chat", s.testChat},
		{"ChatChurn", s.testChatChurn},
		{"Shutdown", s.testShutdown},
		{"ShutdownUnderLoad", s.testShutdownUnderLoad},
	} {
		if s.tls != nil && !tlsScenarios[sc.name] {
			continue
		}
		base := snapshot()
		// A scenario that failed may have left things behind already reported; check the rest.
		if t.Run(sc.name, sc.fn) {
			checkReturnsTo(t, base, sc.name)
		}
	}
}

// warmUp serves one connection and shuts down: libraries with process-wide pollers start them
// on first use, and those are not any one backend's to stop, so they belong to the baseline.
// It is not a subtest, so that -run cannot filter it out.
func (s *suite) warmUp(t *testing.T) {
	warm := s.start(t, reactor.Config{}, echo.Handler{})
	s.info = warm.b.Info()
	s.maxConns = s.info.MaxConns
	c := warm.dial(t)
	c.Write([]byte("x"))
	readFull(t, c, 1)
	c.Close()
	warm.shutdown()
}

// Option tells Run something about the backend that its Info does not say.
type Option func(*suite)

// GoroutinePerConn tells Run that the backend gives every connection a goroutine of its own, one
// it dialed included (reactor.Conn.Dial), so that the callbacks of a connection and of one it
// dialed may run at the same time. Without it, Run checks that they never do, as on a backend
// whose event loops own the connections.
func GoroutinePerConn() Option { return func(s *suite) { s.goroutinePerConn = true } }

type suite struct {
	newBackend reactor.Constructor
	info       reactor.Info
	// goroutinePerConn: see GoroutinePerConn.
	goroutinePerConn bool
	// tls, when set, serves every handler over TLS (OverTLS).
	tls *tlsRig
	// maxConns is the backend's own connection limit (Info.MaxConns), 0 for none. Scenarios
	// that hold hundreds of connections at once stay within it; clients and servers share
	// this process, so each connection costs two descriptors here.
	maxConns int
}

// idleCPU is the Info.Unsupported entry of a backend that spins while it has nothing to do
// (busypoll): the scenarios that check a waiting server uses no CPU say so and check the rest,
// and those whose clients need the CPU it takes run lighter, saying so.
const idleCPU = "IdleCPU"

// requires skips t, saying why, when the backend lists one of points in Info.Unsupported.
func (s *suite) requires(t *testing.T, points ...string) {
	t.Helper()
	for _, p := range points {
		if slices.Contains(s.info.Unsupported, p) {
			t.Skipf("%s lists %s in Info.Unsupported", s.info.Name, p)
		}
	}
}

// unlisted describes err, which a call to point returned, for a failure: when it is
// reactor.ErrNotSupported, it adds that the backend does not list point in Info.Unsupported.
func (s *suite) unlisted(point string, err error) string {
	if errors.Is(err, reactor.ErrNotSupported) {
		return fmt.Sprintf("%s: %v, but %s does not list %s in Info.Unsupported", point, err, s.info.Name, point)
	}
	return fmt.Sprintf("%s: %v", point, err)
}

// scale returns n, or a tenth of it (at least 1) over TLS, where every connection costs two
// handshakes (the relay's and the server's) and every byte is sealed and opened twice: a
// tenth of the load proves the same points there, for a tenth of the time.
func (s *suite) scale(n int) int {
	if s.tls != nil {
		return max(1, n/10)
	}
	return n
}

// most returns n, or fewer when the backend cannot hold n connections at once in this process.
func (s *suite) most(n int) int {
	n = s.scale(n)
	if s.maxConns > 0 {
		return min(n, s.maxConns/4)
	}
	return n
}

// ioTimeout bounds every read and write the suite makes; generous because -race is slow.
const ioTimeout = 20 * time.Second

// server is a running backend under test.
type server struct {
	t    *testing.T
	b    reactor.Backend
	addr string
	once sync.Once
	// relay is OverTLS's relay in front of the server: it stops accepting when the server
	// shuts down.
	relay *tlsRelay
}

// start builds and starts a backend serving h; it is shut down when the test ends.
func (s *suite) start(t *testing.T, cfg reactor.Config, h reactor.Handler) *server {
	t.Helper()
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	if cfg.Loops == 0 {
		cfg.Loops = 2
	}
	b, err := s.newBackend(cfg)
	if err != nil {
		t.Fatalf("constructing backend: %v", err)
	}
	if s.tls != nil {
		h = s.tls.wrap(t, cfg, h)
	}
	addr, err := b.Start(h)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	srv := &server{t: t, b: b, addr: addr.String()}
	t.Cleanup(func() { srv.shutdown() })
	if s.tls != nil {
		// Registered after the shutdown, so run before it: the relay's clients go first.
		srv.relay = startTLSRelay(t, srv.addr, s.tls.client)
		srv.addr = srv.relay.ln.Addr().String()
	}
	return srv
}

// shutdown stops the server (once) and checks Shutdown and Wait report what the contract says.
func (srv *server) shutdown() {
	srv.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.b.Shutdown(ctx); err != nil {
			srv.t.Errorf("Shutdown: %v; want nil", err)
		}
		waited := make(chan error, 1)
		go func() { waited <- srv.b.Wait() }()
		select {
		case err := <-waited:
			if !errors.Is(err, reactor.ErrServerClosed) {
				srv.t.Errorf("Wait after Shutdown = %v; want ErrServerClosed", err)
			}
		case <-time.After(5 * time.Second):
			srv.t.Errorf("Wait still blocked 5s after Shutdown returned")
		}
		if srv.relay != nil {
			srv.relay.stopAccepting()
		}
	})
}

// dial connects to the server, failing the test on error. Only from the test's own goroutine;
// other goroutines use dialE.
func (srv *server) dial(t *testing.T) *net.TCPConn {
	t.Helper()
	c, err := srv.dialE(t)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// dialE connects to the server; the connection is closed when the test ends.
func (srv *server) dialE(t *testing.T) (*net.TCPConn, error) {
	c, err := net.DialTimeout("tcp", srv.addr, ioTimeout)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", srv.addr, err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(ioTimeout))
	return c.(*net.TCPConn), nil
}

// readFull reads exactly n bytes; on failure it reports an error and returns what it got. Safe
// from any goroutine.
func readFull(t *testing.T, c net.Conn, n int) []byte {
	t.Helper()
	buf := make([]byte, n)
	k, err := io.ReadFull(c, buf)
	if err != nil {
		t.Errorf("reading %d bytes: %v (got %d)", n, err, k)
	}
	return buf[:k]
}

// expectEOF reads until the server closes the connection, reporting an error on a timeout. It
// returns what arrived before the end. Safe from any goroutine.
func expectEOF(t *testing.T, c net.Conn, within time.Duration) []byte {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(within))
	b, err := io.ReadAll(c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Errorf("connection still open after %v (read %d bytes)", within, len(b))
	}
	// A reset also ends the connection; io.ReadAll reports it as an error, which is fine here.
	return b
}

// eventually polls cond every 10ms until it holds or within passes.
func eventually(within time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(within)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// openFDs counts this process's open descriptors (Linux; -1 elsewhere, where the check is
// reported as not run).
func openFDs() int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(ents)
}

// resources is a baseline of goroutines and descriptors.
type resources struct{ goroutines, fds int }

func snapshot() resources {
	runtime.GC()
	return resources{runtime.NumGoroutine(), openFDs()}
}

// checkReturnsTo waits for goroutines and descriptors to fall back to base and reports any
// excess, after the scenario named, with the goroutines' stacks.
func checkReturnsTo(t *testing.T, base resources, after string) {
	t.Helper()
	var now resources
	ok := eventually(5*time.Second, func() bool {
		now = resources{runtime.NumGoroutine(), openFDs()}
		return now.goroutines <= base.goroutines && now.fds <= base.fds
	})
	if ok {
		return
	}
	if now.goroutines > base.goroutines {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		t.Errorf("after %s: %d goroutines; want ≤ %d (its baseline)\n%s", after, now.goroutines, base.goroutines, trimStacks(string(buf)))
	}
	if now.fds > base.fds {
		t.Errorf("after %s: %d open descriptors; want ≤ %d (its baseline)", after, now.fds, base.fds)
	}
}

// trimStacks drops the test framework's own goroutines from a dump.
func trimStacks(dump string) string {
	var keep []string
	for _, g := range strings.Split(dump, "\n\n") {
		if strings.Contains(g, "testing.(*T).Run") || strings.Contains(g, "testing.tRunner") && !strings.Contains(g, "reactor") {
			continue
		}
		keep = append(keep, g)
	}
	return strings.Join(keep, "\n\n")
}
