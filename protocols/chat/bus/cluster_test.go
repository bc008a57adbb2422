package bus

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reactorlab/reactor/adapters"
	"github.com/reactorlab/reactor/protocols/chat"
	"github.com/reactorlab/reactor/reactor"
)

// Timing of the test links: a server silent for testDead is declared gone, so its members are
// announced within testDead + testBeat/2 of its last message (the stated bound).
const (
	testBeat = 500 * time.Millisecond
	testDead = 2 * time.Second
)

// node is one chat server on a backend, linked to the bus.
type node struct {
	name string
	link *Link
	room *chat.Room
	be   reactor.Backend
	addr string
}

func startNode(t *testing.T, backend, url string) *node {
	t.Helper()
	return startNodeWith(t, backend, url, reactor.Config{Addr: "127.0.0.1:0", Loops: 1})
}

func startNodeWith(t *testing.T, backend, url string, cfg reactor.Config) *node {
	t.Helper()
	link, err := Dial(Options{URL: url, Label: backend, Heartbeat: testBeat, DeadAfter: testDead, ReconnectMax: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	room := chat.New(chat.Config{Bus: link})
	if err := link.Start(room); err != nil {
		t.Fatal(err)
	}
	be, err := adapters.Registry().New(backend, cfg)
	if err != nil {
		t.Fatal(err)
	}
	addr, err := be.Start(room)
	if err != nil {
		t.Fatal(err)
	}
	return &node{name: backend, link: link, room: room, be: be, addr: addr.String()}
}

// stop shuts the node down as serve does: the backend first (members' leaves are published),
// then the link.
func (n *node) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	n.be.Shutdown(ctx)
	n.link.Close()
}

// client is a member: it sends "<seq>" lines and checks what it gets from every other member:
// lines of each sender arrive in order, never twice. Members are named m<server><nn>, and a
// sender's number is 50 × server + nn.
type client struct {
	name string
	id   int
	conn net.Conn

	mu       sync.Mutex
	last     [150]int // by sender: last seq received
	count    [150]int // by sender: lines received
	bad      []string // order or duplicate violations
	notices  []string // "* …" and "! …" lines
	sentLast int      // last seq sent
}

func dialClient(t *testing.T, addr string, node, idx int) *client {
	t.Helper()
	name := fmt.Sprintf("m%d%02d", node, idx)
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c := &client{name: name, id: node*50 + idx, conn: conn}
	if _, err := conn.Write([]byte("NAME: " + name + "\n")); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReaderSize(conn, 64<<10)
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("%s: joining: %v", name, err)
		}
		if strings.HasPrefix(line, "CLIENT: ") {
			break
		}
	}
	conn.SetReadDeadline(time.Time{})
	go c.read(br)
	return c
}

// read takes in what arrives a buffer at a time, with one lock per buffer: the test reads
// 2.2 million lines, under the race detector too.
func (c *client) read(br *bufio.Reader) {
	var partial []byte
	buf := make([]byte, 64<<10)
	for {
		n, err := br.Read(buf)
		if err != nil {
			return
		}
		data := append(partial, buf[:n]...)
		c.mu.Lock()
		for {
			nl := bytes.IndexByte(data, '\n')
			if nl < 0 {
				break
			}
			c.take(data[:nl])
			data = data[nl+1:]
		}
		c.mu.Unlock()
		partial = append(partial[:0:0], data...)
	}
}

// take handles one line; c.mu is held.
func (c *client) take(line []byte) {
	// "m<s><nn>: <seq>"
	if len(line) > 6 && line[0] == 'm' && line[4] == ':' && line[5] == ' ' {
		from := int(line[1]-'0')*50 + int(line[2]-'0')*10 + int(line[3]-'0')
		seq, err := strconv.Atoi(string(line[6:]))
		switch {
		case err != nil || from < 0 || from >= len(c.last):
			c.bad = append(c.bad, "unreadable line "+string(line))
		case seq <= c.last[from]:
			c.bad = append(c.bad, fmt.Sprintf("from %s: %d after %d", line[:4], seq, c.last[from]))
		default:
			c.last[from] = seq
			c.count[from]++
		}
		return
	}
	c.notices = append(c.notices, string(line))
}

