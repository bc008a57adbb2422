package backendkit

import "sync"

// chunkSize is the size of one outbound chunk. Small writes (an HTTP response, a chat line)
// share a chunk, so a burst of them becomes one writev entry; large writes span chunks.
const chunkSize = 16 << 10

// shareMin is the least WriteShared queues by reference; shorter slices are copied.
const shareMin = 256

var chunkPool = sync.Pool{New: func() any { b := make([]byte, 0, chunkSize); return &b }}

// Outbound is a connection's queue of bytes waiting to be sent: a list of pooled chunks that a
// writev-style call sends at once. It copies what it is given, so callers may reuse their
// slices. Chunks go back to a shared pool as they drain, so an idle connection holds none and
// a busy one allocates nothing in steady state.
//
// Outbound does no locking; the owner serializes access (an event loop, or a mutex).
//
// WriteShared queues a caller's immutable slice by reference instead (a broadcast's line, the
// same for every recipient): it becomes an entry of its own, never written into, and is let go
// once sent, for the garbage collector to free when no queue holds it any more.
type Outbound struct {
	chunks []chunk
	head   int // bytes of chunks[0] already sent
	n      int // bytes pending
	vec    [][]byte
}

// chunk is one entry of the queue: a pooled buffer that writes fill (pool set, b its filled
// part) or a shared slice queued by reference (pool nil), which is never written into.
type chunk struct {
	b    []byte
	pool *[]byte
}

// Len returns the number of bytes pending.
func (q *Outbound) Len() int { return q.n }

// Write appends a copy of p.
func (q *Outbound) Write(p []byte) {
	q.n += len(p)
	for len(p) > 0 {
		k := len(q.chunks)
		if k == 0 || q.chunks[k-1].pool == nil || len(q.chunks[k-1].b) == cap(q.chunks[k-1].b) {
			buf := chunkPool.Get().(*[]byte)
			q.chunks = append(q.chunks, chunk{b: (*buf)[:0], pool: buf})
			k++
		}
		last := &q.chunks[k-1]
		room := min(cap(last.b)-len(last.b), len(p))
		last.b = append(last.b, p[:room]...)
		p = p[room:]
	}
}

// WriteShared appends p by reference, without copying it. p must never be modified again, by
// anyone: the queue keeps it until it is sent, and the same p may be queued on any number of
// connections at once. A p under shareMin bytes, or one that fits in the room left in the last
// chunk, is copied instead: there a copy costs less than an entry of its own (a writev slot,
// and a queue of tiny entries is slow to send and to shift).
func (q *Outbound) WriteShared(p []byte) {
	if len(p) == 0 {
		return
	}
	if k := len(q.chunks); len(p) < shareMin || k > 0 && q.chunks[k-1].pool != nil && cap(q.chunks[k-1].b)-len(q.chunks[k-1].b) >= len(p) {
		q.Write(p)
		return
	}
	q.n += len(p)
	q.chunks = append(q.chunks, chunk{b: p[:len(p):len(p)]})
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
		b := c.b
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
		left := len(q.chunks[drained].b) - q.head
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
		if c := q.chunks[i]; c.pool != nil {
			*c.pool = c.b[:0]
			chunkPool.Put(c.pool)
		}
		q.chunks[i] = chunk{}
	}
	rest := copy(q.chunks, q.chunks[k:])
	q.chunks = q.chunks[:rest]
	if rest == 0 && cap(q.chunks) > 4 {
		// After a burst, an idle connection keeps no large arrays; small ones stay so that
		// steady request/response traffic allocates nothing.
		q.chunks, q.vec = nil, nil
	}
}
