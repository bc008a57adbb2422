package proxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"syscall"
	"testing"

	"github.com/reactorlab/reactor/reactor"
	"github.com/reactorlab/reactor/reactor/conntest"
)

// A small backend configuration, so that the marks are crossed with a few bytes: LowWater
// 100, one read 100, MaxOutbound 2000; the proxy's high-water mark is 1000.
var smallBackend = reactor.Config{LowWater: 100, ReadBufferSize: 100, MaxOutbound: 2000}

const testHighWater = 1000

// newTest returns a Proxy for upstreams with the small backend's marks, and the buffer its
// log lines (debug level and up) go to.
func newTest(t *testing.T, upstreams ...string) (*Proxy, *bytes.Buffer) {
	t.Helper()
	if len(upstreams) == 0 {
		upstreams = []string{"127.0.0.1:7000"}
	}
	var logs bytes.Buffer
	p, err := New(Config{
		Upstreams: upstreams,
		HighWater: testHighWater,
		Backend:   smallBackend,
		Logger:    slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatal(err)
	}
	return p, &logs
}

// connect accepts a client and plays its upstream's dial succeeding: it returns the client's
// driver and the upstream's, the client resumed.
func connect(t *testing.T, p *Proxy) (client, up *conntest.Driver) {
	t.Helper()
	client = conntest.Open(p, "127.0.0.1:50000")
	ds := client.C.Dials()
	if len(ds) != 1 {
		t.Fatalf("%d dials on accepting a client; want 1", len(ds))
	}
	up = conntest.Open(ds[0].H, ds[0].Addr)
	client.Run() // the resume the upstream's OnOpen posted
	if client.C.Paused() {
		t.Fatalf("the client is still paused once its upstream opened")
	}
	return client, up
}

// settle runs what each side's owner has pending, and plays the backend's OnClose for a
// connection that a posted function closed (CloseWrite after the end of stream).
func settle(ds ...*conntest.Driver) {
	for _, d := range ds {
		closed := d.C.Closed()
		d.Run()
		if !closed && d.C.Closed() {
			d.H.OnClose(d.C, nil)
		}
	}
}

func TestRelaysBothWays(t *testing.T) {
	p, _ := newTest(t)
	client := conntest.Open(p, "")
	if !client.C.Paused() {
		t.Fatalf("the client reads before its upstream is connected; want it paused")
	}
	ds := client.C.Dials()
	if len(ds) != 1 || ds[0].Addr != "127.0.0.1:7000" {
		t.Fatalf("dials %+v; want one to 127.0.0.1:7000", ds)
	}
	if _, ok := ds[0].Ctx.Deadline(); ok {
		t.Errorf("the dial's context has a deadline; want none, so that the backend's DialTimeout rules")
	}
	// What the client sends before the upstream is connected waits for it.
	client.Feed([]byte("early "))
	up := conntest.Open(ds[0].H, ds[0].Addr)
	if got := up.C.Output(); len(got) != 0 {
		t.Fatalf("upstream got %q on opening; want nothing yet", got)
	}
	client.Run()
	client.Feed([]byte("hello"))
	up.Feed([]byte("world"))
	client.Feed([]byte("!"))
	if got := string(up.C.Output()); got != "early hello!" {
		t.Errorf("upstream got %q; want %q", got, "early hello!")
	}
	if got := string(client.C.Output()); got != "world" {
		t.Errorf("client got %q; want %q", got, "world")
	}
	if len(client.Tail) != 0 || len(up.Tail) != 0 {
		t.Errorf("unconsumed input: client %d, upstream %d bytes; want none", len(client.Tail), len(up.Tail))
	}
}

// TestBackpressure: a side whose peer's output passes the mark is paused; the peer's OnDrain
// resumes it, and the input held meanwhile is relayed then. Both directions.
func TestBackpressure(t *testing.T) {
	for _, dir := range []string{"ClientToUpstream", "UpstreamToClient"} {
		t.Run(dir, func(t *testing.T) {
			p, _ := newTest(t)
			client, up := connect(t, p)
			from, to := client, up
			if dir == "UpstreamToClient" {
				from, to = up, client
			}
			chunk := bytes.Repeat([]byte("x"), 600)
			from.Feed(chunk)
			if from.C.Paused() {
				t.Fatalf("paused with %d bytes pending; want paused only past %d", to.C.Buffered(), testHighWater)
			}
			from.Feed(chunk)
			if !from.C.Paused() {
				t.Fatalf("not paused with %d bytes pending; want paused past %d", to.C.Buffered(), testHighWater)
			}
			from.Feed(chunk) // held by the paused connection
			if n := to.C.Buffered(); n != 1200 {
				t.Fatalf("%d bytes relayed while paused; want 1200, those before the pause", n)
			}

			// The kernel takes 100 bytes: still above the mark. The backend calls OnDrain only
			// at LowWater, but a resume that finds the output above the mark (it may have
			// risen again) must not resume.
			out := to.C.TakeOutput()
			to.C.Write(out[:1100])
			to.H.(reactor.Drainer).OnDrain(to.C)
			from.Run()
			if !from.C.Paused() {
				t.Fatalf("resumed with %d bytes pending; want paused until at most %d", to.C.Buffered(), testHighWater)
			}

			// The kernel takes it all; OnDrain resumes the paused side, which relays what it held.
			to.C.TakeOutput()
			to.H.(reactor.Drainer).OnDrain(to.C)
			from.Run()
			if from.C.Paused() {
				t.Fatalf("still paused after the peer drained")
			}
			if n := to.C.Buffered(); n != 600 {
				t.Fatalf("%d bytes relayed after resuming; want the 600 held", n)
			}

			// An OnDrain while the other side reads posts nothing.
			to.H.(reactor.Drainer).OnDrain(to.C)
			if n := from.C.RunPosted(); n != 0 {
				t.Errorf("OnDrain posted %d functions to a side that was not paused; want none", n)
			}
		})
	}
}

// TestHalfClose: an end of stream read on one side shuts down the other's sending half after
// what came before it; the other direction goes on, and when it ends too both close in good
// order. Both directions first.
func TestHalfClose(t *testing.T) {
	for _, first := range []string{"ClientFirst", "UpstreamFirst"} {
		t.Run(first, func(t *testing.T) {
			p, _ := newTest(t)
			client, up := connect(t, p)
			a, b := client, up
			if first == "UpstreamFirst" {
				a, b = up, client
			}
			a.Feed([]byte("last words"))
			a.EOF()
			settle(b)
			if !b.C.WriteClosed() {
				t.Fatalf("the other side's sending half is open after an end of stream; want it shut")
			}
			if got := string(b.C.Output()); got != "last words" {
				t.Errorf("before its FIN the other side got %q; want %q", got, "last words")
			}
			if a.C.Closed() || b.C.Closed() {
				t.Fatalf("a half-closed pair closed: %v, %v; want both open for the other direction", a.C.Closed(), b.C.Closed())
			}

			b.Feed([]byte("the reply"))
			if got := string(a.C.Output()); got != "the reply" {
				t.Errorf("after the half-close the other direction delivered %q; want %q", got, "the reply")
			}
			b.EOF()
			settle(a, b)
			for _, d := range []*conntest.Driver{a, b} {
				if !d.C.Closed() {
					t.Errorf("a side is open after both ends of stream; want both closed")
				}
				if aborted, cause := d.C.Aborted(); aborted {
					t.Errorf("a side was reset (%v); want closed in good order", cause)
				}
			}
			if !a.C.WriteClosed() && !a.C.Closed() {
				t.Errorf("the first side's sending half was never shut")
			}
		})
	}
}

// TestResetRelayed: a side cut short (a reset, a limit) resets the other; one that ends in
// good order closes it after its output. An upstream's cut is logged, a client's only at debug.
func TestResetRelayed(t *testing.T) {
	for _, tc := range []struct {
		name      string
		upstream  bool // the upstream ends, not the client
		cause     error
		wantReset bool
		wantLog   string
	}{
		{"UpstreamReset", true, syscall.ECONNRESET, true, `level=WARN msg="proxy: upstream cut the connection" upstream=127.0.0.1:7000 client=127.0.0.1:50000 err="connection reset by peer"`},
		{"UpstreamBrokenPipe", true, syscall.EPIPE, true, "upstream cut the connection"},
		{"UpstreamOverLimit", true, reactor.ErrOutboundFull, true, "upstream cut the connection"},
		{"UpstreamClean", true, nil, false, ""},
		{"UpstreamShutdown", true, reactor.ErrServerClosed, false, ""},
		{"ClientReset", false, syscall.ECONNRESET, true, `level=DEBUG msg="proxy: client cut the connection" client=127.0.0.1:50000`},
		{"ClientClean", false, nil, false, ""},
		{"ClientEOF", false, io.EOF, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, logs := newTest(t)
			client, up := connect(t, p)
			up.Feed([]byte("pending"))
			cut, other := client, up
			if tc.upstream {
				cut, other = up, client
			}
			cut.Close(tc.cause)
			// The other side of an upstream cut is the client: it still holds "pending".
			aborted, cause := other.C.Aborted()
			if !other.C.Closed() {
				t.Fatalf("the other side is open after its peer ended; want it closed")
			}
			if aborted != tc.wantReset {
				t.Errorf("other side reset = %v (cause %v); want %v", aborted, cause, tc.wantReset)
			}
			if tc.wantReset && !errors.Is(cause, tc.cause) {
				t.Errorf("relayed reset cause %v; want %v", cause, tc.cause)
			}
			// The other side's OnClose, with the relayed cause, must not log again.
			other.H.OnClose(other.C, cause)
			got := logs.String()
			if tc.wantLog == "" && got != "" || tc.wantLog != "" && (!strings.Contains(got, tc.wantLog) || strings.Count(got, "\n") != 1) {
				t.Errorf("logged %q; want one line with %q", got, tc.wantLog)
			}
		})
	}
}

