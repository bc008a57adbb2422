package reactortest

import (
	"bytes"
	"context"
	"errors"
	"maps"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/reactorlab/reactor/reactor"
)

// statsLimit is MaxInbound and MaxOutbound in the Stats scenario: small, so that one write or a
// client's burst passes it at once.
const statsLimit = 64 << 10

// statsProbe is the Stats scenario's handler. The first byte a connection sends says what
// becomes of it: 'e' echoes until the peer closes, 'c' is closed by the handler, 'p' panics,
// 'o' writes past MaxOutbound to a peer that does not read, 'i' consumes nothing until past
// MaxInbound, 's' stays open until Shutdown; 'd' followed by host:port and a newline dials
// that address, and stays open. It records the cause each OnClose gets, by
// reactor.CloseCause, to hold Stats to what the handler was told, and counts the dials that
// failed, whose OnClose is no close.
type statsProbe struct {
	mu        sync.Mutex
	causes    map[string]int
	dialFails int
}

func (p *statsProbe) OnOpen(reactor.Conn) {}

func (p *statsProbe) OnData(c reactor.Conn, in []byte) (int, reactor.Action) {
	mode, _ := c.Context().(byte)
	if mode == 0 {
		mode = in[0]
		c.SetContext(mode)
	}
	switch mode {
	case 'e':
		c.Write(in)
	case 'c':
		return len(in), reactor.Close
	case 'p':
		panic("conformance: deliberate panic for Stats")
	case 'o':
		c.Write(make([]byte, 2*statsLimit))
	case 'i':
		return 0, reactor.None
	case 'd':
		if end := bytes.IndexByte(in, '\n'); end > 0 && in[0] == 'd' {
			c.SetContext(byte('s')) // the dialed connection is served by p too, as mode 0
			c.Dial(context.Background(), string(in[1:end]), p)
		}
	}
	return len(in), reactor.None
}

func (p *statsProbe) OnClose(_ reactor.Conn, err error) {
	p.mu.Lock()
	if errors.Is(err, reactor.ErrDialFailed) {
		p.dialFails++
	} else {
		p.causes[reactor.CloseCause(err)]++
	}
	p.mu.Unlock()
}

func (p *statsProbe) told() map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return maps.Clone(p.causes)
}

// counted turns a snapshot's closes into a map of the causes that occurred.
func counted(s reactor.StatsSnapshot) map[string]int {
	out := map[string]int{}
	for i, n := range s.Closed {
		if n > 0 {
			out[reactor.CloseCauses[i]] = int(n)
		}
	}
	return out
}

func sameCounts(a, b map[string]int) bool { return maps.Equal(a, b) }

