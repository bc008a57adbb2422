package bench

import (
	"bytes"
	"context"
	"io"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// runLoad runs g against a server for a short window and returns the window and the errors.
func runLoad(t *testing.T, g generator) (window, *tally) {
	t.Helper()
	defer func(g time.Duration) { graceAfterRun = g }(graceAfterRun)
	graceAfterRun = 300 * time.Millisecond
	w, err := runWindow(context.Background(), g, 0, 50*time.Millisecond, 300*time.Millisecond, nil)
	if err != nil {
		t.Fatal(err)
	}
	return w, errsOf(g)
}

func errsOf(g generator) *tally {
	switch g := g.(type) {
	case *httpLoad:
		return g.errs
	case *echoLoad:
		return g.errs
	case *chatLoad:
		return g.errs
	case *bulkLoad:
		return g.errs
	}
	return nil
}

func TestHTTPLoadCorrectServer(t *testing.T) {
	addr := httpServer(t, func(int) string { return okResponse })
	for _, depth := range []int{1, 16} {
		w, errs := runLoad(t, newHTTPLoad(addr, 4, depth, 0, new(tally)))
		if w.Ops == 0 || errs.total() != 0 {
			counts, samples := errs.byKind()
			t.Errorf("depth %d: %d ops, errors %v %v; want ops and no error", depth, w.Ops, counts, samples)
		}
	}
}

func TestHTTPLoadWrongServers(t *testing.T) {
	cases := []struct {
		name   string
		answer func(i int) string
		kind   string
	}{
		{"wrong body", func(int) string { return strings.Replace(okResponse, "World", "Wurld", 1) }, "bad-body"},
		{"500", func(int) string { return strings.Replace(okResponse, "200 OK", "500 Oops", 1) }, "bad-status"},
		{"garbage", func(int) string { return "hello\r\n\r\n" }, "malformed"},
		// Answers the first request of each connection, then nothing: dropped responses.
		{"drops", func(i int) string {
			if i == 0 {
				return okResponse
			}
			return ""
		}, "no-response"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			addr := httpServer(t, c.answer)
			w, errs := runLoad(t, newHTTPLoad(addr, 2, 4, 0, new(tally)))
			counts, _ := errs.byKind()
			if counts[c.kind] == 0 {
				t.Errorf("errors %v; want %s errors", counts, c.kind)
			}
			if c.name != "drops" && w.Ops != 0 {
				t.Errorf("%d wrong answers counted as throughput", w.Ops)
			}
		})
	}
}

func TestHTTPLoadRateLatency(t *testing.T) {
	addr := httpServer(t, func(int) string { return okResponse })
	g := newHTTPLoad(addr, 4, 16, 400, new(tally))
	// No warm-up: the whole schedule lies in the window, so the count can be checked against
	// the rate (a generator that starts late catches up, but never exceeds the schedule).
	w, err := runWindow(context.Background(), g, 0, 0, 500*time.Millisecond, nil)
	if err != nil {
		t.Fatal(err)
	}
	if g.errs.total() != 0 {
		t.Fatalf("errors: %d", g.errs.total())
	}
	max := int64(400*w.Seconds) + 4 + 1
	if w.Ops > max || w.Ops < max/4 {
		t.Errorf("rate 400/s for %.2fs gave %d requests; want at most %d and not far below", w.Seconds, w.Ops, max)
	}
	if w.Latency == nil || w.Latency.Count() == 0 || w.Latency.Quantile(0.5) <= 0 {
		t.Error("no latency recorded in rate mode")
	}
}

// closingServer reads one request per connection and writes answer; it then ends the stream
// when hangUp is set, and otherwise holds the connection until the client leaves.
func closingServer(t *testing.T, answer string, hangUp bool) string {
	return testServer(t, func(c net.Conn) {
		buf := make([]byte, 4<<10)
		have := 0
		for !bytes.Contains(buf[:have], []byte("\r\n\r\n")) {
			n, err := c.Read(buf[have:])
			if err != nil {
				return
			}
			have += n
		}
		if !bytes.Contains(buf[:have], []byte("\r\nConnection: close\r\n")) {
			return // not the close scenario's request: the client sees a bare end of stream
		}
		if _, err := io.WriteString(c, answer); err != nil || hangUp {
			return
		}
		_, _ = io.Copy(io.Discard, c)
	})
}