// TestDialFailure: an upstream that cannot be reached closes the client in good order,
// without a byte, and the cause is logged — once a second at most.
func TestDialFailure(t *testing.T) {
	p, logs := newTest(t)
	refused := fmt.Errorf("%w: dial tcp 127.0.0.1:7000: %w", reactor.ErrDialFailed, syscall.ECONNREFUSED)
	for i := 0; i < 10; i++ {
		client := conntest.Open(p, "127.0.0.1:50000")
		ds := client.C.Dials()
		ds[0].H.OnClose(conntest.NewConn(ds[0].Addr), refused)
		if !client.C.Closed() {
			t.Fatalf("client %d open after its upstream's dial failed; want closed", i)
		}
		if aborted, cause := client.C.Aborted(); aborted || len(client.C.Output()) != 0 {
			t.Fatalf("client %d: reset %v (%v), got %q; want a clean close, no bytes", i, aborted, cause, client.C.Output())
		}
		client.H.OnClose(client.C, nil)
	}
	want := `level=WARN msg="proxy: cannot reach upstream" upstream=127.0.0.1:7000 client=127.0.0.1:50000 err="reactor: dial failed: dial tcp 127.0.0.1:7000: connection refused" suppressed=0`
	if got := logs.String(); !strings.Contains(got, want) || strings.Count(got, "\n") != 1 {
		t.Errorf("logged %q; want one line (the rest held back) with %q", got, want)
	}

	// A dial cut short by Shutdown is no news.
	logs.Reset()
	p2, logs2 := newTest(t)
	client := conntest.Open(p2, "")
	client.C.Dials()[0].H.OnClose(conntest.NewConn(""), fmt.Errorf("%w: %w", reactor.ErrDialFailed, reactor.ErrServerClosed))
	if !client.C.Closed() || logs2.Len() != 0 {
		t.Errorf("on shutdown: client closed %v, logged %q; want closed, nothing logged", client.C.Closed(), logs2.String())
	}
}

