package chat

import (
	"strings"
	"sync"
	"testing"

	"github.com/reactorlab/reactor/reactor"
)

// fakeBus records what a Room publishes and answers /who with fixed names.
type fakeBus struct {
	id      string
	mu      sync.Mutex
	events  []Event
	full    bool
	who     []string
	missing []string
}

func (b *fakeBus) ID() string { return b.id }

func (b *fakeBus) Publish(e Event) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.full {
		return false
	}
	e.Text = append([]byte(nil), e.Text...)
	b.events = append(b.events, e)
	return true
}

func (b *fakeBus) Who(room string, done func(names, missing []string)) { done(b.who, b.missing) }

// take returns the events published since the last call, each as "kind room name[/old] text".
func (b *fakeBus) take() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for _, e := range b.events {
		s := map[EventKind]string{EventLine: "line", EventJoin: "join", EventRename: "rename", EventLeave: "leave"}[e.Kind] + " " + e.Room + " " + e.Name
		if e.Old != "" {
			s += "/" + e.Old
		}
		if e.Kind == EventLeave {
			s += " " + []string{"left", "dropped", "shutdown"}[e.How]
		}
		if len(e.Text) > 0 {
			s += " " + string(e.Text)
		}
		out = append(out, s)
	}
	b.events = nil
	return out
}

func TestRoomsJoinAndList(t *testing.T) {
	r := New(Config{})
	a := join(t, r, "alice", "127.0.0.1:1001")
	b := join(t, r, "bob", "127.0.0.1:1002")
	a.C.TakeOutput()
	b.Feed([]byte("/join dev\n"))
	if got, want := string(a.C.TakeOutput()), "* bob left\n"; got != want {
		t.Errorf("lobby saw %q; want %q", got, want)
	}
	if got, want := string(b.C.TakeOutput()), "* you are in room dev (/who lists its members)\n"; got != want {
		t.Errorf("bob got %q; want %q", got, want)
	}
	a.Feed([]byte("only for the lobby\n"))
	if got := string(b.C.TakeOutput()); got != "" {
		t.Errorf("a line in the lobby reached dev: %q", got)
	}
	c := join(t, r, "bob", "127.0.0.1:1003") // bob is free in the lobby now
	c.Feed([]byte("/join dev\n"))
	if got, want := string(c.C.TakeOutput()), "! name bob is taken in room dev; choose another with /name first\n"; got != want {
		t.Errorf("joining where the name is taken: %q; want %q", got, want)
	}
	a.C.TakeOutput()
	a.Feed([]byte("/rooms\n"))
	if got, want := string(a.C.TakeOutput()), "* rooms (2): dev (1), lobby (2)\n"; got != want {
		t.Errorf("/rooms = %q; want %q", got, want)
	}
	for _, tc := range []struct{ line, want string }{
		{"/join\n", "! which room? use: /join <room>\n"},
		{"/join a.b\n", "! room names use letters, digits, '_' and '-' only\n"},
		{"/join " + strings.Repeat("r", 33) + "\n", "! room name too long (max 32 bytes)\n"},
		{"/join lobby\n", "* you are in room lobby already\n"},
	} {
		a.Feed([]byte(tc.line))
		if got := string(a.C.TakeOutput()); got != tc.want {
			t.Errorf("%q: got %q; want %q", tc.line, got, tc.want)
		}
	}
	b.Close(nil)
	a.Feed([]byte("/rooms\n"))
	if got, want := string(a.C.TakeOutput()), "* rooms (1): lobby (2)\n"; got != want {
		t.Errorf("/rooms after dev emptied = %q; want %q", got, want)
	}
}

