package reactortest

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/reactorlab/reactor/protocols/http1"
	"github.com/reactorlab/reactor/reactor"
)

func (s *suite) testSlowPeers(t *testing.T) {
	h := http1.New(http1.Config{HeaderTimeout: time.Second, BodyTimeout: time.Second, IdleTimeout: 2 * time.Second})
	t.Cleanup(h.Close)
	srv := s.start(t, reactor.Config{MaxOutbound: 256 << 10}, h)
	t.Run("Slowloris500", func(t *testing.T) { testSlowloris(t, srv, s.most(500)) })
	t.Run("IdleKeepAliveClosed", func(t *testing.T) { testIdleClosed(t, srv) })
	t.Run("SendsButNeverReads", func(t *testing.T) { testNeverReads(t, srv) })
}

// testSlowloris: 500 peers (fewer for a backend that cannot hold them) each trickle a header
// one byte at a time. Every one gets 408 and is closed at the header limit; meanwhile a
// well-behaved client is served every time, and the heap does not grow with the attack.
func testSlowloris(t *testing.T, srv *server, attackers int) {
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)

	conns := make([]*net.TCPConn, 0, attackers)
	for i := 0; i < attackers; i++ {
		c := srv.dial(t)
		io.WriteString(c, "GET /plaintext HTTP/1.1\r\nHost: x\r\nX-Slow: ")
		conns = append(conns, c)
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		// One byte per peer every 200ms, at most 50 rounds (10s); the server should cut them
		// off after about a second.
		defer wg.Done()
		for round := 0; round < 50 && !stop.Load(); round++ {
			for _, c := range conns {
				c.Write([]byte("a"))
			}
			time.Sleep(200 * time.Millisecond)
		}
	}()

	// The well-behaved client: a fresh connection and a request, again and again.
	ok, tries := 0, 0
	goodDone := make(chan struct{})
	go func() {
		defer close(goodDone)
		for deadline := time.Now().Add(2500 * time.Millisecond); time.Now().Before(deadline); tries++ {
			c, err := net.DialTimeout("tcp", srv.addr, 5*time.Second)
			if err != nil {
				continue
			}
			c.SetDeadline(time.Now().Add(5 * time.Second))
			io.WriteString(c, getPlaintext)
			br := bufio.NewReader(c)
			if line, err := br.ReadString('\n'); err == nil && line == "HTTP/1.1 200 OK\r\n" {
				ok++
			}
			c.Close()
		}
	}()

	timedOut := 0
	var others []string
	for _, c := range conns {
		c.SetReadDeadline(time.Now().Add(ioTimeout))
		got, err := io.ReadAll(c)
		if strings.HasPrefix(string(got), "HTTP/1.1 408") {
			timedOut++
		} else if len(others) < 3 {
			others = append(others, fmt.Sprintf("%q (%v)", got, err))
		}
	}
	stop.Store(true)
	wg.Wait()
	<-goodDone
	if timedOut != attackers {
		t.Errorf("%d of %d slowloris peers got 408 and were closed; others got e.g. %s", timedOut, attackers, strings.Join(others, ", "))
	}
	t.Logf("well-behaved client during the attack: %d of %d requests served", ok, tries)
	if tries == 0 || ok != tries {
		t.Errorf("well-behaved client: %d of %d requests served during the attack; want all", ok, tries)
	}
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	// Client and server share this process, so this bounds both: a few KB per connection is
	// expected, megabytes per connection would mean input piling up somewhere.
	if grew := int64(after.HeapInuse) - int64(before.HeapInuse); grew > 64<<20 {
		t.Errorf("heap grew by %d MiB during the attack", grew>>20)
	}
	for _, c := range conns {
		c.Close()
	}
}

// testIdleClosed: a keep-alive connection with nothing to do is closed, quietly, after the idle
// limit.
func testIdleClosed(t *testing.T, srv *server) {
	c := srv.dial(t)
	io.WriteString(c, getPlaintext)
	r := bufio.NewReader(c)
	resp, body := readResponse(t, r, "GET")
	checkPlaintext(t, resp, body)
	start := time.Now()
	c.SetReadDeadline(time.Now().Add(ioTimeout))
	rest, err := io.ReadAll(r)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("an idle keep-alive connection is still open after %v; the limit is 2s", ioTimeout)
	}
	if len(rest) != 0 {
		t.Errorf("idle close sent %q; want nothing", rest)
	}
	if waited := time.Since(start); waited < 1900*time.Millisecond {
		t.Errorf("idle connection closed after %v; the limit is 2s and must not strike early", waited)
	}
}

// testNeverReads: a peer that keeps sending requests and never reads a reply is disconnected in
// bounded time (by the high-water mark, or by the idle limit once the backend stops reading it),
// and memory does not follow its requests.
func testNeverReads(t *testing.T, srv *server) {
	c := srv.dial(t)
	c.SetReadBuffer(4 << 10)
	batch := []byte(strings.Repeat(getPlaintext, 64))
	start := time.Now()
	c.SetWriteDeadline(time.Now().Add(ioTimeout))
	var err error
	// Bounded: 20,000 batches is 1.28M requests; the server gives up long before.
	for i := 0; i < 20000 && err == nil; i++ {
		_, err = c.Write(batch)
	}
	var ne net.Error
	switch {
	case err == nil:
		t.Fatalf("1.28M requests sent to a server while never reading, and it never pushed back or closed")
	case errors.As(err, &ne) && ne.Timeout():
		t.Fatalf("a peer that never reads is still connected after %v", time.Since(start))
	}
	t.Logf("a peer that never reads was disconnected after %v (%v)", time.Since(start).Round(time.Millisecond), err)
}