// testStats: after known traffic the backend's reactor.Stats hold exactly what happened — N
// connections each echoing M bytes and closed by the peer; then K connections ended by each
// cause a backend itself reports (the handler, the peer's reset, a panic, each limit,
// Shutdown) — and every close was counted under the cause its OnClose was given.
func (s *suite) testStats(t *testing.T) {
	const n, m, k = 8, 100_000, 3
	st := new(reactor.Stats)
	p := &statsProbe{causes: map[string]int{}}
	srv := s.start(t, reactor.Config{Stats: st, MaxInbound: statsLimit, MaxOutbound: statsLimit, Logger: discardLogger()}, p)

	// Phase 1: bytes. Each connection sends 'e' and m-1 more bytes, reads the echo, then closes.
	var wg sync.WaitGroup
	for range n {
		c := srv.dial(t)
		wg.Add(1)
		go func() {
			defer wg.Done()
			msg := bytes.Repeat([]byte("e"), m)
			go c.Write(msg)
			if got := readFull(t, c, m); !bytes.Equal(got, msg) {
				t.Errorf("echo: got %d bytes, not the %d sent", len(got), m)
			}
			c.Close()
		}()
	}
	wg.Wait()
	want := map[string]int{reactor.CauseEOF: n}
	var got reactor.StatsSnapshot
	eventually(ioTimeout, func() bool { got = st.Snapshot(); return sameCounts(counted(got), want) })
	if !sameCounts(counted(got), want) || got.Accepted != n || got.Received != n*m || got.Sent != n*m || got.Buffered != 0 || got.Active() != 0 {
		t.Fatalf("after %d connections echoing %d bytes and closed by the peer: accepted %d, closed %v, received %d, sent %d, buffered %d, active %d; want %d, %v, %d, %d, 0, 0",
			n, m, got.Accepted, counted(got), got.Received, got.Sent, got.Buffered, got.Active(), n, want, n*m, n*m)
	}

	// Phase 2: causes, k connections each.
	var held []*net.TCPConn
	for range k {
		c := srv.dial(t) // the handler closes it
		c.Write([]byte("c"))
		expectEOF(t, c, ioTimeout)

		c = srv.dial(t) // the peer resets it, once the server has seen it
		c.Write([]byte("e"))
		readFull(t, c, 1)
		c.SetLinger(0)
		c.Close()

		c = srv.dial(t) // the handler panics
		c.Write([]byte("p"))
		expectEOF(t, c, ioTimeout)

		c = srv.dial(t) // over MaxOutbound: the peer never reads
		c.Write([]byte("o"))
		held = append(held, c)

		c = srv.dial(t) // over MaxInbound: the handler never consumes
		c.Write(append([]byte("i"), make([]byte, 2*statsLimit)...))
		held = append(held, c)

		c = srv.dial(t) // open until Shutdown
		c.Write([]byte("e"))
		readFull(t, c, 1)
		held = append(held, c)
	}
	want = map[string]int{
		reactor.CauseEOF: n, reactor.CauseLocal: k, reactor.CauseReset: k, reactor.CauseHandlerPanic: k,
		reactor.CauseOutboundFull: k, reactor.CauseInboundFull: k,
	}
	eventually(ioTimeout, func() bool { got = st.Snapshot(); return sameCounts(counted(got), want) })
	if !sameCounts(counted(got), want) || got.Active() != k || got.HandlerPanics != k {
		t.Errorf("closes by cause %v, active %d, handler panics %d; want %v, %d, %d", counted(got), got.Active(), got.HandlerPanics, want, k, k)
	}
	held = append(held, s.statsDials(t, srv, st, want)...)
	srv.shutdown()
	want[reactor.CauseServerClosed] = len(held) - 2*k // the 's' connections and the dialers
	got = st.Snapshot()
	total := 0
	for _, v := range want {
		total += v
	}
	var lives uint64
	for _, v := range got.Lifetimes {
		lives += v
	}
	if !sameCounts(counted(got), want) || got.Accepted+got.Dialed != uint64(total) || got.Active() != 0 || got.Buffered != 0 || got.AcceptErrors != 0 || lives != uint64(total) {
		t.Errorf("after Shutdown: closes %v, accepted %d, active %d, buffered %d, accept errors %d, lifetimes counted %d; want %v, %d, 0, 0, 0, %d",
			counted(got), got.Accepted+got.Dialed, got.Active(), got.Buffered, got.AcceptErrors, lives, want, total, total)
	}
	if told := p.told(); !sameCounts(told, counted(got)) {
		t.Errorf("OnClose was told the causes %v, Stats counted %v: one meaning on every backend needs them equal", told, counted(got))
	}
	for _, c := range held {
		c.Close()
	}
}

// statsDials, where the backend dials: one connection dials a listener of the test's, which
// then closes the connection it accepted (an eof close of a dialed connection); another dials
// a closed port (a dial that failed, which is no close). It returns the two dialing
// connections, open until Shutdown, and adds the close to want.
func (s *suite) statsDials(t *testing.T, srv *server, st *reactor.Stats, want map[string]int) []*net.TCPConn {
	var askers []*net.TCPConn
	outer := t // the askers live until Shutdown, past the subtest
	t.Run("Dial", func(t *testing.T) {
		s.requires(t, "Dial")
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		closed, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		refused := closed.Addr().String()
		closed.Close()
		before := st.Snapshot()
		for _, addr := range []string{ln.Addr().String(), refused} {
			c, err := srv.dialE(outer)
			if err != nil {
				t.Fatal(err)
			}
			c.Write([]byte("d" + addr + "\n"))
			askers = append(askers, c)
		}
		ln.(*net.TCPListener).SetDeadline(time.Now().Add(ioTimeout))
		up, err := ln.Accept()
		ln.Close()
		if err != nil {
			t.Fatalf("the server never dialed: %v", err)
		}
		up.Close()
		want[reactor.CauseEOF]++
		var got reactor.StatsSnapshot
		eventually(ioTimeout, func() bool {
			got = st.Snapshot()
			return got.Dialed == before.Dialed+1 && got.DialFailed == before.DialFailed+1 && sameCounts(counted(got), want)
		})
		if got.Dialed != before.Dialed+1 || got.DialFailed != before.DialFailed+1 || !sameCounts(counted(got), want) {
			t.Errorf("after one dial made and closed by its peer and one refused: dialed %d, failed %d, closes %v; want %d, %d, %v",
				got.Dialed, got.DialFailed, counted(got), before.Dialed+1, before.DialFailed+1, want)
		}
	})
	return askers
}
