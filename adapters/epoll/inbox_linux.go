//go:build linux

package epoll

// The loop's inbox: tasks other goroutines post (AsyncWrite bytes, Post's functions, Close and
// Abort requests, accepted connections, Shutdown) and the eventfd wake-up that tells the loop to run them.

import (
	"encoding/binary"

	"github.com/reactorlab/reactor/reactor"
	"golang.org/x/sys/unix"
)

// op says what a task asks of the loop.
type op uint8

const (
	opWrite      op = iota // move n AsyncWrite bytes from the batch's data to c's outbound queue
	opShared               // queue b, an AsyncWriteShared slice, on c's outbound queue by reference
	opTaken                // an opWrite or opShared a Write already moved (takeInboxed): skip n
	opPost                 // run f on c (Post)
	opRequest              // act on c.req: a Close or Abort made outside the loop
	opAttach               // adopt c, accepted by another loop
	opDrain                // Shutdown: stop accepting, close every connection gracefully
	opKill                 // Shutdown's context ended, or a loop failed: abort every connection
	opResolved             // a dial's host name is looked up (dialing.resolved, rerr)
	opDialCancel           // a dial's context has ended
	opDialFail             // a dial failed with dialing.err, outside the callback that asked for it
)

type task struct {
	c  *conn
	op op
	n  int                // opWrite: bytes in the batch's data (0 for every other op)
	f  func(reactor.Conn) // opPost's function
	b  []byte             // opShared's bytes, held by reference
}

// batch is the loop's inbox: tasks, and the AsyncWrite bytes they refer to, back to back in one
// buffer. Two batches are swapped rather than reallocated, so steady traffic allocates nothing.
type batch struct {
	tasks []task
	data  []byte
}

// wakeBytes is the 8-byte counter increment written to an eventfd.
var wakeBytes = func() (b [8]byte) { binary.NativeEndian.PutUint64(b[:], 1); return }()

// post queues t for the loop and wakes it. It reports false when the loop has stopped.
func (l *loop) post(t task) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stopped {
		return false
	}
	l.pushLocked(t)
	return true
}

func (l *loop) pushLocked(t task) {
	l.inbox.tasks = append(l.inbox.tasks, t)
	l.posted.Store(true)
	if l.sleeping.Swap(false) {
		// Written under mu, which stop takes before closing the eventfd, so the descriptor
		// cannot be closed (and its number reused) between the check and the write.
		unix.Write(l.wakefd, wakeBytes[:])
	}
}

// postWrite queues a copy of p for c (AsyncWrite).
func (l *loop) postWrite(c *conn, p []byte) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stopped || c.req.Load() != 0 {
		return reactor.ErrConnClosed
	}
	if int(c.backlog.Load())+len(p) > l.maxOutbound {
		l.requestLocked(c, reqAbort, reactor.ErrOutboundFull)
		return reactor.ErrOutboundFull
	}
	c.backlog.Add(int64(len(p)))
	l.st.Buffer(len(p))
	l.inbox.data = append(l.inbox.data, p...)
	l.pushLocked(task{c: c, op: opWrite, n: len(p)})
	return nil
}

// postShared queues p itself for c (AsyncWriteShared): no copy, p is immutable.
func (l *loop) postShared(c *conn, p []byte) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stopped || c.req.Load() != 0 {
		return reactor.ErrConnClosed
	}
	if int(c.backlog.Load())+len(p) > l.maxOutbound {
		l.requestLocked(c, reqAbort, reactor.ErrOutboundFull)
		return reactor.ErrOutboundFull
	}
	c.backlog.Add(int64(len(p)))
	l.st.Buffer(len(p))
	l.pushLocked(task{c: c, op: opShared, b: p})
	return nil
}

// postFunc queues f to run on c's loop (Post).
func (l *loop) postFunc(c *conn, f func(reactor.Conn)) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stopped || c.req.Load()&reqEnding != 0 {
		return reactor.ErrConnClosed
	}
	l.pushLocked(task{c: c, op: opPost, f: f})
	return nil
}

// takeInboxed moves the AsyncWrite bytes for c still on their way into c's outbound queue, in
// the order they were posted, and marks their tasks done. Write calls it so that its bytes
// follow every AsyncWrite that happened before it. On the loop only, from c's own callback.
// Outside runTasks every such byte is in the inbox: OnData runs outside it, and an OnOpen run
// by an opAttach task is the first anyone hears of c, so AsyncWrites to it can only follow the
// swap. A posted function does run inside runTasks: AsyncWrites posted after its Post and
// before the swap wait further on in the batch being worked through, ahead of the inbox's.
func (l *loop) takeInboxed(c *conn) {
	if l.posting {
		l.work.take(c, l.workNext, l.workOff)
	}
	l.mu.Lock()
	l.inbox.take(c, 0, 0)
	l.mu.Unlock()
}