func TestHTTPLoadClose(t *testing.T) {
	const closing = "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 13\r\n\r\nHello, World!"
	cases := []struct {
		name   string
		answer string
		hangUp bool
		kind   string // the error expected; empty: none, and connections counted
	}{
		{"right", closing, true, ""},
		{"wrong body", strings.Replace(closing, "World", "Wurld", 1), true, "bad-body"},
		// Answers, then keeps the connection the client asked it to close.
		{"stays open", closing, false, "no-response"},
		{"two answers", closing + closing, true, "malformed"},
		{"hangs up unanswered", "", true, "closed"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			addr := closingServer(t, c.answer, c.hangUp)
			w, errs := runLoad(t, newCloseLoad(addr, 2, new(tally)))
			counts, samples := errs.byKind()
			if c.kind == "" {
				// Every connection ends in the server's TIME_WAIT, so a short window makes
				// hundreds of them at most: far from exhausting the ports.
				if w.Ops == 0 || len(counts) != 0 {
					t.Errorf("%d connections, errors %v %v; want connections and no error", w.Ops, counts, samples)
				}
				return
			}
			if counts[c.kind] == 0 {
				t.Errorf("errors %v; want %s errors", counts, c.kind)
			}
			if w.Ops != 0 {
				t.Errorf("%d wrong connections counted as throughput", w.Ops)
			}
		})
	}
}

func TestEchoLoad(t *testing.T) {
	addr := echoServer(t, func([]byte) {})
	w, errs := runLoad(t, newEchoLoad(addr, 4, 1000, 0, new(tally)))
	if w.Ops == 0 || errs.total() != 0 || w.Bytes != w.Ops*1000 {
		t.Errorf("good echo: %d msgs, %d bytes, %d errors", w.Ops, w.Bytes, errs.total())
	}
	bad := echoServer(t, func(b []byte) { b[len(b)/2] ^= 1 })
	w, errs = runLoad(t, newEchoLoad(bad, 4, 1000, 0, new(tally)))
	if counts, _ := errs.byKind(); counts["wrong-bytes"] == 0 || w.Ops != 0 {
		t.Errorf("flipping echo: %d msgs counted, errors %v; want none counted, wrong-bytes errors", w.Ops, counts)
	}
}

// TestEchoLoadRate: at a fixed rate the echo generator sends about that many messages and
// records each one's latency.
func TestEchoLoadRate(t *testing.T) {
	addr := echoServer(t, func([]byte) {})
	w, errs := runLoad(t, newEchoLoad(addr, 4, 100, 200, new(tally)))
	if errs.total() != 0 || w.Latency == nil {
		t.Fatalf("%d errors, latency %v", errs.total(), w.Latency)
	}
	// 200/s over a 0.3 s window, give or take the window's edges.
	if w.Ops < 40 || w.Ops > 80 || w.Latency.Count() < 40 {
		t.Errorf("%d messages, %d latencies in 0.3 s at 200/s; want about 60", w.Ops, w.Latency.Count())
	}
}

