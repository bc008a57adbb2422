package kv

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/reactorlab/reactor/reactor"
	"github.com/reactorlab/reactor/reactor/conntest"
)

// open serves s on an in-memory connection whose timers, and s's idea of the time, follow one
// fake clock that stands still until the test advances it.
func open(s *Server) *conntest.Driver {
	var k conntest.Clock
	epoch := time.Unix(0, 0)
	s.now = func() time.Time { return epoch.Add(k.Now()) }
	return k.Open(s, "")
}

func TestCommands(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"GET a\n", "NOT_FOUND\n"},
		{"SET a 1\nGET a\n", "OK\nVALUE 1\n"},
		{"SET a one two  three\nGET a\n", "OK\nVALUE one two  three\n"},
		{"SET a \nGET a\n", "OK\nVALUE \n"},
		{"SET a 1\r\nGET a\r\n", "OK\nVALUE 1\n"},
		{"SET a 1\nSET a 2\nGET a\n", "OK\nOK\nVALUE 2\n"},
		{"SET a 1\nDEL a\nGET a\nDEL a\n", "OK\nOK\nNOT_FOUND\nNOT_FOUND\n"},
		{"\n\r\nGET a\n", "NOT_FOUND\n"},
		{"SET a\n", "ERR usage: SET key value\n"},
		{"SET\n", "ERR usage: SET key value\n"},
		{"GET\n", "ERR usage: GET key\n"},
		{"GET a b\n", "ERR usage: GET key\n"},
		{"DEL \n", "ERR usage: DEL key\n"},
		{"get a\n", "ERR unknown command (SET, GET, DEL, QUIT)\n"},
	} {
		d := open(New(Config{}))
		if a := d.Feed([]byte(tc.in)); a != reactor.None {
			t.Errorf("%q: action %v; want none", tc.in, a)
		}
		if got := string(d.C.Output()); got != tc.want {
			t.Errorf("%q: answered %q; want %q", tc.in, got, tc.want)
		}
	}
}

func TestQuitAnswersAndCloses(t *testing.T) {
	d := open(New(Config{}))
	if a := d.Feed([]byte("QUIT\nGET a\n")); a != reactor.Close {
		t.Fatalf("action %v after QUIT; want close", a)
	}
	if got := string(d.C.Output()); got != "BYE\n" {
		t.Fatalf("answered %q; want only %q", got, "BYE\n")
	}
}

func TestPartialLinesWaitForTheirEnd(t *testing.T) {
	d := open(New(Config{}))
	in := "SET greeting hello, world\nGET greeting\n"
	d.FeedBytewise([]byte(in))
	if got, want := string(d.C.Output()), "OK\nVALUE hello, world\n"; got != want {
		t.Fatalf("byte by byte: answered %q; want %q", got, want)
	}
	if len(d.Tail) != 0 {
		t.Fatalf("%d bytes left unconsumed; want 0", len(d.Tail))
	}
}

func TestStoreIsShared(t *testing.T) {
	s := New(Config{})
	a, b := open(s), open(s)
	a.Feed([]byte("SET k v\n"))
	b.Feed([]byte("GET k\n"))
	if got := string(b.C.Output()); got != "VALUE v\n" {
		t.Fatalf("second connection read %q; want the first one's value", got)
	}
}

func TestOverlongLinesAreRefusedAndBounded(t *testing.T) {
	const max = 16
	d := open(New(Config{MaxLine: max}))
	// A line that never ends is refused once the buffer would pass MaxLine, not kept.
	long := strings.Repeat("x", 100)
	d.Feed([]byte("SET a " + long))
	if len(d.Tail) > max+1 {
		t.Fatalf("%d bytes unconsumed; want at most %d", len(d.Tail), max+1)
	}
	d.Feed([]byte(long))
	d.Feed([]byte(long + "\nGET a\n"))
	want := "ERR line too long (max 16 bytes)\nNOT_FOUND\n"
	if got := string(d.C.Output()); got != want {
		t.Fatalf("answered %q; want one refusal, then the next line served: %q", got, want)
	}
	// A whole overlong line in one read is refused too; a line of exactly MaxLine is not.
	d.C.TakeOutput()
	d.Feed([]byte("SET a " + long + "\nSET a 0123456789\r\n"))
	if got, want := string(d.C.Output()), "ERR line too long (max 16 bytes)\nOK\n"; got != want {
		t.Fatalf("answered %q; want %q", got, want)
	}
}

func TestIdleCloseNeverEarly(t *testing.T) {
	const limit = time.Minute
	d := open(New(Config{IdleTimeout: limit}))
	d.Advance(limit / 2)
	d.Feed([]byte("SET a 1\n")) // activity at 30 s: the limit now runs to 90 s
	d.C.TakeOutput()
	d.Advance(limit - time.Nanosecond) // 90 s less 1 ns
	if d.C.Closed() || len(d.C.Output()) != 0 {
		t.Fatalf("closed %v, wrote %q before the limit; want neither", d.C.Closed(), d.C.Output())
	}
	if a := d.Advance(time.Nanosecond); a != reactor.Close {
		t.Fatalf("action %v at the limit; want close", a)
	}
	if got := string(d.C.Output()); got != "BYE idle\n" {
		t.Fatalf("wrote %q at the limit; want %q", got, "BYE idle\n")
	}
}

func TestIdleTimerIsNotArmedPerInput(t *testing.T) {
	d := open(New(Config{IdleTimeout: time.Minute}))
	for i := 0; i < 1000; i++ {
		d.Advance(time.Second)
		d.Feed([]byte("GET a\n"))
	}
	// 1000 s of steady input: the timer re-armed about once a minute, never once per line.
	if pending, armed := d.C.Timers(); pending != 1 || armed > 1000/60+2 {
		t.Fatalf("%d timers pending, %d armed in all; want 1 pending and at most %d armed", pending, armed, 1000/60+2)
	}
	if d.C.Closed() {
		t.Fatal("closed while busy")
	}
	if bytes.Contains(d.C.Output(), []byte("BYE")) {
		t.Fatal("said BYE while busy")
	}
}