// take moves c's opWrite bytes from the tasks from task first on, whose data starts at off,
// into c's outbound queue, and marks those tasks opTaken.
func (b *batch) take(c *conn, first, off int) {
	for i := first; i < len(b.tasks); i++ {
		t := &b.tasks[i]
		switch {
		case t.op == opShared && t.c == c:
			c.out.WriteShared(t.b)
			t.op, t.b = opTaken, nil
		case t.op == opWrite && t.c == c:
			c.out.Write(b.data[off : off+t.n])
			t.op = opTaken
		}
		off += t.n
	}
}

// request records a Close or Abort for c and has the loop act on it.
func (l *loop) request(c *conn, r uint32, cause error) {
	l.mu.Lock()
	l.requestLocked(c, r, cause)
	l.mu.Unlock()
}

func (l *loop) requestLocked(c *conn, r uint32, cause error) {
	old := c.req.Or(r)
	if old&(reqAbort|reqClosed) != 0 || old&r != 0 {
		return // already on its way out, for this reason or a stronger one
	}
	if l.stopped {
		return
	}
	if r == reqAbort {
		if l.aborts == nil {
			l.aborts = make(map[*conn]error)
		}
		l.aborts[c] = cause
	}
	l.pushLocked(task{c: c, op: opRequest})
}

// handleRequest carries out the Close or Abort recorded in c.req.
func (l *loop) handleRequest(c *conn) {
	r := c.req.Load()
	switch {
	case r&reqAbort != 0:
		l.mu.Lock()
		cause, asked := l.aborts[c]
		delete(l.aborts, c) // a connection that closed meanwhile leaves nothing behind either
		l.mu.Unlock()
		if asked && c.state != stateClosed {
			l.abort(c, cause)
		}
	case r&reqClose != 0 && c.state != stateClosed:
		l.beginClose(c, nil)
	}
}

// runTasks takes the inbox and carries out what other goroutines asked for.
func (l *loop) runTasks() {
	if !l.posted.Load() {
		return
	}
	l.mu.Lock()
	l.inbox, l.work = l.work, l.inbox
	l.posted.Store(false)
	l.mu.Unlock()
	w := &l.work
	off := 0
	for i := range w.tasks {
		t := &w.tasks[i]
		switch t.op {
		case opWrite:
			// The second copy of an AsyncWrite: from the inbox into the connection's queue.
			// A closing connection still takes it: it was written before Close was asked.
			if c := t.c; c.state == stateOpen || c.state == stateClosing {
				c.out.Write(w.data[off : off+t.n])
				l.markDirty(c)
			}
			off += t.n
		case opShared:
			if c := t.c; c.state == stateOpen || c.state == stateClosing {
				c.out.WriteShared(t.b)
				l.markDirty(c)
			}
		case opTaken:
			off += t.n
		case opPost:
			// A connection that is closing, or asked to, drops what was posted to it.
			if c := t.c; c.state == stateOpen && c.req.Load()&reqEnding == 0 {
				l.workNext, l.workOff = i+1, off
				l.runPosted(c, t.f)
			}
		case opRequest:
			l.handleRequest(t.c)
		case opAttach:
			l.attach(t.c)
		case opDrain:
			l.drain()
		case opKill:
			l.kill(reactor.ErrServerClosed)
		case opResolved, opDialCancel, opDialFail:
			l.dialTask(t.c, t.op)
		}
		t.c, t.f, t.b = nil, nil, nil
	}
	w.tasks, w.data = w.tasks[:0], w.data[:0]
	if cap(w.data) > bigBatch {
		w.data = nil // a burst passed; do not hold its memory forever
	}
	if cap(w.tasks) > bigBatch/64 {
		w.tasks = nil
	}
}

// runPosted runs a posted function on c and leaves c to be settled with the others at the end
// of the round, so that what several functions and AsyncWrites give one connection goes out
// in one writev.
func (l *loop) runPosted(c *conn, f func(reactor.Conn)) {
	l.posting = true
	err := l.callFunc(c, f)
	l.posting = false
	if err != nil {
		l.abort(c, err)
		return
	}
	l.markDirty(c)
}