// TestBulkLoad streams through servers that echo correctly, flip a bit, keep the stream open
// after the client's half-close, or end it early: only the first counts bytes, and each of the
// others is counted as the error it is.
func TestBulkLoad(t *testing.T) {
	// Any stretch of the stream, from any place in the period, must be one slice of the
	// pattern: a writer and a reader that cut the stream differently compare the same bytes.
	pat := newBulkLoad("", 1, nil).pat
	for i := bulkPeriod; i < len(pat); i++ {
		if pat[i] != pat[i%bulkPeriod] {
			t.Fatalf("pattern byte %d = %#x; want byte %d's %#x", i, pat[i], i%bulkPeriod, pat[i%bulkPeriod])
		}
	}

	good := echoServer(t, func([]byte) {})
	w, errs := runLoad(t, newBulkLoad(good, 2, new(tally)))
	// Operations are whole MiB counted at each end of the window, so they may differ from the
	// bytes' MiB by the one each end rounds away.
	if counts, samples := errs.byKind(); len(counts) != 0 || w.Bytes < bulkChunk || w.Ops < w.Bytes/mebibyte-1 || w.Ops > w.Bytes/mebibyte+1 {
		t.Fatalf("good echo: %d bytes, %d MiB, errors %v %v", w.Bytes, w.Ops, counts, samples)
	}

	var n atomic.Int64
	flips := echoServer(t, func(b []byte) {
		if n.Add(int64(len(b))) > 3*bulkChunk {
			b[0] ^= 1
		}
	})
	_, errs = runLoad(t, newBulkLoad(flips, 2, new(tally)))
	if counts, _ := errs.byKind(); counts["wrong-bytes"] == 0 {
		t.Errorf("flipping echo: errors %v; want wrong-bytes", counts)
	}

	hold := make(chan struct{})
	holds := testServer(t, func(c net.Conn) {
		io.Copy(c, c)
		<-hold // never passes the end of stream on
	})
	t.Cleanup(func() { close(hold) }) // before testServer's cleanup, which waits for it
	_, errs = runLoad(t, newBulkLoad(holds, 2, new(tally)))
	if counts, _ := errs.byKind(); counts["no-response"] == 0 {
		t.Errorf("server that keeps the stream open after the half-close: errors %v; want no-response", counts)
	}

	var m atomic.Int64
	ends := testServer(t, func(c net.Conn) {
		// Echoes one chunk's worth, then ends the stream while the client still sends.
		buf := make([]byte, bulkChunk)
		for m.Add(1) < 100 {
			k, err := c.Read(buf)
			c.Write(buf[:k])
			if err != nil {
				return
			}
		}
	})
	_, errs = runLoad(t, newBulkLoad(ends, 1, new(tally)))
	if counts, _ := errs.byKind(); counts["closed"] == 0 {
		t.Errorf("server that ends the stream early: errors %v; want closed", counts)
	}
}

func TestChatLoad(t *testing.T) {
	addr := chatServer(t, nil)
	w, errs := runLoad(t, newChatLoad(addr, 6, 2, 4, new(tally)))
	if counts, samples := errs.byKind(); len(counts) != 0 || w.Ops == 0 {
		t.Fatalf("good room: %d deliveries, errors %v %v", w.Ops, counts, samples)
	}
	if w.Latency == nil || w.Latency.Count() == 0 {
		t.Error("no chat latency recorded")
	}
	lossy := chatServer(t, func(n int) bool { return n%10 == 0 })
	_, errs = runLoad(t, newChatLoad(lossy, 6, 2, 4, new(tally)))
	if counts, _ := errs.byKind(); counts["missed-line"] == 0 {
		t.Errorf("lossy room: errors %v; want missed-line", counts)
	}
}

// TestChatFanOut: a fixed fan-out of padded lines without a window, one member silent, is
// delivered whole to every reading member, each line at the size asked for.
func TestChatFanOut(t *testing.T) {
	addr := chatServer(t, nil)
	l := newChatLoad(addr, 6, 2, 0, new(tally))
	l.lineLimit, l.lineSize, l.silent = 50, 200, 1
	_, errs := runLoad(t, l)
	if counts, samples := errs.byKind(); len(counts) != 0 {
		t.Fatalf("errors %v %v", counts, samples)
	}
	// Each sender's 50 lines reach the 4 other reading members; the silent one counts for
	// nothing.
	if got, want := l.delivered[0].n.Load()+l.delivered[1].n.Load(), int64(2*50*4); got != want {
		t.Errorf("delivered %d; want %d", got, want)
	}
	if got := l.in[2].n.n.Load(); got < 2*50*200 {
		t.Errorf("member m2 read %d bytes; want at least %d (100 lines of ~200 bytes)", got, 2*50*200)
	}
}

