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
// do not pass. Closed loop (rate 0) the next message leaves as soon as the answer is in; at a
// fixed rate the messages of all connections leave on a schedule adding up to rate per second,
// and each round trip's latency is counted from when it was due (see httpLoad).
type echoLoad struct {
	addr  string
	conns int
	size  int
	rate  int
	errs  *tally

	workers   []echoWorker
	open      connSet
	stopping  atomic.Bool
	measuring atomic.Bool
	wg        sync.WaitGroup
}

type echoWorker struct {
	ops  counter
	hist Histogram
	// wire is what the worker's connections carried, for the audit; read only once the
	// worker has exited.
	wire echoWire
}

// echoWire is what one echo worker's connections carried.
type echoWire struct{ written, read int64 }

func newEchoLoad(addr string, conns, size, rate int, errs *tally) *echoLoad {
	if size < 1 {
		size = 1
	}
	return &echoLoad{addr: addr, conns: conns, size: size, rate: rate, errs: errs}
}

func (l *echoLoad) begin(ctx context.Context, deadline time.Time) error {
	l.workers = make([]echoWorker, l.conns)
	start := time.Now()
	for i := range l.workers {
		l.wg.Add(1)
		go func(i int) {
			defer l.wg.Done()
			l.work(ctx, i, start, deadline)
		}(i)
	}
	return nil
}

func (l *echoLoad) snapshot() (int64, int64) {
	var n int64
	for i := range l.workers {
		n += l.workers[i].ops.n.Load()
	}
	return n, n * int64(l.size)
}

func (l *echoLoad) traffic() Traffic {
	var t Traffic
	for i := range l.workers {
		t.BytesIn += l.workers[i].wire.written
		t.BytesOut += l.workers[i].wire.read
	}
	return t
}

func (l *echoLoad) measure(on bool) { l.measuring.Store(on) }

func (l *echoLoad) latency() *Histogram {
	if l.rate <= 0 {
		return nil
	}
	h := new(Histogram)
	for i := range l.workers {
		h.Merge(&l.workers[i].hist)
	}
	return h
}

func (l *echoLoad) end() {
	l.stopping.Store(true)
	l.open.expire(time.Now().Add(graceAfterRun))
	l.wg.Wait()
}

func (l *echoLoad) work(ctx context.Context, idx int, start, deadline time.Time) {
	w := &l.workers[idx]
	msg := make([]byte, l.size)
	for i := range msg {
		msg[i] = byte(i*31 + idx)
	}
	got := make([]byte, l.size)
	var seq uint64
	var interval time.Duration
	next := start
	if l.rate > 0 {
		interval = time.Duration(float64(time.Second) * float64(l.conns) / float64(l.rate))
		// Spread the connections' schedules over one interval (see httpLoad.work).
		next = start.Add(interval * time.Duration(idx) / time.Duration(l.conns))
	}
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
			// At a fixed rate the clock starts when the message was due if it leaves late
			// because the previous answer was late, and when it leaves if the generator slept.
			var from time.Time
			if l.rate > 0 {
				from = next
				if d := time.Until(next); d > 0 {
					time.Sleep(d)
					from = time.Now()
				}
				next = next.Add(interval)
			}
			seq++
			stamp(msg, seq)
			var n int
			n, err = c.Write(msg)
			w.wire.written += int64(n)
			if err == nil {
				n, err = io.ReadFull(c, got)
				w.wire.read += int64(n)
			}
			if err != nil {
				l.ioError(err)
				break
			}
			if !bytes.Equal(got, msg) {
				l.errs.add(errMismatch, 1, "echoed bytes differ from those sent: "+quote(got))
				break
			}
			w.ops.n.Add(1)
			if l.rate > 0 && l.measuring.Load() {
				w.hist.Record(time.Since(from))
			}
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
