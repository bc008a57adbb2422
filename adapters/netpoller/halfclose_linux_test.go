//go:build linux

package netpoller

import (
	"bytes"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/reactorlab/reactor/reactor"
)

// readAll reads from peer until the end of stream, which must come cleanly.
func readAll(t *testing.T, peer net.Conn) string {
	t.Helper()
	got, err := io.ReadAll(peer)
	if err != nil {
		t.Fatalf("peer read %d bytes, then %v; want a clean end of stream", len(got), err)
	}
	return string(got)
}

// TestCloseWrite: CloseWrite sends what was written, then the end of stream, while the
// connection goes on receiving; later writes fail with ErrConnClosed; the peer's close then
// ends it with io.EOF (a handler that is no HalfCloser).
func TestCloseWrite(t *testing.T) {
	rec := newRecorder()
	_, c, peer := served(t, reactor.Config{}, rec, rec)
	var werr, aerr error
	on(t, c, func(c reactor.Conn) {
		c.Write([]byte("reply"))
		c.CloseWrite()
		c.CloseWrite() // idempotent
		_, werr = c.Write([]byte("late"))
		aerr = c.AsyncWrite([]byte("late"))
	})
	if !errors.Is(werr, reactor.ErrConnClosed) || !errors.Is(aerr, reactor.ErrConnClosed) {
		t.Errorf("writes after CloseWrite: %v, %v; want ErrConnClosed", werr, aerr)
	}
	if got := readAll(t, peer); got != "reply" {
		t.Errorf("peer read %q; want %q", got, "reply")
	}
	io.WriteString(peer, "still listening?")
	rec.awaitData(t, "still listening?")
	rec.noClose(t)
	peer.CloseWrite()
	if err := rec.awaitClose(t); !errors.Is(err, io.EOF) {
		t.Errorf("OnClose(%v); want io.EOF", err)
	}
}

// TestCloseWriteFlushesFirst: CloseWrite with more output pending than the socket takes shuts
// down the sending half only once the flusher has sent it all.
func TestCloseWriteFlushesFirst(t *testing.T) {
	rec := newRecorder()
	_, c, peer := served(t, reactor.Config{MaxOutbound: 16 << 20}, rec, rec)
	big := bytes.Repeat([]byte("0123456789abcdef"), 4<<20/16)
	on(t, c, func(c reactor.Conn) {
		c.Write(big)
		c.CloseWrite()
	})
	time.Sleep(50 * time.Millisecond) // a slow reader: the flusher holds the rest meanwhile
	if got := readAll(t, peer); got != string(big) {
		t.Errorf("peer read %d bytes; want the %d written, then the end", len(got), len(big))
	}
	rec.noClose(t)
}

// TestHalfCloser: a HalfCloser gets OnReadEOF after the last input, the connection stays open
// for writing (from the callback and later), and closing it reports nil.
func TestHalfCloser(t *testing.T) {
	rec := newRecorder()
	rec.onEOF = func(c reactor.Conn) reactor.Action {
		c.Write([]byte("bye"))
		return reactor.None
	}
	_, c, peer := served(t, reactor.Config{}, halfRecorder{rec}, rec)
	io.WriteString(peer, "last words")
	peer.CloseWrite()
	rec.awaitData(t, "last words")
	rec.awaitEOF(t)
	time.Sleep(20 * time.Millisecond)
	rec.noClose(t)
	if err := c.AsyncWrite([]byte(", really")); err != nil {
		t.Fatalf("AsyncWrite after OnReadEOF: %v", err)
	}
	on(t, c, func(c reactor.Conn) { c.Close() })
	if got := readAll(t, peer); got != "bye, really" {
		t.Errorf("peer read %q; want %q", got, "bye, really")
	}
	if err := rec.awaitClose(t); err != nil {
		t.Errorf("OnClose(%v); want nil", err)
	}
}

