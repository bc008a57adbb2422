package bench

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// httpLoad is the built-in HTTP load generator. Closed loop (rate 0): every connection sends
// depth requests in one write and reads the depth answers before sending again — depth 1 is
// plain keep-alive, more is pipelining. Fixed rate (rate > 0): requests leave on a schedule
// that adds up to rate per second over all connections, one at a time per connection, and
// when a request leaves late because the previous answer was late, its latency is counted
// from the moment it was due, so a server that falls behind is charged for the queueing it
// caused (no coordinated omission). Churn (close set): every connection carries one request
// with Connection: close and is read to the server's end of stream before the next is dialled,
// so what is measured is the cost of a connection — accept, set-up, close — more than that of
// a request.
type httpLoad struct {
	addr  string
	conns int
	depth int
	rate  int
	close bool
	errs  *tally

	workers   []httpWorker
	open      connSet
	stopping  atomic.Bool
	measuring atomic.Bool
	wg        sync.WaitGroup
}

type httpWorker struct {
	ops  counter
	hist Histogram
	// What the worker's connections carried, for the audit; read only once it has exited.
	written, read, answers int64
}

func newHTTPLoad(addr string, conns, depth, rate int, errs *tally) *httpLoad {
	if depth < 1 || rate > 0 {
		depth = 1
	}
	return &httpLoad{addr: addr, conns: conns, depth: depth, rate: rate, errs: errs}
}

// newCloseLoad is the churn generator: conns workers, each with one connection at a time that
// carries one request with Connection: close.
func newCloseLoad(addr string, conns int, errs *tally) *httpLoad {
	return &httpLoad{addr: addr, conns: conns, depth: 1, close: true, errs: errs}
}

func (l *httpLoad) begin(ctx context.Context, deadline time.Time) error {
	l.workers = make([]httpWorker, l.conns)
	start := time.Now()
	for i := range l.workers {
		l.wg.Add(1)
		go func(i int) {
			defer l.wg.Done()
			l.work(ctx, &l.workers[i], i, start, deadline)
		}(i)
	}
	return nil
}

func (l *httpLoad) snapshot() (int64, int64) {
	var n int64
	for i := range l.workers {
		n += l.workers[i].ops.n.Load()
	}
	return n, 0
}

func (l *httpLoad) measure(on bool) { l.measuring.Store(on) }

func (l *httpLoad) end() {
	l.stopping.Store(true)
	l.open.expire(time.Now().Add(graceAfterRun))
	l.wg.Wait()
}

func (l *httpLoad) traffic() Traffic {
	var t Traffic
	for i := range l.workers {
		w := &l.workers[i]
		t = t.plus(Traffic{BytesIn: w.written, BytesOut: w.read, Requests: w.answers})
	}
	return t
}

func (l *httpLoad) latency() *Histogram {
	if l.rate <= 0 {
		return nil
	}
	h := new(Histogram)
	for i := range l.workers {
		h.Merge(&l.workers[i].hist)
	}
	return h
}

// work is one connection's loop; it reconnects after an error until the run stops.
func (l *httpLoad) work(ctx context.Context, w *httpWorker, idx int, start, deadline time.Time) {
	req := bytes.Repeat([]byte(plaintextRequest), l.depth)
	if l.close {
		req = []byte(closeRequest)
	}
	buf := make([]byte, 64<<10)
	var interval time.Duration
	next := start
	if l.rate > 0 {
		interval = time.Duration(float64(time.Second) * float64(l.conns) / float64(l.rate))
		// Spread the connections' schedules over one interval so requests do not leave in
		// bursts of l.conns.
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
		switch {
		case l.close:
			l.once(c, w, req, buf)
		case l.rate > 0:
			next = l.paced(c, w, req, buf, next, interval)
		default:
			l.closed(c, w, req, buf)
		}
		l.open.remove(c)
		c.Close()
	}
}

// closed runs the closed loop on one connection until the run stops or the connection fails.
func (l *httpLoad) closed(c net.Conn, w *httpWorker, req, buf []byte) {
	for !l.stopping.Load() {
		ok, fine := l.exchange(c, w, req, buf, l.depth)
		w.ops.n.Add(int64(ok))
		if !fine {
			return
		}
	}
}

