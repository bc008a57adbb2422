package echo

import (
	"bytes"
	"os"
	"regexp"
	"runtime"
	"strconv"
	"testing"

	"github.com/reactorlab/reactor/reactor"
	"github.com/reactorlab/reactor/reactor/conntest"
)

func TestEchoesEverythingInOrder(t *testing.T) {
	d := conntest.Open(Handler{}, "")
	var want []byte
	for i := 0; i < 100; i++ {
		p := bytes.Repeat([]byte{byte(i)}, i)
		want = append(want, p...)
		if a := d.Feed(p); a != reactor.None {
			t.Fatalf("Feed #%d: action %v; want none", i, a)
		}
	}
	if got := d.C.Output(); !bytes.Equal(got, want) {
		t.Fatalf("echoed %d bytes that differ from the %d sent", len(got), len(want))
	}
	if len(d.Tail) != 0 {
		t.Fatalf("%d bytes left unconsumed; want 0", len(d.Tail))
	}
}

func TestClosesWhenWriteFails(t *testing.T) {
	d := conntest.Open(Handler{}, "")
	d.C.MaxOutbound = 4
	if a := d.Feed([]byte("too long")); a != reactor.Close {
		t.Fatalf("action %v after a failed write; want close", a)
	}
}

// loopConn is a Conn that reports the loop it belongs to, as the epoll backends' do.
type loopConn struct {
	*conntest.Conn
	loop int
}

func (c *loopConn) Loop() int { return c.loop }

func TestTags(t *testing.T) {
	pid := strconv.Itoa(os.Getpid())
	d := conntest.Open(Handler{Tag: PID}, "")
	d.Feed([]byte("hello\n"))
	d.Feed([]byte("again\n"))
	if got, want := string(d.C.Output()), pid+": hello\n"+pid+": again\n"; got != want {
		t.Errorf("pid tag: %q; want %q", got, want)
	}

	d = conntest.Open(Handler{Tag: Thread}, "")
	d.Feed([]byte("hi\n"))
	if runtime.GOOS == "linux" && !regexp.MustCompile(`^[1-9][0-9]*: hi\n$`).Match(d.C.Output()) {
		t.Errorf("thread tag: %q; want a thread ID, then the bytes", d.C.Output())
	}

	c := &loopConn{Conn: conntest.NewConn(""), loop: 3}
	h := Handler{Tag: Loop}
	h.OnOpen(c)
	h.OnData(c, []byte("x"))
	if got, want := string(c.Output()), "3: x"; got != want {
		t.Errorf("loop tag: %q; want %q", got, want)
	}

	// A backend that does not report loops: the connection is told, not served untagged.
	d = conntest.Open(Handler{Tag: Loop}, "")
	if got, want := string(d.C.Output()), ErrNoLoop.Error()+"\n"; got != want || !d.C.Closed() {
		t.Errorf("loop tag without loops: %q, closed %v; want %q and closed", got, d.C.Closed(), want)
	}
}

func TestParseTag(t *testing.T) {
	for _, tag := range []Tag{NoTag, PID, Thread, Loop} {
		got, err := ParseTag(tag.String())
		if runtime.GOOS != "linux" && tag == Thread {
			if err == nil {
				t.Errorf("ParseTag(thread) on %s: no error; want one saying it needs Linux", runtime.GOOS)
			}
			continue
		}
		if got != tag || err != nil {
			t.Errorf("ParseTag(%q) = %v, %v; want %v", tag.String(), got, err, tag)
		}
	}
	if _, err := ParseTag("tid"); err == nil {
		t.Error("ParseTag(tid): no error; want one naming the tags")
	}
}

func TestTagAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts mean nothing under -race; CI checks them in a pass without it")
	}
	c := &loopConn{Conn: conntest.NewConn(""), loop: 1}
	for _, tag := range []Tag{NoTag, PID, Thread, Loop} {
		h := Handler{Tag: tag}
		h.OnOpen(c)
		in := []byte("hello\n")
		// The in-memory Conn's output buffer grows; let it reach its size first.
		for i := 0; i < 1000; i++ {
			h.OnData(c, in)
		}
		c.TakeOutput()
		if allocs := testing.AllocsPerRun(100, func() { h.OnData(c, in) }); allocs != 0 {
			t.Errorf("tag %v: OnData allocated %.1f times; want 0", tag, allocs)
		}
	}
}