// TestHalfCloserCloseWrite: the two halves end in either order, and the connection closes with
// a nil cause once both have: CloseWrite after OnReadEOF, or the peer's end after CloseWrite.
func TestHalfCloserCloseWrite(t *testing.T) {
	t.Run("AfterReadEOF", func(t *testing.T) {
		rec := newRecorder()
		rec.onEOF = func(c reactor.Conn) reactor.Action {
			c.Write([]byte("answer"))
			c.CloseWrite()
			return reactor.None
		}
		_, _, peer := served(t, reactor.Config{}, halfRecorder{rec}, rec)
		io.WriteString(peer, "question")
		peer.CloseWrite()
		rec.awaitEOF(t)
		if got := readAll(t, peer); got != "answer" {
			t.Errorf("peer read %q; want %q", got, "answer")
		}
		if err := rec.awaitClose(t); err != nil {
			t.Errorf("OnClose(%v); want nil", err)
		}
	})
	t.Run("BeforeReadEOF", func(t *testing.T) {
		rec := newRecorder()
		rec.onOpen = func(c reactor.Conn) {
			c.Write([]byte("greeting"))
			c.CloseWrite()
		}
		_, _, peer := served(t, reactor.Config{}, halfRecorder{rec}, rec)
		if got := readAll(t, peer); got != "greeting" {
			t.Errorf("peer read %q; want %q", got, "greeting")
		}
		io.WriteString(peer, "thanks")
		peer.CloseWrite()
		rec.awaitData(t, "thanks")
		rec.awaitEOF(t)
		if err := rec.awaitClose(t); err != nil {
			t.Errorf("OnClose(%v); want nil", err)
		}
	})
}

// TestHalfCloserPaused: a paused HalfCloser that shut its sending half learns of the peer's end
// of stream only when it resumes, after all the input that came before it — input that waited
// in the kernel behind the end of stream (small), or behind the closed window (large).
func TestHalfCloserPaused(t *testing.T) {
	for _, size := range []int{1 << 10, 1 << 20} {
		rec := newRecorder()
		rec.onOpen = func(c reactor.Conn) {
			c.PauseRead()
			c.CloseWrite()
		}
		_, c, peer := served(t, reactor.Config{}, halfRecorder{rec}, rec)
		if got := readAll(t, peer); got != "" {
			t.Errorf("peer read %q; want nothing", got)
		}
		body := strings.Repeat("y", size)
		go func() {
			io.WriteString(peer, body)
			peer.CloseWrite()
		}()
		time.Sleep(100 * time.Millisecond)
		select {
		case s := <-rec.data:
			t.Fatalf("OnData(%d bytes) while paused", len(s))
		case <-rec.eof:
			t.Fatal("OnReadEOF while paused")
		default:
		}
		on(t, c, reactor.Conn.ResumeRead)
		rec.awaitData(t, body)
		rec.awaitEOF(t)
		if err := rec.awaitClose(t); err != nil {
			t.Errorf("OnClose(%v); want nil", err)
		}
	}
}

// TestHalfCloserReset: a reset after the end of stream closes the half-closed connection with
// the error, without the handler writing.
func TestHalfCloserReset(t *testing.T) {
	rec := newRecorder()
	_, _, peer := served(t, reactor.Config{}, halfRecorder{rec}, rec)
	peer.CloseWrite()
	rec.awaitEOF(t)
	peer.SetLinger(0)
	peer.Close()
	err := rec.awaitClose(t)
	if !errors.Is(err, syscall.EPIPE) && !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("OnClose(%v); want the reset", err)
	}
}

// TestHalfCloserPanics: a panic in OnReadEOF costs the connection, reported as ErrHandlerPanic.
func TestHalfCloserPanics(t *testing.T) {
	rec := newRecorder()
	rec.onEOF = func(reactor.Conn) reactor.Action { panic("boom") }
	_, _, peer := served(t, reactor.Config{Logger: quietLogger()}, halfRecorder{rec}, rec)
	peer.CloseWrite()
	rec.awaitEOF(t)
	if err := rec.awaitClose(t); !errors.Is(err, reactor.ErrHandlerPanic) {
		t.Errorf("OnClose(%v); want ErrHandlerPanic", err)
	}
}

// TestAbortResets: Abort resets the connection: the peer reads ECONNRESET, not an end of stream,
// even with output pending.
func TestAbortResets(t *testing.T) {
	for _, pending := range []int{0, 8 << 20} {
		rec := newRecorder()
		_, c, peer := served(t, reactor.Config{MaxOutbound: 16 << 20}, rec, rec)
		on(t, c, func(c reactor.Conn) {
			c.Write(make([]byte, pending))
			c.Abort(nil)
		})
		if err := rec.awaitClose(t); !errors.Is(err, reactor.ErrConnClosed) {
			t.Errorf("OnClose(%v); want ErrConnClosed", err)
		}
		_, err := io.Copy(io.Discard, peer)
		if !errors.Is(err, syscall.ECONNRESET) {
			t.Errorf("with %d bytes pending: peer read ended with %v; want ECONNRESET", pending, err)
		}
	}
}
