package bench

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// echoLoad is the built-in echo load generator: every connection sends a message of size
// bytes, reads the same number back and checks them byte for byte, then sends the next. Each
// message carries its sequence number, so bytes echoed late, twice or from another message
// do not pass.
type echoLoad struct {
	addr  string
	conns int
	size  int
	errs  *tally

	ops      []counter
	wire     []echoWire // by worker
	open     connSet
	stopping atomic.Bool
	wg       sync.WaitGroup
}

// echoWire is what one echo worker's connections carried, for the audit; read only once the
// worker has exited.
type echoWire struct{ written, read int64 }

func newEchoLoad(addr string, conns, size int, errs *tally) *echoLoad {
	if size < 1 {
		size = 1
	}
	return &echoLoad{addr: addr, conns: conns, size: size, errs: errs}
}

func (l *echoLoad) begin(ctx context.Context, deadline time.Time) error {
	l.ops = make([]counter, l.conns)
	l.wire = make([]echoWire, l.conns)
	for i := range l.ops {
		l.wg.Add(1)
		go func(i int) {
			defer l.wg.Done()
			l.work(ctx, i, deadline)
		}(i)
	}
	return nil
}

func (l *echoLoad) snapshot() (int64, int64) {
	var n int64
	for i := range l.ops {
		n += l.ops[i].n.Load()
	}
	return n, n * int64(l.size)
}

func (l *echoLoad) traffic() Traffic {
	var t Traffic
	for _, w := range l.wire {
		t.BytesIn += w.written
		t.BytesOut += w.read
	}
	return t
}

func (l *echoLoad) measure(bool)        {}
func (l *echoLoad) latency() *Histogram { return nil }

func (l *echoLoad) end() {
	l.stopping.Store(true)
	l.open.expire(time.Now().Add(graceAfterRun))
	l.wg.Wait()
}

func (l *echoLoad) work(ctx context.Context, idx int, deadline time.Time) {
	msg := make([]byte, l.size)
	for i := range msg {
		msg[i] = byte(i*31 + idx)
	}
	got := make([]byte, l.size)
	wire := &l.wire[idx]
	var seq uint64
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
		for !l.stopping.Load() {
			seq++
			stamp(msg, seq)
			var n int
			n, err = c.Write(msg)
			wire.written += int64(n)
			if err == nil {
				n, err = io.ReadFull(c, got)
				wire.read += int64(n)
			}
			if err != nil {
				l.ioError(err)
				break
			}
			if !bytes.Equal(got, msg) {
				l.errs.add(errMismatch, 1, "echoed bytes differ from those sent: "+quote(got))
				break
			}
			l.ops[idx].n.Add(1)
		}
		l.open.remove(c)
		c.Close()
	}
}

// stamp writes seq into the start of msg (as much of it as fits).
func stamp(msg []byte, seq uint64) {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], seq)
	copy(msg, b[:])
}

func (l *echoLoad) ioError(err error) {
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		l.errs.add(errTimeout, 1, "echo not complete before the run's deadline")
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		l.errs.add(errClosed, 1, "server closed the connection mid-echo")
	default:
		if !l.stopping.Load() {
			l.errs.add(errIO, 1, err.Error())
		}
	}
}
