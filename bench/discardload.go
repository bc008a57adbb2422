package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// discardLoad is the generator of proto discard: on each of conns connections a writer sends
// bulkChunk-byte writes as fast as the server takes them, and reads nothing back until the run
// ends; then it half-closes and must get the end of the stream with not one byte before it. A
// MiB written is the operation: a discard server that keeps up is limited only by how fast it
// reads, and one that stalls a sender shows as a low rate, not as an error.
type discardLoad struct {
	addr  string
	conns int
	errs  *tally

	chunk    []byte
	sent     []counter // bytes written, by worker
	open     connSet
	stop     chan struct{} // closed by end
	stopping atomic.Bool
	wg       sync.WaitGroup
}

func newDiscardLoad(addr string, conns int, errs *tally) *discardLoad {
	chunk := make([]byte, bulkChunk)
	for i := range chunk {
		chunk[i] = byte(i * 31)
	}
	return &discardLoad{addr: addr, conns: conns, errs: errs, chunk: chunk, stop: make(chan struct{})}
}

func (l *discardLoad) begin(ctx context.Context, deadline time.Time) error {
	l.sent = make([]counter, l.conns)
	for i := range l.sent {
		l.wg.Add(1)
		go func(i int) {
			defer l.wg.Done()
			l.work(ctx, i, deadline)
		}(i)
	}
	return nil
}

// snapshot counts whole MiB as operations; the runner takes the bytes for the exact figure.
func (l *discardLoad) snapshot() (int64, int64) {
	var n int64
	for i := range l.sent {
		n += l.sent[i].n.Load()
	}
	return n / mebibyte, n
}

// traffic is every byte written; a discard server sends none back.
func (l *discardLoad) traffic() Traffic {
	var t Traffic
	for i := range l.sent {
		t.BytesIn += l.sent[i].n.Load()
	}
	return t
}

func (l *discardLoad) measure(bool)        {}
func (l *discardLoad) latency() *Histogram { return nil }

func (l *discardLoad) end() {
	l.stopping.Store(true)
	close(l.stop)
	l.open.expire(time.Now().Add(graceAfterRun))
	l.wg.Wait()
}

// work streams on one connection at a time until the run stops, reconnecting after an error.
func (l *discardLoad) work(ctx context.Context, idx int, deadline time.Time) {
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

// stream writes until the run stops, then half-closes and reads to the end of the stream,
// which must come with no bytes: errors are counted in l.errs.
func (l *discardLoad) stream(c net.Conn, idx int) {
	// A reader watches for bytes, or an early end, while the writer writes.
	read := make(chan error, 1)
	var got atomic.Int64
	go func() {
		n, err := io.Copy(io.Discard, c)
		got.Store(n)
		read <- err
	}()
	for !l.stopping.Load() {
		if _, err := c.Write(l.chunk); err != nil {
			c.Close()
			<-read
			if !l.stopping.Load() {
				l.ioError("writing", err)
			}
			return
		}
		l.sent[idx].n.Add(bulkChunk)
		select {
		case err := <-read:
			// The server ended or broke the stream while we were sending.
			if err == nil {
				l.errs.add(errClosed, 1, fmt.Sprintf("the server ended the stream after %d bytes, while the client was sending", l.sent[idx].n.Load()))
			} else {
				l.ioError("reading", err)
			}
			return
		default:
		}
	}
	if err := closeWrite(c); err != nil {
		l.ioError("half-closing", err)
	}
	switch err := <-read; {
	case err != nil:
		l.ioError("reading", err)
	case got.Load() != 0:
		l.errs.add(errMismatch, 1, fmt.Sprintf("a discard server sent %d bytes", got.Load()))
	}
}

func (l *discardLoad) ioError(what string, err error) {
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		l.errs.add(errTimeout, 1, "the server did not end the stream before the run's deadline")
	default:
		l.errs.add(errIO, 1, what+": "+err.Error())
	}
}