// refusingConn is a Conn whose backend cannot dial.
type refusingConn struct{ *conntest.Conn }

func (*refusingConn) Dial(context.Context, string, reactor.Handler) error {
	return fmt.Errorf("test: Dial: %w", reactor.ErrNotSupported)
}

// TestDialRefusedAtOnce: a Dial that cannot begin closes the client and says why.
func TestDialRefusedAtOnce(t *testing.T) {
	p, logs := newTest(t)
	c := &refusingConn{Conn: conntest.NewConn("")}
	p.OnOpen(c)
	if !c.Closed() {
		t.Errorf("client open after Dial failed to begin; want closed")
	}
	if got := logs.String(); !strings.Contains(got, "cannot reach upstream") || !strings.Contains(got, "not supported") {
		t.Errorf("logged %q; want the dial's error", got)
	}
}

// TestClientGoneBeforeUpstream: a client that ends while its upstream is being dialled ends
// the upstream once it opens, as it would have ended it: a reset for a reset.
func TestClientGoneBeforeUpstream(t *testing.T) {
	for _, tc := range []struct {
		cause     error
		wantReset bool
	}{{syscall.ECONNRESET, true}, {io.EOF, false}} {
		p, _ := newTest(t)
		client := conntest.Open(p, "")
		client.Close(tc.cause)
		ds := client.C.Dials()
		up := conntest.Open(ds[0].H, ds[0].Addr)
		aborted, _ := up.C.Aborted()
		if !up.C.Closed() || aborted != tc.wantReset {
			t.Errorf("client ended with %v before its upstream opened: upstream closed %v, reset %v; want closed, reset %v",
				tc.cause, up.C.Closed(), aborted, tc.wantReset)
		}
	}
}