func TestBusGetsLocalEvents(t *testing.T) {
	bus := &fakeBus{id: "b"}
	r := New(Config{Bus: bus})
	a := join(t, r, "alice", "127.0.0.1:1001")
	a.Feed([]byte("hi\n/name al\n/join dev\n/quit\n"))
	slow := join(t, r, "slow", "127.0.0.1:1002")
	slow.Close(reactor.ErrOutboundFull)
	gone := join(t, r, "gone", "127.0.0.1:1003")
	r.AnnounceShutdown()
	gone.Close(reactor.ErrServerClosed)
	want := []string{
		"join lobby alice", "line lobby alice hi", "rename lobby al/alice", "leave lobby al left",
		"join dev al", "leave dev al left",
		"join lobby slow", "leave lobby slow dropped",
		"join lobby gone", "leave lobby gone shutdown",
	}
	if got := bus.take(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("published:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// A full bus refuses a line to its sender, who is told.
	r = New(Config{Bus: bus})
	d := join(t, r, "dave", "127.0.0.1:1004")
	bus.full = true
	d.Feed([]byte("lost line\n"))
	if got := string(d.C.TakeOutput()); !strings.Contains(got, "! the bus is busy") {
		t.Errorf("line refused by a full bus: sender got %q", got)
	}
	if st := r.Stats(); st.BusBusy != 1 {
		t.Errorf("BusBusy = %d; want 1", st.BusBusy)
	}
}

func TestRemoteEventsReachMembers(t *testing.T) {
	bus := &fakeBus{id: "b"}
	r := New(Config{Bus: bus})
	a := join(t, r, "alice", "127.0.0.1:1001")
	a.C.TakeOutput()
	for _, tc := range []struct {
		e    Event
		want string
	}{
		{Event{Kind: EventJoin, Server: "a", Member: 1, Room: "lobby", Name: "bob", Since: 1}, "* bob joined\n"},
		{Event{Kind: EventLine, Server: "a", Member: 1, Room: "lobby", Name: "bob", Text: []byte("hi \x1b[2J")}, "bob: hi ^[[2J\n"},
		{Event{Kind: EventRename, Server: "a", Member: 1, Room: "lobby", Name: "rob", Old: "bob", Since: 2}, "* bob is now rob\n"},
		{Event{Kind: EventLine, Server: "a", Member: 2, Room: "dev", Name: "eve", Text: []byte("elsewhere")}, ""},
		{Event{Kind: EventLeave, Server: "a", Member: 1, Room: "lobby", Name: "rob", How: HowDropped}, "* rob was dropped (not reading)\n"},
		{Event{Kind: EventJoin, Server: "a", Member: 3, Room: "lobby", Name: "x\x1by", Since: 1}, ""},
	} {
		r.Deliver(tc.e)
		if got := string(a.C.TakeOutput()); got != tc.want {
			t.Errorf("%+v: member got %q; want %q", tc.e, got, tc.want)
		}
	}
	// Batches of lines go out in one write.
	var lines []byte
	for _, text := range []string{"one", "two"} {
		lines, _ = AppendLine(lines, &Event{Kind: EventLine, Server: "a", Member: 1, Room: "lobby", Name: "bob", Text: []byte(text)})
	}
	r.DeliverLines("lobby", lines, 2)
	if got, want := string(a.C.TakeOutput()), "bob: one\nbob: two\n"; got != want {
		t.Errorf("batch: got %q; want %q", got, want)
	}
}

func TestNameRaceAcrossServers(t *testing.T) {
	bus := &fakeBus{id: "b"}
	r := New(Config{Bus: bus})
	a := join(t, r, "alice", "127.0.0.1:1001")
	o := join(t, r, "other", "127.0.0.1:1002")
	bus.take()
	a.C.TakeOutput()
	o.C.TakeOutput()
	m := a.C.Context().(*member)
	// A later claim elsewhere changes nothing here: that server renames its own member.
	r.Deliver(Event{Kind: EventJoin, Server: "c", Member: 7, Room: "lobby", Name: "Alice", Since: m.since + 1})
	a.C.RunPosted()
	if got := string(a.C.TakeOutput()); got != "* Alice joined\n" {
		t.Errorf("after a later claim, alice got %q; want only the join", got)
	}
	// An earlier claim wins: alice becomes alice-2, on her own loop, and is told why.
	r.Deliver(Event{Kind: EventJoin, Server: "a", Member: 9, Room: "lobby", Name: "ALICE", Since: m.since - 1})
	a.C.TakeOutput()
	a.C.RunPosted()
	if got, want := string(a.C.TakeOutput()), "! a member on another server claimed the name alice first; you are now alice-2 (/name to choose another)\n"; got != want {
		t.Errorf("loser got %q; want %q", got, want)
	}
	if got, want := string(o.C.TakeOutput()), "* Alice joined\n* ALICE joined\n* alice is now alice-2\n"; got != want {
		t.Errorf("others got %q; want %q", got, want)
	}
	if got, want := bus.take(), []string{"rename lobby alice-2/alice"}; strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("published %q; want %q", got, want)
	}
	// A name a member elsewhere holds is refused here.
	o.Feed([]byte("NAME: aLiCe\n"))
	if got, want := string(o.C.TakeOutput()), "! name aLiCe is taken (on another server)\n"; got != want {
		t.Errorf("taking a remote member's name: %q; want %q", got, want)
	}
}

func TestServerSyncAndGone(t *testing.T) {
	bus := &fakeBus{id: "b", who: []string{"bob", "x\x1b"}, missing: []string{"c (10.0.0.3:9000)"}}
	r := New(Config{Bus: bus})
	a := join(t, r, "alice", "127.0.0.1:1001")
	a.C.TakeOutput()
	// First contact just after this server started: members there before it are recorded
	// quietly, one that joined since (its join event lost) is announced.
	roster := []Event{{Member: 1, Room: "lobby", Name: "bob", Since: 1}, {Member: 2, Room: "lobby", Name: "carol", Since: 1}, {Member: 4, Room: "lobby", Name: "erin", Since: 20}}
	r.SyncServer("a", roster, 10)
	if got, want := string(a.C.TakeOutput()), "* erin joined\n"; got != want {
		t.Errorf("first sync announced %q; want %q", got, want)
	}
	if st := r.Stats(); st.Remote != 3 {
		t.Errorf("Remote = %d; want 3", st.Remote)
	}
	// A later report that differs is news: carol gone, dave new, bob renamed.
	r.SyncServer("a", []Event{{Member: 1, Room: "lobby", Name: "rob", Since: 2}, {Member: 3, Room: "lobby", Name: "dave", Since: 2}}, 0)
	got := string(a.C.TakeOutput())
	for _, want := range []string{"* bob is now rob\n", "* dave joined\n", "* carol left\n", "* erin left\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("sync announced %q; want it to include %q", got, want)
		}
	}
	a.Feed([]byte("/who\n"))
	if got, want := string(a.C.TakeOutput()), "* members (2): alice, bob\n* no answer in time from server(s) c (10.0.0.3:9000): their members are not listed\n"; got != want {
		t.Errorf("/who = %q; want %q", got, want)
	}
	r.ServerGone("a", " left (server lost)")
	got = string(a.C.TakeOutput())
	if strings.Count(got, " left (server lost)\n") != 2 || !strings.Contains(got, "* rob left") || !strings.Contains(got, "* dave left") {
		t.Errorf("server gone: %q; want rob and dave announced", got)
	}
	if st := r.Stats(); st.Remote != 0 || st.Rooms != 1 {
		t.Errorf("after the server went: %+v; want no remote members, one room", st)
	}
	r.Notice("", "* notice\n")
	if got := string(a.C.TakeOutput()); got != "* notice\n" {
		t.Errorf("notice: %q", got)
	}
}

func TestNewRefusesClassicOverBus(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("New took a Classic room with a Bus; want a panic")
		}
	}()
	New(Config{Wire: Classic, Bus: &fakeBus{id: "b"}})
}
