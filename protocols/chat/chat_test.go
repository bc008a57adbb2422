package chat

import (
	"log/slog"
	"strings"
	"testing"

	"github.com/reactorlab/reactor/reactor"
	"github.com/reactorlab/reactor/reactor/conntest"
)

// join opens a member and names it, dropping the greeting and the CLIENT reply.
func join(t *testing.T, r *Room, name, addr string) *conntest.Driver {
	t.Helper()
	d := conntest.Open(r, addr)
	d.Feed([]byte("NAME: " + name + "\n"))
	out := string(d.C.TakeOutput())
	if want := "CLIENT: " + addr + "\n"; !strings.HasSuffix(out, want) {
		t.Fatalf("after NAME: %q; want it to end with %q", out, want)
	}
	return d
}

func TestWelcomeAndNaming(t *testing.T) {
	r := New(Config{})
	d := conntest.Open(r, "10.1.2.3:4567")
	if got := string(d.C.TakeOutput()); got != welcome {
		t.Fatalf("greeting = %q; want %q", got, welcome)
	}
	d.Feed([]byte("hello before naming\n"))
	if got := string(d.C.TakeOutput()); !strings.HasPrefix(got, "! name yourself first") {
		t.Errorf("text before NAME: %q; want a request to name oneself", got)
	}
	d.Feed([]byte("NAME:   alice  \r\n"))
	if got, want := string(d.C.TakeOutput()), "CLIENT: 10.1.2.3:4567\n"; got != want {
		t.Errorf("NAME reply = %q; want %q", got, want)
	}
}

func TestBroadcastReachesOthersNotSender(t *testing.T) {
	r := New(Config{})
	a := join(t, r, "alice", "127.0.0.1:1001")
	b := join(t, r, "bob", "127.0.0.1:1002")
	c := join(t, r, "carol", "127.0.0.1:1003")
	a.C.TakeOutput()
	b.C.TakeOutput()
	// The line arrives split across reads, with a CRLF ending.
	a.Feed([]byte("hel"))
	a.Feed([]byte("lo all\r"))
	a.Feed([]byte("\n"))
	for _, d := range []*conntest.Driver{b, c} {
		if got, want := string(d.C.TakeOutput()), "alice: hello all\n"; got != want {
			t.Errorf("recipient got %q; want %q", got, want)
		}
	}
	if got := string(a.C.TakeOutput()); got != "" {
		t.Errorf("sender got %q; want nothing", got)
	}
}

func TestJoinLeaveRenameAnnounced(t *testing.T) {
	r := New(Config{})
	a := join(t, r, "alice", "127.0.0.1:1001")
	b := join(t, r, "bob", "127.0.0.1:1002")
	if got, want := string(a.C.TakeOutput()), "* bob joined\n"; got != want {
		t.Errorf("join announcement = %q; want %q", got, want)
	}
	b.Feed([]byte("NAME: robert\n"))
	if got, want := string(a.C.TakeOutput()), "* bob is now robert\n"; got != want {
		t.Errorf("rename announcement = %q; want %q", got, want)
	}
	b.Close(nil)
	if got, want := string(a.C.TakeOutput()), "* robert left\n"; got != want {
		t.Errorf("leave announcement = %q; want %q", got, want)
	}
	c := join(t, r, "carol", "127.0.0.1:1003")
	a.C.TakeOutput()
	c.Close(reactor.ErrOutboundFull)
	if got, want := string(a.C.TakeOutput()), "* carol was dropped (not reading)\n"; got != want {
		t.Errorf("drop announcement = %q; want %q", got, want)
	}
}

