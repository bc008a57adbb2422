package backendkit

import "sync"

// chunkSize is the size of one outbound chunk. Small writes (an HTTP response, a chat line)
// share a chunk, so a burst of them becomes one writev entry; large writes span chunks.
const chunkSize = 16 << 10

var chunkPool = sync.Pool{New: func() any { b := make([]byte, 0, chunkSize); return &b }}

// Outbound is a connection's queue of bytes waiting to be sent: a list of pooled chunks that a
// writev-style call sends at once. It copies what it is given, so callers may reuse their
// slices. Chunks go back to a shared pool as they drain, so an idle connection holds none and
// a busy one allocates nothing in steady state.
//
// Outbound does no locking; the owner serializes access (an event loop, or a mutex).
type Outbound struct {
	chunks []*[]byte
	head   int // bytes of chunks[0] already sent
	n      int // bytes pending
	vec    [][]byte
}

// Len returns the number of bytes pending.
func (q *Outbound) Len() int { return q.n }

// Write appends a copy of p.
func (q *Outbound) Write(p []byte) {
	q.n += len(p)
	for len(p) > 0 {
		var last *[]byte
		if k := len(q.chunks); k > 0 && cap(*q.chunks[k-1])-len(*q.chunks[k-1]) > 0 {
			last = q.chunks[k-1]
		} else {
			last = chunkPool.Get().(*[]byte)
			*last = (*last)[:0]
			q.chunks = append(q.chunks, last)
		}
		room := cap(*last) - len(*last)
		if room > len(p) {
			room = len(p)
		}
		*last = append(*last, p[:room]...)
		p = p[room:]
	}
}

// Buffers returns the pending bytes as slices for one vectored write, at most max of them
// (0: all). The slices stay valid until the next Write, Discard or Reset. The list is q's
// own, kept for the next call.
func (q *Outbound) Buffers(max int) [][]byte {
	q.vec = q.AppendBuffers(q.vec[:0], max)
	return q.vec
}

// AppendBuffers is Buffers into dst: it appends the slices to dst and returns it. A backend
// that flushes its connections one at a time can pass one list of its own for all of them,
// and so spare every connection that has written the list Buffers keeps in q.
func (q *Outbound) AppendBuffers(dst [][]byte, max int) [][]byte {
	for i, c := range q.chunks {
		if max > 0 && i == max {
			break
		}
		b := *c
		if i == 0 {
			b = b[q.head:]
		}
		dst = append(dst, b)
	}
	return dst
}

// Discard drops the first n pending bytes (those a write sent) and recycles drained chunks.
func (q *Outbound) Discard(n int) {
	if n > q.n {
		n = q.n
	}
	q.n -= n
	drained := 0
	for n > 0 {
		left := len(*q.chunks[drained]) - q.head
		if n < left {
			q.head += n
			break
		}
		n -= left
		q.head = 0
		drained++
	}
	if q.n == 0 && drained < len(q.chunks) {
		// Everything sent: the last chunk is empty but may still sit in the list.
		drained = len(q.chunks)
		q.head = 0
	}
	q.recycle(drained)
}

// Reset drops everything pending.
func (q *Outbound) Reset() {
	q.n, q.head = 0, 0
	q.recycle(len(q.chunks))
}

func (q *Outbound) recycle(k int) {
	if k == 0 {
		return
	}
	for i := 0; i < k; i++ {
		chunkPool.Put(q.chunks[i])
		q.chunks[i] = nil
	}
	rest := copy(q.chunks, q.chunks[k:])
	q.chunks = q.chunks[:rest]
	if rest == 0 && cap(q.chunks) > 4 {
		// After a burst, an idle connection keeps no large arrays; small ones stay so that
		// steady request/response traffic allocates nothing.
		q.chunks, q.vec = nil, nil
	}
}
