package chat

import (
	"strings"
	"testing"

	"github.com/reactorlab/reactor/reactor"
	"github.com/reactorlab/reactor/reactor/conntest"
)

// frames is the classic framing of texts, as the room writes them.
func frames(texts ...string) string {
	var b []byte
	for _, t := range texts {
		b = AppendClassic(b, []byte(t))
	}
	return string(b)
}

// framed is a frame around a pickle body.
func framed(body string) []byte {
	n := len(body)
	return append([]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n), 0, 0, 0, 0}, body...)
}

// joinClassic opens a member of a classic room and names it, checking the CLIENT reply.
func joinClassic(t *testing.T, r *Room, name, addr string) *conntest.Driver {
	t.Helper()
	d := conntest.Open(r, addr)
	if out := d.C.TakeOutput(); len(out) != 0 {
		t.Fatalf("classic greeting %q; want none: the client speaks first", out)
	}
	d.FeedBytewise([]byte(frames("NAME: " + name)))
	host, _, _ := strings.Cut(addr, ":")
	if got, want := string(d.C.TakeOutput()), frames("CLIENT: "+host); got != want {
		t.Fatalf("after NAME: %q; want %q", got, want)
	}
	return d
}

func TestClassicJoinRelayHangUp(t *testing.T) {
	r := New(Config{Wire: Classic})
	a := joinClassic(t, r, "alice", "10.0.0.1:1001")
	b := joinClassic(t, r, "bob", "10.0.0.2:1002")
	if got, want := string(a.C.TakeOutput()), frames("\n(Connected: New client (2) from bob@10.0.0.2)"); got != want {
		t.Errorf("join notice %q; want %q", got, want)
	}
	c := joinClassic(t, r, "carol", "10.0.0.3:1003")
	a.C.TakeOutput()
	b.C.TakeOutput()

	// Python 3's default protocol (4), split across reads; then protocol 0 and a command,
	// which the classic wire relays as text like any other message.
	b.FeedBytewise(framed("\x80\x04\x95\x0c\x00\x00\x00\x00\x00\x00\x00\x8c\x06hello!\x94\x85\x94."))
	b.Feed([]byte(frames("/who", "NAME: mallory")))
	for _, d := range []*conntest.Driver{a, c} {
		want := frames("\n#[bob@10.0.0.2]>>hello!", "\n#[bob@10.0.0.2]>>/who", "\n#[bob@10.0.0.2]>>NAME: mallory")
		if got := string(d.C.TakeOutput()); got != want {
			t.Errorf("relay %q; want %q", got, want)
		}
	}
	if got := b.C.TakeOutput(); len(got) != 0 {
		t.Errorf("sender got %q; want nothing", got)
	}

	b.Close(nil)
	c.Close(reactor.ErrOutboundFull)
	want := frames("\n(Now hung up: Client from bob@10.0.0.2)", "\n(Now hung up: Client from carol@10.0.0.3, dropped for not reading)")
	if got := string(a.C.TakeOutput()); got != want {
		t.Errorf("hang-up notices %q; want %q", got, want)
	}
	if s := r.Stats(); s.Members != 1 || s.Dropped != 1 || s.Delivered != 1+2+6+2+1 {
		// joins 1+2, three relays to two, bob's hang-up to two, carol's to one
		t.Errorf("stats %+v; want 1 member, 1 dropped, 12 delivered", s)
	}
}

func TestClassicRelaySafeAndBounded(t *testing.T) {
	r := New(Config{Wire: Classic, MaxLine: 16})
	a := joinClassic(t, r, "alice", "127.0.0.1:1")
	b := joinClassic(t, r, "bob", "127.0.0.1:2")
	a.C.TakeOutput()
	b.Feed([]byte(frames("hi \x1b[2J\nx\u202e", strings.Repeat("z", 17), "ok")))
	if got, want := string(a.C.TakeOutput()), frames("\n#[bob@127.0.0.1]>>hi ^[[2J^Jx\\u202e", "\n#[bob@127.0.0.1]>>ok"); got != want {
		t.Errorf("relay %q; want %q", got, want)
	}
	if got, want := string(b.C.TakeOutput()), frames("! line too long (max 16 bytes); discarded"); got != want {
		t.Errorf("sender of an overlong message got %q; want %q", got, want)
	}
}