func TestNamesRefused(t *testing.T) {
	r := New(Config{MaxName: 8})
	join(t, r, "alice", "127.0.0.1:1001")
	d := conntest.Open(r, "127.0.0.1:1002")
	d.C.TakeOutput()
	for _, tc := range []struct{ line, want string }{
		{"NAME: alice\n", "! name alice is taken\n"},
		{"NAME:\n", "! empty name; use: NAME: <name>\n"},
		{"NAME: averyverylongname\n", "! name too long (max 8 bytes)\n"},
		{"NAME: bad name\n", "! names use letters, digits, '_', '-' and '.' only\n"},
		{"NAME: *sys\n", "! names use letters, digits, '_', '-' and '.' only\n"},
	} {
		d.Feed([]byte(tc.line))
		if got := string(d.C.TakeOutput()); got != tc.want {
			t.Errorf("%q: got %q; want %q", tc.line, got, tc.want)
		}
	}
}

func TestCommands(t *testing.T) {
	r := New(Config{})
	a := join(t, r, "alice", "127.0.0.1:1001")
	join(t, r, "bob", "127.0.0.1:1002")
	a.C.TakeOutput()
	a.Feed([]byte("/who\n"))
	if got, want := string(a.C.TakeOutput()), "* members (2): alice, bob\n"; got != want {
		t.Errorf("/who = %q; want %q", got, want)
	}
	a.Feed([]byte("/nope\n"))
	if got := string(a.C.TakeOutput()); !strings.HasPrefix(got, "! unknown command /nope") {
		t.Errorf("unknown command: %q", got)
	}
	a.Feed([]byte("/help\n"))
	if got := string(a.C.TakeOutput()); got != help {
		t.Errorf("/help = %q; want %q", got, help)
	}
	if act := a.Feed([]byte("/quit\nafter quit\n")); act != reactor.Close {
		t.Errorf("/quit action = %v; want close", act)
	}
	if got := string(a.C.TakeOutput()); got != "* bye\n" {
		t.Errorf("/quit reply = %q; want %q", got, "* bye\n")
	}
}

func TestOverlongLinesRefused(t *testing.T) {
	r := New(Config{MaxLine: 12})
	a := join(t, r, "alice", "127.0.0.1:1001")
	b := join(t, r, "bob", "127.0.0.1:1002")
	a.C.TakeOutput()
	want := "! line too long (max 12 bytes); discarded\n"
	// An overlong line that arrives whole.
	a.Feed([]byte("0123456789ABC\nok\n"))
	if got := string(a.C.TakeOutput()); got != want {
		t.Errorf("whole overlong line: sender got %q; want %q", got, want)
	}
	// One that arrives in pieces, without its end for a while: refused once, held nowhere.
	a.Feed([]byte("0123456789"))
	a.Feed([]byte("0123456789"))
	a.Feed([]byte("0123456789\nfine\n"))
	if got := string(a.C.TakeOutput()); got != want {
		t.Errorf("streamed overlong line: sender got %q; want %q once", got, want)
	}
	if len(a.Tail) != 0 {
		t.Errorf("%d bytes held after the lines ended; want 0", len(a.Tail))
	}
	if got, want := string(b.C.TakeOutput()), "alice: ok\nalice: fine\n"; got != want {
		t.Errorf("others got %q; want only the good lines %q", got, want)
	}
}

func TestSlowMemberDoesNotBlockOthers(t *testing.T) {
	r := New(Config{})
	a := join(t, r, "alice", "127.0.0.1:1001")
	slow := join(t, r, "slow", "127.0.0.1:1002")
	fast := join(t, r, "fast", "127.0.0.1:1003")
	slow.C.MaxOutbound = 200 // stands in for a backend's high-water mark
	line := []byte(strings.Repeat("x", 50) + "\n")
	for i := 0; i < 20; i++ {
		a.Feed(line)
	}
	if aborted, cause := slow.C.Aborted(); !aborted || cause != reactor.ErrOutboundFull {
		t.Errorf("slow member: aborted=%v cause=%v; want aborted with ErrOutboundFull", aborted, cause)
	}
	if got := strings.Count(string(fast.C.Output()), "alice: "); got != 20 {
		t.Errorf("fast member got %d of 20 lines", got)
	}
}