func TestRoundRobin(t *testing.T) {
	p, _ := newTest(t, "10.0.0.1:80", "10.0.0.2:80", "[::1]:8080")
	var got []string
	for i := 0; i < 7; i++ {
		got = append(got, conntest.Open(p, "").C.Dials()[0].Addr)
	}
	want := "10.0.0.1:80 10.0.0.2:80 [::1]:8080 10.0.0.1:80 10.0.0.2:80 [::1]:8080 10.0.0.1:80"
	if strings.Join(got, " ") != want {
		t.Errorf("dialled %v; want %s", got, want)
	}
}

func TestParseUpstreams(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    string // the addresses joined by spaces, or the error's text
		wantErr bool
	}{
		{"127.0.0.1:7000", "127.0.0.1:7000", false},
		{"a.example:80, b.example:81 ,[::1]:82", "a.example:80 b.example:81 [::1]:82", false},
		{"", "proxy: no upstream", true},
		{"  ", "proxy: no upstream", true},
		{"a:1,,b:2", "empty upstream address", true},
		{"a:1,", "empty upstream address", true},
		{"localhost", `upstream "localhost": want host:port`, true},
		{":7000", `upstream ":7000" has no host`, true},
		{"h:0", `port "0" is not a number from 1 to 65535`, true},
		{"h:http", `port "http" is not a number`, true},
		{"h:65536", `port "65536"`, true},
		{"::1:80", "want host:port", true},
	} {
		got, err := ParseUpstreams(tc.in)
		if tc.wantErr {
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("ParseUpstreams(%q) = %v, %v; want an error with %q", tc.in, got, err, tc.want)
			}
			continue
		}
		if err != nil || strings.Join(got, " ") != tc.want {
			t.Errorf("ParseUpstreams(%q) = %q, %v; want %s", tc.in, got, err, tc.want)
		}
	}
}

func TestNewHighWater(t *testing.T) {
	for _, tc := range []struct {
		name    string
		asked   int
		backend reactor.Config
		want    int
		wantErr string
	}{
		{"default", 0, reactor.Config{}, 256 << 10, ""},
		{"default tracks LowWater", 0, reactor.Config{LowWater: 16 << 10}, 64 << 10, ""},
		{"default fits under MaxOutbound", 0, reactor.Config{MaxOutbound: 200 << 10}, 136 << 10, ""},
		{"no room", 0, reactor.Config{MaxOutbound: 100 << 10}, 0, "leaves no room"},
		{"asked", 500 << 10, reactor.Config{}, 500 << 10, ""},
		{"at LowWater", 64 << 10, reactor.Config{}, 64 << 10, ""},
		{"below LowWater", 32 << 10, reactor.Config{}, 0, "must lie between the backend's LowWater 65536"},
		{"over MaxOutbound less a read", 1 << 20, reactor.Config{}, 0, "less one read of 65536 (983040)"},
		{"negative", -1, reactor.Config{}, 0, "negative"},
	} {
		p, err := New(Config{Upstreams: []string{"h:1"}, HighWater: tc.asked, Backend: tc.backend})
		switch {
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("%s: New = %v; want an error with %q", tc.name, err, tc.wantErr)
		case tc.wantErr == "" && err != nil:
			t.Errorf("%s: New: %v", tc.name, err)
		case tc.wantErr == "" && p.HighWater() != tc.want:
			t.Errorf("%s: HighWater() = %d; want %d", tc.name, p.HighWater(), tc.want)
		}
	}
	if _, err := New(Config{}); !errors.Is(err, ErrNoUpstream) {
		t.Errorf("New with no upstream: %v; want ErrNoUpstream", err)
	}
	if _, err := New(Config{Upstreams: []string{"h:1", "nope"}}); err == nil || !strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("New with a malformed upstream: %v; want it named", err)
	}
}