func TestIdleSweep(t *testing.T) {
	addr := echoServer(t, func([]byte) {})
	errs := new(tally)
	// This process stands in for the server: its memory grows by the connections' both ends.
	pts, unheld, err := idleSweep(context.Background(), addr, os.Getpid(), 0, []int{20, 60}, 1, echoTrip, errs, new(ledger))
	if err != nil || unheld != "" || errs.total() != 0 {
		t.Fatalf("idleSweep: %v, not held %q, %d errors", err, unheld, errs.total())
	}
	if len(pts) != 2 || pts[0].Conns != 20 || pts[1].Conns != 60 || pts[1].RSS <= 0 {
		t.Errorf("points %+v; want 20 and 60 connections with memory", pts)
	}
}

// TestIdleSweepHTTP: idle HTTP connections each make one validated GET; a wrong answer is an
// error, and a server that closes idle connections before the sweep ends fails it.
func TestIdleSweepHTTP(t *testing.T) {
	ok := httpServer(t, func(int) string { return okResponse })
	errs := new(tally)
	pts, unheld, err := idleSweep(context.Background(), ok, 0, 0, []int{5, 20}, 1, httpTrip, errs, new(ledger))
	if err != nil || unheld != "" || errs.total() != 0 || len(pts) != 2 || pts[1].Conns != 20 {
		t.Errorf("keep-alive server: %v, not held %q, %d errors, points %+v; want 5 and 20 held", err, unheld, errs.total(), pts)
	}

	wrong := httpServer(t, func(int) string { return strings.Replace(okResponse, "Hello", "Jello", 1) })
	errs = new(tally)
	if _, _, err := idleSweep(context.Background(), wrong, 0, 0, []int{5}, 1, httpTrip, errs, new(ledger)); err != nil || errs.total() == 0 {
		t.Errorf("wrong server: %v, %d errors; want the wrong answer counted", err, errs.total())
	}

	// Answers, then ends the stream as a server with a short idle timeout would.
	hangUp := testServer(t, func(c net.Conn) {
		buf := make([]byte, 4<<10)
		have := 0
		for !bytes.Contains(buf[:have], []byte("\r\n\r\n")) {
			n, err := c.Read(buf[have:])
			if err != nil {
				return
			}
			have += n
		}
		_, _ = io.WriteString(c, okResponse)
	})
	errs = new(tally)
	_, _, err = idleSweep(context.Background(), hangUp, 0, 0, []int{5, 10}, 1, httpTrip, errs, new(ledger))
	if err == nil || !strings.Contains(err.Error(), "closed") || errs.total() != 0 {
		t.Errorf("server closing idle connections: %v, %d errors; want the sweep failed for it", err, errs.total())
	}
}

// TestHTTPExchangeAllocs pins the load generator's steady state at zero allocations per batch:
// on two cores it shares the machine with the server it measures.
func TestHTTPExchangeAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under -race")
	}
	const depth = 16
	batch := []byte(strings.Repeat(okResponse, depth))
	addr := testServer(t, func(c net.Conn) {
		// A lean server: one read of a whole batch of requests, one write of the answers, so
		// the count below is the client's alone.
		buf := make([]byte, 64<<10)
		pending := 0
		for {
			n, err := c.Read(buf)
			if err != nil {
				return
			}
			// Every batch of requests has the same size, so counting bytes counts batches,
			// however the stream is split into reads.
			for pending += n; pending >= depth*len(plaintextRequest); pending -= depth * len(plaintextRequest) {
				if _, err := c.Write(batch); err != nil {
					return
				}
			}
		}
	})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	l := newHTTPLoad(addr, 1, depth, 0, new(tally))
	req := []byte(strings.Repeat(plaintextRequest, depth))
	buf := make([]byte, 64<<10)
	w := new(httpWorker)
	allocs := testing.AllocsPerRun(200, func() {
		if ok, fine := l.exchange(c, w, req, buf, depth); ok != depth || !fine {
			t.Fatalf("exchange: %d ok, fine %v", ok, fine)
		}
	})
	if allocs != 0 {
		t.Errorf("%.1f allocations per pipelined batch of %d; want the client to allocate none", allocs, depth)
	}
}
