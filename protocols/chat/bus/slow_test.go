package bus

import (
	"bufio"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/reactorlab/reactor/reactor"
)

// A member that stops reading is dropped by its backend's high-water mark when the lines come
// over the bus, as when they come from its own server; the subscription, and every other
// member, carry on.
func TestSlowMemberDroppedNotTheSubscription(t *testing.T) {
	emb, err := StartEmbedded(EmbeddedOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer emb.Close()
	a := startNode(t, "std", emb.URL())
	defer a.stop()
	b := startNodeWith(t, "epoll", emb.URL(), reactor.Config{Addr: "127.0.0.1:0", Loops: 1, MaxOutbound: 64 << 10})
	defer b.stop()

	join := func(addr, name string) (net.Conn, *bufio.Reader) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		c.SetDeadline(time.Now().Add(30 * time.Second))
		io.WriteString(c, "NAME: "+name+"\n")
		r := bufio.NewReader(c)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("%s joining: %v", name, err)
			}
			if strings.HasPrefix(line, "CLIENT: ") {
				return c, r
			}
		}
	}
	sender, senderR := join(a.addr, "sender")
	slow, _ := join(b.addr, "slow")
	slow.(*net.TCPConn).SetReadBuffer(4 << 10) // and it never reads
	_, fastR := join(b.addr, "fast")
	waitFor(t, 10*time.Second, "server a knows both members of b", func() bool { return a.room.Stats().Remote == 2 })

	// The sender goes at the fast member's pace, 20 lines of 1 KB at a time, until the slow one's
	// pending output passes the mark (its socket buffers fill first: up to 8 MB is allowed).
	dropped := make(chan struct{})
	go func() {
		for {
			line, err := senderR.ReadString('\n')
			if err != nil {
				return
			}
			if line == "* slow was dropped (not reading)\n" {
				close(dropped)
				return
			}
		}
	}()
	line := "sender: " + strings.Repeat("x", 1000) + "\n"
	chunk := strings.Repeat(line[len("sender: "):], 20)
	sent := 0
	for done := false; !done; {
		select {
		case <-dropped:
			done = true
			continue
		default:
		}
		if sent >= 8000 {
			t.Fatalf("slow member not dropped after %d lines", sent)
		}
		if _, err := io.WriteString(sender, chunk); err != nil {
			t.Fatal(err)
		}
		sent += 20
		for got := 0; got < 20; {
			l, err := fastR.ReadString('\n')
			if err != nil {
				t.Fatalf("fast member: %v after %d lines", err, sent-20+got)
			}
			if l == line {
				got++
			}
		}
	}
	t.Logf("slow member dropped after %d lines of %d bytes", sent, len(line))
	if st := b.room.Stats(); st.Dropped != 1 {
		t.Errorf("server b dropped %d members; want 1", st.Dropped)
	}
	if st := b.link.Stats(); st.SlowConsumer != 0 || st.Lost != 0 || !st.Connected {
		t.Errorf("server b's link %+v; want it connected, no slow consumer, nothing lost", st)
	}
}
