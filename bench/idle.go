package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// IdlePoint is the server's memory with Conns idle connections open.
type IdlePoint struct {
	Conns int `json:"conns"`
	// RSS is the server's resident memory, in bytes (the least of a few reads).
	RSS int64 `json:"rss_bytes"`
	// PerConn is (RSS − RSS with no connection) / Conns, in bytes.
	PerConn Num `json:"bytes_per_conn"`
}

// idlePing is the one round trip each idle connection makes before it rests, so every
// connection has been read from and written to (buffers a backend allocates lazily exist).
var idlePing = []byte("ping\n")

const (
	idleDialers = 8                      // connections opened in parallel
	idleSettle  = 300 * time.Millisecond // pause before reading memory
	idleReads   = 3                      // memory reads, the least is kept
	idleGap     = 100 * time.Millisecond // between memory reads
)

// idleSweep measures the server's memory with no connection, then opens connections up to each
// count of sweep in turn (cumulatively), each doing one round trip (trip), and measures again.
// What their round trips carried is added to led. The connections are closed before it
// returns. Without a server process of ours (pid ≤ 0) it still opens the connections but
// memory is NaN.
//
// It stops at the first count the server cannot hold: one whose descriptors (fdsPer for each
// connection: 1, or 2 for a proxy, which holds the upstream's too) with fdReserve exceed
// maxConns (0: no known limit), or one at which a connection is refused, dropped or not
// answered. unheld then says why; that count and every later one are not measured, and that is
// a finding about the server, not an error. A wrong answer is an error, counted in errs; it
// stops the sweep too.
//
// Once the counts are measured it checks that the server still holds every connection: one it
// closed meanwhile (an idle timeout shorter than the sweep) was not in the readings it should
// have been in, and the sweep fails.
func idleSweep(ctx context.Context, addr string, pid, maxConns int, sweep []int, fdsPer int, trip roundTrip, errs *tally, led *ledger) (points []IdlePoint, unheld string, err error) {
	base := settledRSS(ctx, pid)
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for _, n := range sweep {
		if maxConns > 0 && n*fdsPer+fdReserve > maxConns {
			what := fmt.Sprintf("%d connections", n)
			if fdsPer > 1 {
				what = fmt.Sprintf("%d pairs (%d connections)", n, n*fdsPer)
			}
			unheld = fmt.Sprintf("from %d up: %s and %d descriptors of its own exceed the %d it can hold by design", n, what, fdReserve, maxConns)
			break
		}
		var more []net.Conn
		more, err = openIdle(ctx, addr, n-len(conns), trip, led)
		conns = append(conns, more...)
		var wrong *wrongAnswer
		switch {
		case ctx.Err() != nil:
			return points, "", ctx.Err()
		case errors.As(err, &wrong):
			errs.add(wrong.kind, 1, wrong.msg)
			return points, "", nil
		case err != nil:
			return points, fmt.Sprintf("from %d up: it held %d connections, then one failed: %v", n, len(conns), err), nil
		}
		rss := settledRSS(ctx, pid)
		p := IdlePoint{Conns: len(conns), RSS: rss, PerConn: nan}
		if pid > 0 && len(conns) > 0 {
			p.PerConn = Num(float64(rss-base) / float64(len(conns)))
		}
		points = append(points, p)
	}
	if ctx.Err() != nil {
		return points, unheld, ctx.Err()
	}
	if gone := closedOf(conns); gone > 0 {
		return points, unheld, fmt.Errorf("the server closed %d of the %d idle connections before the sweep ended, so its memory readings may not count them all (an idle timeout shorter than the sweep?)", gone, len(conns))
	}
	return points, unheld, nil
}

// idleProbe is how long closedOf waits for a connection's end of stream: a closed connection's
// has already arrived, so the wait only sets how long checking a live one takes.
const idleProbe = time.Millisecond

// closedOf counts the connections of conns that the server closed (or wrote to unasked): those
// whose read returns before idleProbe has passed. It checks many at once, since every live one
// costs a wait.
func closedOf(conns []net.Conn) int {
	var (
		gone atomic.Int64
		next atomic.Int64
		wg   sync.WaitGroup
	)
	for w := 0; w < min(64, len(conns)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var b [1]byte
			for i := int(next.Add(1)) - 1; i < len(conns); i = int(next.Add(1)) - 1 {
				c := conns[i]
				_ = c.SetReadDeadline(time.Now().Add(idleProbe))
				if _, err := c.Read(b[:]); !errors.Is(err, os.ErrDeadlineExceeded) {
					gone.Add(1)
				}
				_ = c.SetReadDeadline(time.Time{})
			}
		}()
	}
	wg.Wait()
	return int(gone.Load())
}

// settledRSS waits for the server to settle and returns the least of a few RSS reads, so a
// garbage collection in progress does not count as memory per connection.
func settledRSS(ctx context.Context, pid int) int64 {
	if pid <= 0 {
		return 0
	}
	sleepCtx(ctx, idleSettle)
	best := int64(math.MaxInt64)
	for i := 0; i < idleReads; i++ {
		if rss, _, err := memory(pid); err == nil && rss < best {
			best = rss
		}
		if i < idleReads-1 {
			sleepCtx(ctx, idleGap)
		}
	}
	if best == math.MaxInt64 {
		return 0
	}
	return best
}

