// Package bus shares chat rooms between servers over NATS (github.com/nats-io/nats.go), so that
// members connected to different servers, processes or backends are in one room.
//
// Use: l, err := Dial(Options{URL: "nats://127.0.0.1:4222"}); room := chat.New(chat.Config{Bus:
// l}); l.Start(room); serve room on any backend; l.Close() after the backend's Shutdown, so
// that the members' leaves are published. StartEmbedded runs a NATS server in the process (and
// clusters it with others), for a set-up that needs nothing installed.
//
// What crosses the bus: every line and membership change (join, rename, leave) of a member,
// with the server's ID, the member's number on it, and a sequence number per server and room;
// a heartbeat per server per Options.Heartbeat listing its members; /who requests and their
// replies. Subjects are reactor.chat.room.<room>.line, .presence and .who, and reactor.chat.hb.
//
// Guarantees: a server's events reach another in the order it published them (one
// subscription, one publishing goroutine), each at most once (duplicates are dropped by
// sequence number); NATS core is at-most-once, so an event may be lost when the bus or a route
// fails, or when a server falls behind its subscription's pending limits. A lost event is
// counted from the sequence gap (Stats.Lost) and the members of its room are told how many; the
// next heartbeat repairs the member lists. A server silent for Options.DeadAfter has its members
// announced gone. Members see NoticeDegraded when their server loses the bus, NoticeRecovered
// when it is back.
//
// Nothing here runs on an event loop: a Link publishes from one goroutine of its own, receives
// on NATS's, and reaches members with AsyncWrite (chat.Room.Deliver), so a slow member is
// dropped by its backend's high-water mark as for a local line, never the subscription.
// docs/chat-bus.md has the design and its measurements.
package bus