// once makes c's only exchange and reads on until the server ends the stream, as it must after
// answering Connection: close. The connection counts as one operation only then: an answer
// followed by silence would leave the client holding a connection the server was asked to
// drop.
func (l *httpLoad) once(c net.Conn, w *httpWorker, req, buf []byte) {
	ok, fine := l.exchange(c, w, req, buf, 1)
	if !fine {
		return
	}
	n, err := c.Read(buf)
	w.read += int64(n)
	switch {
	case n > 0:
		l.errs.add(errMalformed, 1, "bytes after the answer to Connection: close: "+quote(buf[:n]))
	case errors.Is(err, io.EOF):
		w.ops.n.Add(int64(ok))
	case errors.Is(err, os.ErrDeadlineExceeded):
		l.errs.add(errTimeout, 1, "connection still open after the answer to Connection: close")
	case !l.stopping.Load():
		l.errs.add(errIO, 1, "reading the end of stream after the answer: "+err.Error())
	}
}

// paced sends one request per interval on c, starting at next, and returns the next due time.
func (l *httpLoad) paced(c net.Conn, w *httpWorker, req, buf []byte, next time.Time, interval time.Duration) time.Time {
	for !l.stopping.Load() {
		// The clock starts at the due time when the request is late because the server was
		// slow to answer the previous one (that queueing is the server's), and at the real
		// send time when the generator slept: a timer firing late is the generator's own
		// delay, not the server's.
		from := next
		if d := time.Until(next); d > 0 {
			time.Sleep(d)
			from = time.Now()
		}
		ok, fine := l.exchange(c, w, req, buf, 1)
		if ok > 0 {
			w.ops.n.Add(1)
			if l.measuring.Load() {
				w.hist.Record(time.Since(from))
			}
		}
		next = next.Add(interval)
		if !fine {
			return next
		}
	}
	return next
}

// exchange writes req (n requests) and reads n answers, validating each. It returns how many
// answers were right, and false when the connection must be dropped (an error that leaves the
// stream out of step, or a dead connection). Wrong answers and missing ones are counted in
// l.errs; the bytes each way and the answers read, right or wrong, in w.
func (l *httpLoad) exchange(c net.Conn, w *httpWorker, req, buf []byte, n int) (ok int, fine bool) {
	wrote, err := c.Write(req)
	w.written += int64(wrote)
	if err != nil {
		l.ioError(err, n)
		return 0, false
	}
	have, off, pending := 0, 0, n
	for pending > 0 {
		if have == len(buf) {
			if off == 0 {
				l.errs.add(errMalformed, int64(pending), "response larger than the read buffer")
				return ok, false
			}
			have = copy(buf, buf[off:have])
			off = 0
		}
		m, err := c.Read(buf[have:])
		have += m
		w.read += int64(m)
		for pending > 0 {
			size, kind := checkResponse(buf[off:have])
			if size == 0 {
				break
			}
			if size < 0 {
				l.errs.add(errMalformed, int64(pending), "unparsable response: "+quote(buf[off:have]))
				return ok, false
			}
			w.answers++
			if kind >= 0 {
				l.errs.add(kind, 1, "wrong response: "+quote(buf[off:off+size]))
			} else {
				ok++
			}
			off += size
			pending--
		}
		if err != nil && pending > 0 {
			l.ioError(err, pending)
			return ok, false
		}
	}
	if off != have {
		l.errs.add(errMalformed, 1, "bytes after the last expected response: "+quote(buf[off:have]))
		return ok, false
	}
	return ok, true
}

// ioError counts the pending answers lost to err under the kind that explains them.
func (l *httpLoad) ioError(err error, pending int) {
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		l.errs.add(errTimeout, int64(pending), "no answer before the run's deadline")
	case errors.Is(err, io.EOF):
		l.errs.add(errClosed, int64(pending), "server closed the connection with answers owed")
	default:
		if !l.stopping.Load() {
			l.errs.add(errIO, int64(pending), err.Error())
		}
	}
}

// quote shortens b and quotes it Go-style for an error sample, so control bytes stay visible
// and the sample stays on one line.
func quote(b []byte) string {
	const max = 80
	if len(b) > max {
		b = b[:max]
	}
	return strconv.Quote(string(b))
}