// roundTrip is the one exchange an idle connection makes before it rests, in the protocol the
// server speaks; it returns an error when the answer is missing, and a *wrongAnswer when it is
// wrong, and how many http answers it read (right or wrong), for the audit.
type roundTrip func(c net.Conn) (answers int64, err error)

// wrongAnswer is a round trip the server answered wrongly: an error of the server, where a
// refused, dropped or unanswered connection only says that it holds no more.
type wrongAnswer struct {
	kind errKind
	msg  string
}

func (e *wrongAnswer) Error() string { return e.msg }

// echoTrip sends idlePing and expects it back.
func echoTrip(c net.Conn) (int64, error) {
	got := make([]byte, len(idlePing))
	_, err := c.Write(idlePing)
	if err == nil {
		_, err = io.ReadFull(c, got)
	}
	if err == nil && !bytes.Equal(got, idlePing) {
		err = &wrongAnswer{errMismatch, fmt.Sprintf("idle round trip: got %q, want %q", got, idlePing)}
	}
	return 0, err
}

// httpTrip makes one keep-alive GET /plaintext and validates the answer, so an idle HTTP
// connection rests the way a browser's does: between requests, not before the first.
func httpTrip(c net.Conn) (int64, error) {
	if _, err := io.WriteString(c, plaintextRequest); err != nil {
		return 0, err
	}
	buf := make([]byte, 0, 512)
	for {
		if len(buf) == cap(buf) {
			return 0, &wrongAnswer{errMalformed, fmt.Sprintf("idle round trip: response larger than %d bytes", cap(buf))}
		}
		m, err := c.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+m]
		n, kind := checkResponse(buf)
		switch {
		case kind >= 0 && n > 0:
			return 1, &wrongAnswer{kind, fmt.Sprintf("idle round trip: %s answer %s", kind, quote(buf))}
		case kind >= 0:
			return 0, &wrongAnswer{kind, fmt.Sprintf("idle round trip: %s answer %s", kind, quote(buf))}
		case n > 0 && n != len(buf):
			return 1, &wrongAnswer{errMalformed, fmt.Sprintf("idle round trip: %d bytes after the answer", len(buf)-n)}
		case n > 0:
			return 1, nil
		case err != nil:
			return 0, err
		}
	}
}

// ledger is the bench's account of the traffic of idle connections with a server, for the
// audit.
type ledger struct {
	Traffic
	// lost, once set, says why the account is not exact: a connection failed midway, so
	// whether the server read what was written to it is unknown.
	lost string
}

// tripConn counts what a round trip carries.
type tripConn struct {
	net.Conn
	written, read int64
}

func (c *tripConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.written += int64(n)
	return n, err
}

func (c *tripConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.read += int64(n)
	return n, err
}

// openIdle opens n connections, each after one round trip, idleDialers at a time. It stops at
// the first one that fails: a server past what it can hold refuses or drops every further
// connection, and dialling them all would only load the machine. It returns the connections it
// opened with that first failure, or with ctx's error once ctx ends. What the round trips
// carried is added to led.
func openIdle(ctx context.Context, addr string, n int, trip roundTrip, led *ledger) ([]net.Conn, error) {
	var (
		mu    sync.Mutex
		conns = make([]net.Conn, 0, n)
		first error
		left  = n
		wg    sync.WaitGroup
	)
	// claim hands out the next connection to open, until there is none or one has failed.
	claim := func() bool {
		mu.Lock()
		defer mu.Unlock()
		if left == 0 || first != nil || ctx.Err() != nil {
			return false
		}
		left--
		return true
	}
	for w := 0; w < min(idleDialers, n); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for claim() {
				c, err := idleOne(ctx, addr, trip, led, &mu)
				mu.Lock()
				if err == nil {
					conns = append(conns, c)
				} else if first == nil {
					first = err
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if ctx.Err() != nil {
		return conns, ctx.Err()
	}
	return conns, first
}

// idleOne opens one idle connection and makes its round trip, accounting for it in led under
// mu. A connection refused carried nothing; one that failed after it wrote leaves the account
// inexact.
func idleOne(ctx context.Context, addr string, trip roundTrip, led *ledger, mu *sync.Mutex) (net.Conn, error) {
	c, err := dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	tc := &tripConn{Conn: c}
	answers, err := trip(tc)
	mu.Lock()
	led.Traffic = led.Traffic.plus(Traffic{BytesIn: tc.written, BytesOut: tc.read, Requests: answers})
	var wrong *wrongAnswer
	if err != nil && !errors.As(err, &wrong) && tc.written > 0 && led.lost == "" {
		led.lost = "an idle connection failed midway through its round trip: " + err.Error()
	}
	mu.Unlock()
	if err != nil {
		c.Close()
		return nil, err
	}
	_ = c.SetDeadline(time.Time{})
	return c, nil
}
