package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"net"
	"sync"
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
// count of sweep in turn (cumulatively), each doing one echo round trip, and measures again.
// The connections are closed before it returns. Without a server process of ours (pid ≤ 0) it
// still opens the connections but memory is NaN.
func idleSweep(ctx context.Context, addr string, pid int, sweep []int, errs *tally) ([]IdlePoint, error) {
	base := settledRSS(ctx, pid)
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	var points []IdlePoint
	for _, n := range sweep {
		if n <= len(conns) {
			continue
		}
		more, err := openIdle(ctx, addr, n-len(conns), echoTrip, errs)
		conns = append(conns, more...)
		if err != nil {
			return points, err
		}
		rss := settledRSS(ctx, pid)
		p := IdlePoint{Conns: len(conns), RSS: rss, PerConn: nan}
		if pid > 0 && len(conns) > 0 {
			p.PerConn = Num(float64(rss-base) / float64(len(conns)))
		}
		points = append(points, p)
	}
	return points, ctx.Err()
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
// server speaks; it returns an error when the answer is missing or wrong.
type roundTrip func(c net.Conn) error

// echoTrip sends idlePing and expects it back.
func echoTrip(c net.Conn) error {
	got := make([]byte, len(idlePing))
	_, err := c.Write(idlePing)
	if err == nil {
		_, err = io.ReadFull(c, got)
	}
	if err == nil && !bytes.Equal(got, idlePing) {
		err = fmt.Errorf("idle round trip: got %q, want %q", got, idlePing)
	}
	return err
}

// httpTrip makes one keep-alive GET /plaintext and validates the answer, so an idle HTTP
// connection rests the way a browser's does: between requests, not before the first.
func httpTrip(c net.Conn) error {
	if _, err := io.WriteString(c, plaintextRequest); err != nil {
		return err
	}
	buf := make([]byte, 0, 512)
	for {
		if len(buf) == cap(buf) {
			return fmt.Errorf("idle round trip: response larger than %d bytes", cap(buf))
		}
		m, err := c.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+m]
		n, kind := checkResponse(buf)
		switch {
		case kind >= 0:
			return fmt.Errorf("idle round trip: %s answer %s", kind, quote(buf))
		case n > 0 && n != len(buf):
			return fmt.Errorf("idle round trip: %d bytes after the answer", len(buf)-n)
		case n > 0:
			return nil
		case err != nil:
			return err
		}
	}
}

// openIdle opens n connections, each after one round trip. Connections that fail are counted
// in errs; an error is returned only when ctx ends.
func openIdle(ctx context.Context, addr string, n int, trip roundTrip, errs *tally) ([]net.Conn, error) {
	var (
		mu    sync.Mutex
		conns = make([]net.Conn, 0, n)
		wg    sync.WaitGroup
		next  = make(chan struct{}, n)
	)
	for i := 0; i < n; i++ {
		next <- struct{}{}
	}
	close(next)
	for w := 0; w < idleDialers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range next {
				if ctx.Err() != nil {
					return
				}
				c, err := idleOne(ctx, addr, trip)
				if err != nil {
					errs.add(errConnect, 1, err.Error())
					continue
				}
				mu.Lock()
				conns = append(conns, c)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return conns, ctx.Err()
}

func idleOne(ctx context.Context, addr string, trip roundTrip) (net.Conn, error) {
	c, err := dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if err = trip(c); err != nil {
		c.Close()
		return nil, err
	}
	_ = c.SetDeadline(time.Time{})
	return c, nil
}
