package reactortest

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/reactorlab/reactor/protocols/chat"
	"github.com/reactorlab/reactor/reactor"
)

func (s *suite) testChat(t *testing.T) {
	t.Run("EveryLineOnceInOrder", s.testChatEveryLine)
	t.Run("SilentMemberDoesNotStallRoom", s.testChatSilentMember)
	t.Run("ShutdownNotice", s.testChatShutdownNotice)
	t.Run("ClassicWire", s.testChatClassic)
}

// testChatClassic: the room on the classic wire (framed pickles; docs/protocols.md) joins two
// members, relays a frame that arrives a few bytes at a time, announces a hang-up, and closes a
// connection that sends no frame at all, telling it why.
func (s *suite) testChatClassic(t *testing.T) {
	srv := s.start(t, reactor.Config{}, chat.New(chat.Config{Wire: chat.Classic}))
	read := func(c *net.TCPConn) string {
		t.Helper()
		c.SetReadDeadline(time.Now().Add(ioTimeout))
		var h [chat.ClassicHeaderLen]byte
		if _, err := io.ReadFull(c, h[:]); err != nil {
			t.Fatalf("reading a frame header: %v", err)
		}
		n, err := chat.ClassicFrameLen(h[:], 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		body := make([]byte, n)
		if _, err := io.ReadFull(c, body); err != nil {
			t.Fatalf("reading a frame body: %v", err)
		}
		text, err := chat.DecodeClassic(nil, body)
		if err != nil {
			t.Fatal(err)
		}
		return string(text)
	}
	expect := func(c *net.TCPConn, want string) {
		t.Helper()
		if got := read(c); got != want {
			t.Fatalf("got %q; want %q", got, want)
		}
	}
	a, b := srv.dial(t), srv.dial(t)
	a.Write(chat.AppendClassic(nil, []byte("NAME: alice")))
	expect(a, "CLIENT: 127.0.0.1")
	b.Write(chat.AppendClassic(nil, []byte("NAME: bob")))
	expect(b, "CLIENT: 127.0.0.1")
	expect(a, "\n(Connected: New client (2) from bob@127.0.0.1)")
	frame := chat.AppendClassic(nil, []byte("hello, alice"))
	for i := 0; i < len(frame); i += 5 {
		b.Write(frame[i:min(i+5, len(frame))])
		time.Sleep(time.Millisecond) // let the pieces arrive as separate reads
	}
	expect(a, "\n#[bob@127.0.0.1]>>hello, alice")
	b.Close()
	expect(a, "\n(Now hung up: Client from bob@127.0.0.1)")

	c := srv.dial(t)
	io.WriteString(c, "NAME: carol\n")
	expect(c, "! not a classic frame header (want the length as 4 big-endian bytes, then 4 zero bytes); closing")
	c.SetReadDeadline(time.Now().Add(ioTimeout))
	if n, err := c.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("after the refusal: read %d bytes, %v; want the end of the stream", n, err)
	}
}

// chatter is one member's client side.
type chatter struct {
	name string
	c    *net.TCPConn
	r    *bufio.Reader
}

// joinMembers joins n members named m0, m1, … and fails the test if one cannot join.
func joinMembers(t *testing.T, srv *server, n int) []*chatter {
	t.Helper()
	ms := make([]*chatter, n)
	for i := range ms {
		m, err := joinChat(t, srv, "m"+strconv.Itoa(i))
		if err != nil {
			t.Fatal(err)
		}
		ms[i] = m
	}
	return ms
}

// joinChat connects, names the member and waits for the CLIENT reply. Safe from any goroutine.
func joinChat(t *testing.T, srv *server, name string) (*chatter, error) {
	c, err := srv.dialE(t)
	if err != nil {
		return nil, err
	}
	m := &chatter{name: name, c: c, r: bufio.NewReader(c)}
	if _, err := fmt.Fprintf(c, "NAME: %s\n", name); err != nil {
		return nil, err
	}
	for {
		line, err := m.r.ReadString('\n')
		if err != nil {
			return nil, fmt.Errorf("%s: waiting for CLIENT: %w", name, err)
		}
		if strings.HasPrefix(line, "CLIENT: ") {
			return m, nil
		}
	}
}