func TestClassicRefusals(t *testing.T) {
	r := New(Config{Wire: Classic})
	listener := joinClassic(t, r, "listener", "127.0.0.1:1")
	listener.C.TakeOutput()

	d := conntest.Open(r, "127.0.0.1:2")
	d.Feed([]byte(frames("hello")))
	d.Feed([]byte(frames("NAME: bad name")))
	d.Feed([]byte(frames("NAME: LISTENER")))
	// A pickle of something else loses only itself; the framing holds.
	d.Feed(framed("cos\nsystem\n(Vls\ntR."))
	want := frames(
		"! name yourself first with: NAME: <name>",
		"! names use letters, digits, '_', '-' and '.' only",
		"! name LISTENER is taken (too like listener)",
		"! message refused: not a pickled tuple of strings: opcode 0x63 ('c') at offset 0 is not one a tuple of strings is pickled with",
	)
	if got := string(d.C.TakeOutput()); got != want || d.C.Closed() {
		t.Errorf("refusals %q (closed %v); want %q, open", got, d.C.Closed(), want)
	}
	if got := listener.C.TakeOutput(); len(got) != 0 {
		t.Errorf("listener heard %q of refused messages; want nothing", got)
	}

	for _, c := range []struct{ in, want string }{
		// What nc or the line wire's client sends: no frame at all.
		{"NAME: alice\n", "! not a classic frame header (want the length as 4 big-endian bytes, then 4 zero bytes); closing"},
		{"\x00\x10\x00\x01\x00\x00\x00\x00", "! classic frame size out of bounds: 1048577 bytes, over the limit of 65536; closing"},
		{"\x00\x00\x00\x00\x00\x00\x00\x00", "! classic frame size out of bounds: an empty frame holds no pickle; closing"},
	} {
		d := conntest.Open(r, "127.0.0.1:3")
		if a := d.Feed([]byte(c.in)); a != reactor.Close || !d.C.Closed() {
			t.Errorf("%q: action %v, closed %v; want the connection closed", c.in, a, d.C.Closed())
		}
		if got := string(d.C.TakeOutput()); got != frames(c.want) {
			t.Errorf("%q: got %q; want %q", c.in, got, frames(c.want))
		}
	}
}

func TestClassicShutdownNotice(t *testing.T) {
	r := New(Config{Wire: Classic})
	a := joinClassic(t, r, "alice", "127.0.0.1:1")
	r.AnnounceShutdown()
	if got, want := string(a.C.TakeOutput()), frames("\n(Server shutting down)"); got != want {
		t.Errorf("notice %q; want %q", got, want)
	}
	d := conntest.Open(r, "127.0.0.1:2")
	d.Feed([]byte(frames("NAME: late")))
	if got, want := string(d.C.TakeOutput()), frames("CLIENT: 127.0.0.1", "\n(Server shutting down)"); got != want {
		t.Errorf("member joining during shutdown got %q; want %q", got, want)
	}
}

func TestParseWire(t *testing.T) {
	for in, want := range map[string]Wire{"": Lines, "lines": Lines, "classic": Classic} {
		if got, err := ParseWire(in); got != want || err != nil || (in != "" && got.String() != in) {
			t.Errorf("ParseWire(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := ParseWire("pickle"); err == nil || !strings.Contains(err.Error(), "lines or classic") {
		t.Errorf("ParseWire(pickle) error %v; want one naming the wires", err)
	}
}

// countConn is a member's connection that counts what it is sent and keeps none of it, so that
// allocations of the room alone are measured.
type countConn struct {
	*conntest.Conn
	n int
}

func (c *countConn) Write(p []byte) (int, error) { c.n += len(p); return len(p), nil }
func (c *countConn) AsyncWrite(p []byte) error   { c.n += len(p); return nil }

func TestClassicRelayAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts mean nothing under -race; CI checks them in a pass without it")
	}
	r := New(Config{Wire: Classic})
	conns := make([]*countConn, 4)
	for i := range conns {
		conns[i] = &countConn{Conn: conntest.NewConn("127.0.0.1:100" + string(rune('0'+i)))}
		r.OnOpen(conns[i])
		r.OnData(conns[i], []byte(frames("NAME: m"+string(rune('a'+i)))))
	}
	msg := []byte(frames("a fairly ordinary chat line, é€ and all"))
	allocs := testing.AllocsPerRun(200, func() {
		if n, a := r.OnData(conns[0], msg); n != len(msg) || a != reactor.None {
			t.Fatalf("OnData = %d, %v", n, a)
		}
	})
	if allocs != 0 {
		t.Errorf("relaying a message allocated %.1f times; want 0", allocs)
	}
	if conns[1].n == 0 {
		t.Errorf("members heard nothing")
	}
}
