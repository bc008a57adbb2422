// Package echo is the simplest protocol: every byte received is sent back, unchanged and in
// order. It is what tcpkali-style load generators use, and the baseline cost of a backend.
//
// With a Tag, each reply is prefixed with who served it, as the classic forking and threading
// echo servers answered "<pid>: <msg>" and "<thread>: <msg>": the visible proof of which
// process, thread or event loop ran the callback.
package echo

import (
	"errors"
	"fmt"
	"os"
	"strconv"

	"github.com/reactorlab/reactor/reactor"
)

// Tag is what a Handler writes before each reply.
type Tag int

const (
	// NoTag echoes the bytes alone: the default.
	NoTag Tag = iota
	// PID writes "<pid>: ", the ID of the process serving the connection. Under prefork
	// (--procs) each worker has its own.
	PID
	// Thread writes "<tid>: ", the ID of the OS thread running the callback (gettid(2), the
	// number ps -L shows). It is Linux only. On a backend whose callbacks run on goroutines that
	// the Go scheduler moves between threads (std, the event loops), it changes from call to
	// call; it stays put only where a connection or loop is locked to its thread.
	Thread
	// Loop writes "<n>: ", the index from 0 of the event loop that owns the connection. It needs
	// a backend whose connections report their loop (a Conn with a Loop() int method: epoll,
	// poll and select); elsewhere a connection is told so and closed.
	Loop
)

var tagNames = [...]string{NoTag: "none", PID: "pid", Thread: "thread", Loop: "loop"}

// String is the name ParseTag reads.
func (t Tag) String() string {
	if t >= 0 && int(t) < len(tagNames) {
		return tagNames[t]
	}
	return "tag(" + strconv.Itoa(int(t)) + ")"
}

// ParseTag reads a Tag's name: "none" (or ""), "pid", "thread" or "loop". Thread is refused
// where the system has no thread IDs to show.
func ParseTag(s string) (Tag, error) {
	switch s {
	case "", "none":
		return NoTag, nil
	case "pid":
		return PID, nil
	case "thread":
		if _, err := gettid(); err != nil {
			return NoTag, err
		}
		return Thread, nil
	case "loop":
		return Loop, nil
	}
	return NoTag, fmt.Errorf("echo: unknown tag %q (want none, pid, thread or loop)", s)
}

// ErrNoLoop is the reason a TagLoop connection is closed on a backend that does not report its
// loops.
var ErrNoLoop = errors.New("echo: this backend does not report event loops; --echo-tag loop works on epoll, poll and select")

// Handler echoes. The zero value is ready to use and holds no state, so one Handler serves
// every connection of a backend.
type Handler struct {
	// Tag prefixes each reply: the tag goes before the bytes of each OnData, the counterpart of
	// the classic servers' one recv, one reply. Bytes typed at a terminal arrive a line at a
	// time, so each line gets its tag; a stream gets one per read, wherever reads fell.
	Tag Tag
}

// looper is a Conn that tells which event loop owns it.
type looper interface{ Loop() int }

// OnOpen does nothing, unless the tag needs what the connection cannot tell (Loop).
func (h Handler) OnOpen(c reactor.Conn) {
	if h.Tag == NoTag {
		return
	}
	if _, ok := c.(looper); h.Tag == Loop && !ok {
		c.Write([]byte(ErrNoLoop.Error() + "\n"))
		c.Close()
		return
	}
	c.SetContext(new(scratch))
}

// scratch holds a connection's tag as it is being written, so that tagging allocates nothing.
type scratch [24]byte

// OnData writes all of in back, after the tag, and consumes it. A write error means the
// backend is closing the connection already (ErrConnClosed, ErrOutboundFull); there is nothing
// more to do.
func (h Handler) OnData(c reactor.Conn, in []byte) (int, reactor.Action) {
	if h.Tag != NoTag {
		if s, ok := c.Context().(*scratch); ok {
			if _, err := c.Write(h.appendTag(s[:0], c)); err != nil {
				return len(in), reactor.Close
			}
		}
	}
	if _, err := c.Write(in); err != nil {
		return len(in), reactor.Close
	}
	return len(in), reactor.None
}

func (h Handler) appendTag(b []byte, c reactor.Conn) []byte {
	var n int
	switch h.Tag {
	case PID:
		n = os.Getpid()
	case Thread:
		n, _ = gettid()
	case Loop:
		n = c.(looper).Loop()
	}
	return append(strconv.AppendInt(b, int64(n), 10), ':', ' ')
}

// OnClose does nothing: echo keeps no per-connection state beyond its scratch.
func (Handler) OnClose(reactor.Conn, error) {}