// testChatEveryLine: 50 members each send 100 lines; every member receives every other member's
// lines exactly once, in the order each sender sent them, and none of its own.
//
// A member's read deadline follows its progress: it is ioTimeout from the last renewal, renewed
// every renewLines lines. The room's 245,000 deliveries take over 20 s under -race on a loaded
// 2-core machine (measured at load average 25, level- and edge-triggered alike), so one
// deadline for the whole test failed rooms that were only slow; a room that stops delivering
// still fails, within ioTimeout of its last renewal.
func (s *suite) testChatEveryLine(t *testing.T) {
	const renewLines = 64
	const lines = 100
	members := s.scale(50)
	srv := s.start(t, reactor.Config{}, chat.New(chat.Config{}))
	ms := joinMembers(t, srv, members)
	var wg sync.WaitGroup
	for i, m := range ms {
		wg.Add(2)
		go func() {
			defer wg.Done()
			w := bufio.NewWriter(m.c)
			for k := 0; k < lines; k++ {
				fmt.Fprintf(w, "line %d from %d\n", k, i)
				if k%7 == 0 {
					w.Flush() // vary how lines group into reads
				}
			}
			if err := w.Flush(); err != nil {
				t.Errorf("%s: sending: %v", m.name, err)
			}
		}()
		go func() {
			defer wg.Done()
			next := make([]int, members) // next line number expected from each sender
			for got := 0; got < (members-1)*lines; {
				if got%renewLines == 0 {
					m.c.SetReadDeadline(time.Now().Add(ioTimeout))
				}
				line, err := m.r.ReadString('\n')
				if err != nil {
					t.Errorf("%s: after %d of %d lines: %v", m.name, got, (members-1)*lines, err)
					return
				}
				if strings.HasPrefix(line, "* ") {
					continue // joins of later members
				}
				var sender, k, from int
				if _, err := fmt.Sscanf(line, "m%d: line %d from %d\n", &sender, &k, &from); err != nil || sender != from {
					t.Errorf("%s: unexpected line %q", m.name, line)
					return
				}
				if sender == i {
					t.Errorf("%s: received its own line %q", m.name, line)
					return
				}
				if k != next[sender] {
					t.Errorf("%s: from m%d got line %d; want %d (lost, repeated or reordered)", m.name, sender, k, next[sender])
					return
				}
				next[sender]++
				got++
			}
		}()
	}
	wg.Wait()
}

// testChatSilentMember: a member that never reads is dropped once its queue passes the
// high-water mark, while a reading member keeps getting every line; the room hears of the drop.
// The talker stays at most a window of lines ahead of the listener, so the listener is never
// the slow one: only the silent member's backlog can grow.
func (s *suite) testChatSilentMember(t *testing.T) {
	const lines, window = 8000, 64
	srv := s.start(t, reactor.Config{MaxOutbound: 256 << 10}, chat.New(chat.Config{}))
	talker, err := joinChat(t, srv, "talker")
	if err != nil {
		t.Fatal(err)
	}
	listener, err := joinChat(t, srv, "listener")
	if err != nil {
		t.Fatal(err)
	}
	// The silent member shrinks its receive window, names itself, then never reads.
	sc, err := srv.dialE(t)
	if err != nil {
		t.Fatal(err)
	}
	sc.SetReadBuffer(4 << 10)
	fmt.Fprintf(sc, "NAME: silent\n")
	if _, err := listener.r.ReadString('\n'); err != nil { // "* silent joined"
		t.Fatal(err)
	}

	var received atomic.Int64
	deadline := time.Now().Add(ioTimeout)
	text := strings.Repeat("y", 1000)
	go func() {
		for k := 0; k < lines; k++ {
			for int64(k)-received.Load() > window {
				if time.Now().After(deadline) {
					return // the listener stalled; its side reports it
				}
				time.Sleep(100 * time.Microsecond)
			}
			if _, err := fmt.Fprintf(talker.c, "%d %s\n", k, text); err != nil {
				return
			}
		}
	}()
	dropped := false
	for received.Load() < lines {
		line, err := listener.r.ReadString('\n')
		if err != nil {
			t.Fatalf("listener: after %d of %d lines: %v", received.Load(), lines, err)
		}
		switch {
		case strings.HasPrefix(line, "talker: "):
			received.Add(1)
		case strings.HasPrefix(line, "* silent was dropped"):
			dropped = true
		}
	}
	if !dropped {
		// The announcement can trail the last line; give it a moment.
		listener.c.SetReadDeadline(time.Now().Add(5 * time.Second))
		for !dropped {
			line, err := listener.r.ReadString('\n')
			if err != nil {
				t.Fatalf("the silent member was never dropped (8 MB sent against a 256 KiB mark): %v", err)
			}
			dropped = strings.HasPrefix(line, "* silent was dropped")
		}
	}
}

// testChatShutdownNotice: the room's shutdown notice, written just before the backend's
// Shutdown, reaches every member as the last line before the end of the stream, and the members
// that Shutdown disconnects are not announced as leaving.
func (s *suite) testChatShutdownNotice(t *testing.T) {
	const members = 5
	room := chat.New(chat.Config{})
	srv := s.start(t, reactor.Config{}, room)
	ms := joinMembers(t, srv, members)
	// Every join announcement was queued before its member's CLIENT reply was sent, so the
	// notice comes after all of them.
	room.AnnounceShutdown()
	srv.shutdown()
	for _, m := range ms {
		rest, err := io.ReadAll(m.r)
		if err != nil {
			t.Errorf("%s: reading to the end: %v", m.name, err)
		}
		if !strings.HasSuffix("\n"+string(rest), "\n* server shutting down\n") {
			t.Errorf("%s: got %q before the end; want it to end with the shutdown notice", m.name, rest)
		}
		if strings.Contains(string(rest), " left\n") {
			t.Errorf("%s: got %q; want no one announced as leaving on shutdown", m.name, rest)
		}
	}
}