func BenchmarkBroadcast10(b *testing.B) {
	r := New(Config{})
	from := join(&testing.T{}, r, "sender", "127.0.0.1:1000")
	others := make([]*conntest.Driver, 10)
	for i := range others {
		others[i] = join(&testing.T{}, r, "m"+string(rune('a'+i)), "127.0.0.1:2000")
	}
	line := []byte("a fairly ordinary chat line of some length\n")
	b.ReportAllocs()
	b.SetBytes(int64(len(line)))
	for i := 0; i < b.N; i++ {
		from.Feed(line)
		if i%1000 == 0 {
			for _, d := range others {
				d.C.TakeOutput()
			}
		}
	}
}

func TestNamesWithControlsRefused(t *testing.T) {
	r := New(Config{})
	listener := join(t, r, "listener", "127.0.0.1:1001")
	listener.C.TakeOutput()
	d := conntest.Open(r, "127.0.0.1:1002")
	d.C.TakeOutput()
	const want = "! names use letters, digits, '_', '-' and '.' only\n"
	for _, name := range []string{"ev\x1b[2Jil", "a b", "caf\xe9", "bob\r* carol joined", "x\u009by", "\x7f"} {
		d.Feed([]byte("NAME: " + name + "\n"))
		if got := string(d.C.TakeOutput()); got != want {
			t.Errorf("NAME: %q: got %q; want %q", name, got, want)
		}
	}
	if got := listener.C.TakeOutput(); len(got) != 0 {
		t.Errorf("the room heard %q of refused names; want nothing", got)
	}
}

func TestNamesUniqueIgnoringCaseAndLookAlikes(t *testing.T) {
	r := New(Config{})
	join(t, r, "alice", "127.0.0.1:1001")
	join(t, r, "Bob0", "127.0.0.1:1002")
	join(t, r, "Il1", "127.0.0.1:1003")
	d := conntest.Open(r, "127.0.0.1:1004")
	d.C.TakeOutput()
	for _, tc := range []struct{ name, holder string }{
		{"Alice", "alice"},
		{"ALICE", "alice"},
		{"aIice", "alice"},
		{"a1ice", "alice"},
		{"bobo", "Bob0"},
		{"B0BO", "Bob0"},
		{"lll", "Il1"},
		{"iLI", "Il1"},
	} {
		d.Feed([]byte("NAME: " + tc.name + "\n"))
		want := "! name " + tc.name + " is taken (too like " + tc.holder + ")\n"
		if got := string(d.C.TakeOutput()); got != want {
			t.Errorf("NAME: %s: got %q; want %q", tc.name, got, want)
		}
	}
	// Distinct names still join, and a member may change the case of its own name.
	d.Feed([]byte("NAME: alicia\n"))
	if got := string(d.C.TakeOutput()); !strings.HasPrefix(got, "CLIENT: ") {
		t.Errorf("NAME: alicia: got %q; want to join", got)
	}
	d.Feed([]byte("NAME: Alicia\n"))
	if got, want := string(d.C.TakeOutput()), "* you are now Alicia\n"; got != want {
		t.Errorf("renaming alicia to Alicia: got %q; want %q", got, want)
	}
	d.Feed([]byte("/who\n"))
	if got, want := string(d.C.TakeOutput()), "* members (4): Alicia, Bob0, Il1, alice\n"; got != want {
		t.Errorf("/who = %q; want %q", got, want)
	}
	// A name that is free again after its holder left.
	d.Close(nil)
	e := conntest.Open(r, "127.0.0.1:1005")
	e.Feed([]byte("NAME: ALICIA\n"))
	if got := string(e.C.TakeOutput()); !strings.Contains(got, "CLIENT: ") {
		t.Errorf("NAME: ALICIA after Alicia left: got %q; want to join", got)
	}
}

