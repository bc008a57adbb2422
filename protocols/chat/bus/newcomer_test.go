package bus

import (
	"testing"
	"time"

	"github.com/reactorlab/reactor/adapters"
	"github.com/reactorlab/reactor/protocols/chat"
	"github.com/reactorlab/reactor/reactor"
)

// A server that joins the bus learns the members of the others at once, from the heartbeat its
// own first one prompts, not a period later: the process backend starts a server per
// connection, and a member who left in that period would never be announced there. The
// period here is far longer than the test allows, so only the prompted heartbeat can pass it.
func TestNewServerLearnsMembersAtOnce(t *testing.T) {
	emb, err := StartEmbedded(EmbeddedOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer emb.Close()
	start := func() (*chat.Room, string) {
		link, err := Dial(Options{URL: emb.URL(), Heartbeat: time.Minute, DeadAfter: 3 * time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		room := chat.New(chat.Config{Bus: link})
		if err := link.Start(room); err != nil {
			t.Fatal(err)
		}
		be, err := adapters.Registry().New("std", reactor.Config{Addr: "127.0.0.1:0"})
		if err != nil {
			t.Fatal(err)
		}
		addr, err := be.Start(room)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			be.Shutdown(t.Context())
			link.Close()
		})
		return room, addr.String()
	}
	_, addr := start()
	member := dialClient(t, addr, 0, 1)
	defer member.conn.Close()
	later, _ := start()
	waitFor(t, 2*time.Second, "the new server knows the member of the first", func() bool {
		return later.Stats().Remote == 1
	})
}
