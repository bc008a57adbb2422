package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

const (
	// bulkChunk is what a bulk writer hands the socket at once, and the most a reader checks
	// at once.
	bulkChunk = 64 << 10
	// bulkWindow is the most a bulk connection's writer may be ahead of its reader. Bounding it
	// keeps every buffer on the way — the proxy's, and the upstream echo server's, which
	// drops a connection past 1 MiB of pending output — small, whatever the proxy's own
	// backpressure does: what is measured is the relay, not how deep the queues may grow.
	bulkWindow = 256 << 10
	// bulkPeriod is the length of the pattern a bulk stream repeats: a prime, so that a
	// stream that lost or doubled any run of bytes other than a multiple of it (never a whole
	// number of chunks) no longer matches.
	bulkPeriod = 65521
	// mebibyte is the unit of the bulk scenario's throughput and cost.
	mebibyte = 1 << 20
)

// bulkLoad is the streaming generator of the proxy bulk scenario: on each of conns connections
// a writer sends a stream of pseudo-random bytes, never more than bulkWindow ahead of a reader
// that reads the echoed stream back at the same time and compares every byte with what was
// sent. When the run ends the writer half-closes its side, and the reader must then get the
// rest of the stream and the end of it — which a proxy passes on only if it relays the
// half-close both ways. A connection's stream starts at its own place in the pattern, so
// bytes from another connection do not pass either.
type bulkLoad struct {
	addr  string
	conns int
	errs  *tally

	pat      []byte    // pat[i] = pat[i%bulkPeriod]: any chunk from any place in the period is a slice
	got      []counter // bytes read back and checked, by worker
	sent     []counter // bytes written, by worker
	open     connSet
	stop     chan struct{} // closed by end
	stopping atomic.Bool
	wg       sync.WaitGroup
}

func newBulkLoad(addr string, conns int, errs *tally) *bulkLoad {
	rng := rand.New(rand.NewPCG(1, 2))
	pat := make([]byte, bulkPeriod+bulkChunk)
	for i := range pat {
		if i < bulkPeriod {
			pat[i] = byte(rng.Uint32())
		} else {
			// Byte by byte, not copy: a chunk is longer than the period, so the repeat
			// reaches into itself.
			pat[i] = pat[i-bulkPeriod]
		}
	}
	return &bulkLoad{addr: addr, conns: conns, errs: errs, pat: pat, stop: make(chan struct{})}
}

func (l *bulkLoad) begin(ctx context.Context, deadline time.Time) error {
	l.got = make([]counter, l.conns)
	l.sent = make([]counter, l.conns)
	for i := range l.got {
		l.wg.Add(1)
		go func(i int) {
			defer l.wg.Done()
			l.work(ctx, i, deadline)
		}(i)
	}
	return nil
}

// snapshot counts whole MiB as operations; the runner takes the bytes for the exact figure.
func (l *bulkLoad) snapshot() (int64, int64) {
	var n int64
	for i := range l.got {
		n += l.got[i].n.Load()
	}
	return n / mebibyte, n
}

// traffic is what the streams carried: every byte written, and every byte read back.
func (l *bulkLoad) traffic() Traffic {
	var t Traffic
	for i := range l.got {
		t.BytesIn += l.sent[i].n.Load()
		t.BytesOut += l.got[i].n.Load()
	}
	return t
}

func (l *bulkLoad) measure(bool)        {}
func (l *bulkLoad) latency() *Histogram { return nil }

func (l *bulkLoad) end() {
	l.stopping.Store(true)
	close(l.stop)
	l.open.expire(time.Now().Add(graceAfterRun))
	l.wg.Wait()
}

// work streams on one connection at a time until the run stops, reconnecting after an error.
func (l *bulkLoad) work(ctx context.Context, idx int, deadline time.Time) {
	for !l.stopping.Load() && ctx.Err() == nil {
		c, err := dialer.DialContext(ctx, "tcp", l.addr)
		if err != nil {
			if ctx.Err() == nil && !l.stopping.Load() {
				l.errs.add(errConnect, 1, err.Error())
				time.Sleep(retryPause)
			}
			continue
		}
		l.open.add(c, deadline)
		l.stream(c, idx)
		l.open.remove(c)
		c.Close()
	}
}

// stream runs one connection's writer and reader until the run stops and the whole stream
// has come back, or until something goes wrong (counted in l.errs).
func (l *bulkLoad) stream(c net.Conn, idx int) {
	start := idx * 7919 % bulkPeriod
	credit := make(chan struct{}, bulkWindow/bulkChunk)
	quit := make(chan struct{}) // closed by the reader when it gives up
	var sent atomic.Int64
	var halfClosing atomic.Bool
	wrote := make(chan error, 1)
	// The writer exits when the run stops (after half-closing), when the reader gives up, or
	// when a write fails.
	go func() {
		off := start
		for {
			select {
			case credit <- struct{}{}:
			case <-l.stop:
				halfClosing.Store(true)
				wrote <- closeWrite(c)
				return
			case <-quit:
				wrote <- nil
				return
			}
			p := off % bulkPeriod
			if _, err := c.Write(l.pat[p : p+bulkChunk]); err != nil {
				wrote <- err
				return
			}
			sent.Add(bulkChunk)
			l.sent[idx].n.Add(bulkChunk)
			off += bulkChunk
		}
	}()
	// giveUp stops the writer and returns what it reported.
	giveUp := func() error {
		close(quit)
		c.Close()
		return <-wrote
	}
	buf := make([]byte, bulkChunk)
	var recv, released int64
	off := start
	for {
		n, err := c.Read(buf)
		if n > 0 {
			p := off % bulkPeriod
			if !bytes.Equal(buf[:n], l.pat[p:p+n]) {
				giveUp()
				l.errs.add(errMismatch, 1, fmt.Sprintf("streamed bytes differ from those sent, %d bytes into the stream", recv))
				return
			}
			recv += int64(n)
			off = (off + n) % bulkPeriod
			l.got[idx].n.Add(int64(n))
			// Each chunk read back lets the writer send one more.
			for recv-released >= bulkChunk {
				<-credit
				released += bulkChunk
			}
		}
		switch {
		case err == nil:
			continue
		case errors.Is(err, io.EOF) && halfClosing.Load():
			// The end of the stream after ours: everything sent must have come back.
			switch werr := <-wrote; {
			case werr != nil:
				l.errs.add(errIO, 1, "half-closing the stream: "+werr.Error())
			case recv != sent.Load():
				l.errs.add(errClosed, 1, fmt.Sprintf("the stream ended %d bytes short of the %d sent", sent.Load()-recv, sent.Load()))
			}
		case errors.Is(err, io.EOF):
			giveUp()
			l.errs.add(errClosed, 1, fmt.Sprintf("the proxy ended the stream before the client did, %d bytes into it", recv))
		default:
			giveUp()
			l.ioError(err)
		}
		return
	}
}

// closeWrite half-closes c when it can; a connection that cannot is closed, which its reader
// then reports.
func closeWrite(c net.Conn) error {
	if hc, ok := c.(interface{ CloseWrite() error }); ok {
		return hc.CloseWrite()
	}
	return c.Close()
}

// ioError counts a failed read. The stream ends gracefully, so even at the end of the run an
// error is the proxy's.
func (l *bulkLoad) ioError(err error) {
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		l.errs.add(errTimeout, 1, "the stream was not back, or not ended, before the run's deadline")
	case errors.Is(err, io.ErrUnexpectedEOF):
		l.errs.add(errClosed, 1, "the proxy closed the connection mid-stream")
	default:
		l.errs.add(errIO, 1, "reading the stream back: "+err.Error())
	}
}