func TestShutdownAnnounced(t *testing.T) {
	r := New(Config{})
	a := join(t, r, "alice", "127.0.0.1:1001")
	b := join(t, r, "bob", "127.0.0.1:1002")
	c := join(t, r, "carol", "127.0.0.1:1003")
	unnamed := conntest.Open(r, "127.0.0.1:1004")
	for _, d := range []*conntest.Driver{a, b, c, unnamed} {
		d.C.TakeOutput()
	}
	r.AnnounceShutdown()
	r.AnnounceShutdown() // a second call adds nothing
	// A member that names itself after the announcement is told too.
	unnamed.Feed([]byte("NAME: dave\n"))
	if got := string(unnamed.C.TakeOutput()); !strings.HasSuffix(got, shutdownNotice+"\n") {
		t.Errorf("member joining during shutdown got %q; want it to end with %q", got, shutdownNotice+"\n")
	}
	// The backend's Shutdown then closes everyone with ErrServerClosed.
	for _, d := range []*conntest.Driver{a, b, c, unnamed} {
		d.Close(reactor.ErrServerClosed)
	}
	// Members hear the notice and dave's join, but no one leaving.
	for i, d := range []*conntest.Driver{a, b, c} {
		if got, want := string(d.C.TakeOutput()), shutdownNotice+"\n"+"* dave joined\n"; got != want {
			t.Errorf("member %d got %q; want %q", i, got, want)
		}
	}
}

func TestLeaveStillAnnouncedWhileShuttingDown(t *testing.T) {
	r := New(Config{})
	a := join(t, r, "alice", "127.0.0.1:1001")
	b := join(t, r, "bob", "127.0.0.1:1002")
	a.C.TakeOutput()
	r.AnnounceShutdown()
	b.Close(nil) // bob hung up on his own, before the server closed him
	if got, want := string(a.C.TakeOutput()), shutdownNotice+"\n"+"* bob left\n"; got != want {
		t.Errorf("alice got %q; want %q", got, want)
	}
}

// A member that says /quit leaves at once: the others hear of it before its connection is
// gone, nothing said afterwards reaches it behind its "* bye", and its close is not announced
// a second time.
func TestQuitLeavesAtOnce(t *testing.T) {
	r := New(Config{})
	a := join(t, r, "alice", "127.0.0.1:1001")
	b := join(t, r, "bob", "127.0.0.1:1002")
	a.C.TakeOutput()
	if a.Feed([]byte("/quit\n")) != reactor.Close {
		t.Fatalf("/quit did not ask for a close")
	}
	if got, want := string(b.C.TakeOutput()), "* alice left\n"; got != want {
		t.Errorf("on /quit the others got %q; want %q", got, want)
	}
	b.Feed([]byte("still there?\n"))
	if got, want := string(a.C.TakeOutput()), "* bye\n"; got != want {
		t.Errorf("the member who quit got %q; want only %q", got, want)
	}
	a.Close(nil)
	if got := string(b.C.TakeOutput()); got != "" {
		t.Errorf("after the close of a member who had quit, the others got %q; want nothing", got)
	}
}

func TestStatsAndDebugLines(t *testing.T) {
	var logged strings.Builder
	r := New(Config{Logger: slog.New(slog.NewTextHandler(&logged, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	a := join(t, r, "alice", "127.0.0.1:1001")
	slow := join(t, r, "slow", "127.0.0.1:1002")
	join(t, r, "fast", "127.0.0.1:1003")
	slow.C.MaxOutbound = 200
	line := []byte(strings.Repeat("x", 50) + "\n")
	for range 10 {
		a.Feed(line)
	}
	// The backend drops the slow member: its OnClose says why.
	slow.Close(reactor.ErrOutboundFull)
	got := r.Stats()
	if got.Members != 2 || got.Dropped != 1 {
		t.Errorf("stats %+v; want 2 members, 1 dropped", got)
	}
	// Joins: slow's reached alice (1); fast's reached alice and slow (2). alice's lines: 10 to
	// fast, 3 to slow (3 × 58 bytes fit in its 200) before its writes failed. The drop notice:
	// alice and fast (2).
	if want := uint64(1 + 2 + 10 + 3 + 2); got.Delivered != want {
		t.Errorf("delivered %d; want %d", got.Delivered, want)
	}
	for _, want := range []string{"chat: named", "name=alice", "chat: left", "name=slow", `how="was dropped (not reading)"`} {
		if !strings.Contains(logged.String(), want) {
			t.Errorf("debug log lacks %q:\n%s", want, logged.String())
		}
	}
}