// send sends n more lines, numbered on from the last sent; the writing goes on in a goroutine
// of its own, so that a member is not held up by the server reading its neighbours first.
func (c *client) send(t *testing.T, n int, wg *sync.WaitGroup) {
	var b []byte
	for range n {
		c.sentLast++
		b = strconv.AppendInt(b, int64(c.sentLast), 10)
		b = append(b, '\n')
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		if _, err := c.conn.Write(b); err != nil {
			t.Errorf("%s: send: %v", c.name, err)
		}
	}()
}

func (c *client) noticesWith(s string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, n := range c.notices {
		if strings.Contains(n, s) {
			out = append(out, n)
		}
	}
	return out
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", within, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// received reports whether c has every line each of senders sent, and no violation.
func (c *client) received(senders []*client) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range senders {
		if s != c && c.count[s.id] < s.sentLast {
			return false
		}
	}
	return true
}

// TestRoomAcrossThreeServers is the acceptance of rooms shared over NATS: three servers on three
// backends, 50 members each, 100 lines per member; every member gets every other member's
// lines exactly once and in order, /who lists all 150, a crashed server's members are
// announced gone on the others within the bound and the rest chat on, and a restart of the
// bus is survived with what it lost stated to the members and measured.
func TestRoomAcrossThreeServers(t *testing.T) {
	const perNode, lines = 50, 100
	bus, err := StartEmbedded(EmbeddedOptions{})
	if err != nil {
		t.Fatal(err)
	}
	busAddr := strings.TrimPrefix(bus.URL(), "nats://")
	defer func() { bus.Close() }()

	nodes := []*node{}
	for _, b := range []string{"epoll", "gnet", "std"} {
		n := startNode(t, b, bus.URL())
		defer n.stop()
		nodes = append(nodes, n)
	}
	var all []*client
	byNode := make([][]*client, len(nodes))
	for i, n := range nodes {
		for j := range perNode {
			c := dialClient(t, n.addr, i, j)
			defer c.conn.Close()
			byNode[i] = append(byNode[i], c)
			all = append(all, c)
		}
	}
	// Everyone knows everyone before the lines start, so that no line outruns a join.
	waitFor(t, 10*time.Second, "every server knows the 100 members of the others", func() bool {
		for _, n := range nodes {
			if st := n.room.Stats(); st.Remote != 2*perNode || st.Members != perNode {
				return false
			}
		}
		return true
	})

	// 1. Every line to every other member, once, in order.
	var writes sync.WaitGroup
	defer writes.Wait()
	start := time.Now()
	for _, c := range all {
		c.send(t, lines, &writes)
	}
	waitFor(t, 40*time.Second, "every member has every other member's 100 lines", func() bool {
		for _, c := range all {
			if !c.received(all) {
				if time.Since(start) > 35*time.Second {
					c.mu.Lock()
					for _, s := range all {
						if s != c && c.count[s.id] < s.sentLast {
							t.Logf("%s has %d of %s's %d (notices %q)", c.name, c.count[s.id], s.name, s.sentLast, c.notices[max(0, len(c.notices)-3):])
						}
					}
					c.mu.Unlock()
					for _, n := range nodes {
						t.Logf("%s: room %+v link %+v", n.name, n.room.Stats(), n.link.Stats())
					}
				}
				return false
			}
		}
		return true
	})
	t.Logf("all-to-all: %d lines, %d deliveries in %v", len(all)*lines, len(all)*(len(all)-1)*lines, time.Since(start).Round(time.Millisecond))

	// /who answers for the whole room, from each server.
	for i, n := range nodes {
		asker := byNode[i][0]
		asker.conn.Write([]byte("/who\n"))
		waitFor(t, 5*time.Second, n.name+": /who answered", func() bool { return len(asker.noticesWith("* members (")) > 0 })
		got := asker.noticesWith("* members (")[0]
		if late := asker.noticesWith("no answer"); len(late) > 0 {
			t.Errorf("%s: /who: %s", n.name, late[0])
		}
		if !strings.HasPrefix(got, "* members (150): ") {
			t.Errorf("%s: /who = %.80q…; want 150 members", n.name, got)
		}
		for _, c := range all {
			if !strings.Contains(got+",", " "+c.name+",") {
				t.Errorf("%s: /who lacks %s", n.name, c.name)
				break
			}
		}
	}

	// 2. A server crashes: no goodbye, its bus connection cut. Its members are announced
	// gone on the other two within the bound, and those chat on.
	dead := nodes[2]
	crashed := time.Now()
	dead.link.abandon()
	dead.be.Shutdown(context.Background())
	live := append(append([]*client{}, byNode[0]...), byNode[1]...)
	bound := testDead + testBeat/2
	waitFor(t, bound+5*time.Second, "the crashed server's members announced gone", func() bool {
		for _, c := range live {
			for _, m := range byNode[2] {
				if len(c.noticesWith("* "+m.name+" left (server lost)")) != 1 {
					if time.Since(crashed) > bound+4*time.Second {
						t.Logf("%s: %q", c.name, c.noticesWith(m.name+" "))
						for _, n := range nodes {
							t.Logf("%s: room %+v link %+v", n.name, n.room.Stats(), n.link.Stats())
						}
					}
					return false
				}
			}
		}
		return true
	})
	took := time.Since(crashed)
	t.Logf("crash: 50 members announced gone on 100 members of two servers after %v (bound %v after its last heartbeat)", took.Round(time.Millisecond), bound)
	// Its last heartbeat was at most testBeat before the crash; 500ms more for a loaded machine.
	if took > bound+testBeat+500*time.Millisecond {
		t.Errorf("crashed server's members announced after %v; want within %v", took, bound+testBeat)
	}
	for _, c := range live {
		c.send(t, 10, &writes)
	}
	waitFor(t, 20*time.Second, "the two servers left chat on", func() bool {
		for _, c := range live {
			if !c.received(live) {
				return false
			}
		}
		return true
	})

	// 3. The bus restarts while members chat. Each server tells its members the room is
	// degraded, then that it is back; lines sent meanwhile may be lost, and every lost one is
	// stated to the members who missed it.
	bus.Close()
	waitFor(t, 5*time.Second, "members told the room is degraded", func() bool {
		for _, c := range live {
			if len(c.noticesWith("room degraded")) == 0 {
				return false
			}
		}
		return true
	})
	for _, c := range live {
		c.send(t, 5, &writes) // during the outage
	}
	bus, err = StartEmbedded(EmbeddedOptions{Client: busAddr})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "members told the bus is back", func() bool {
		for _, c := range live {
			if len(c.noticesWith("bus back")) == 0 {
				return false
			}
		}
		return true
	})
	for _, c := range live {
		c.send(t, 5, &writes) // after it
	}
	// Lines sent after the recovery reach everyone; what was lost is stated by then (the
	// gap shows at the next line or heartbeat).
	time.Sleep(3 * testBeat)
	waitFor(t, 20*time.Second, "lines after the restart reach everyone", func() bool {
		for _, c := range live {
			c.mu.Lock()
			done := true
			for _, s := range live {
				if s != c && c.last[s.id] != s.sentLast {
					done = false
				}
			}
			c.mu.Unlock()
			if !done {
				return false
			}
		}
		return true
	})
	var missed, stated int
	for i, group := range [][]*client{byNode[0], byNode[1]} {
		other := nodes[1-i].link.ID()
		for _, c := range group {
			c.mu.Lock()
			m := 0
			for _, s := range byNode[1-i] {
				m += s.sentLast - c.count[s.id]
			}
			c.mu.Unlock()
			s := 0
			for _, n := range c.noticesWith("from server " + other) {
				k, _ := strconv.Atoi(strings.Fields(n)[2])
				s += k
			}
			if m != s {
				t.Errorf("%s missed %d lines of server %s but was told of %d", c.name, m, other, s)
			}
			missed += m
			stated += s
		}
	}
	var lost uint64
	for _, n := range nodes[:2] {
		lost += n.link.Stats().Lost
	}
	t.Logf("bus restart: members missed %d of %d cross-server lines sent during the outage; %d stated to them; links counted %d lost events",
		missed, 2*perNode*perNode*5, stated, lost)

	for _, c := range all {
		c.mu.Lock()
		if len(c.bad) > 0 {
			t.Errorf("%s: %d order or duplicate violations, first %s", c.name, len(c.bad), c.bad[0])
		}
		c.mu.Unlock()
	}
}
