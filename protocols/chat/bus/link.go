package bus

import (
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/reactorlab/reactor/internal/ratelog"
	"github.com/reactorlab/reactor/protocols/chat"
)

// Defaults for zero Options fields.
const (
	DefaultHeartbeat    = time.Second
	DefaultDeadAfter    = 3 * time.Second
	DefaultWhoTimeout   = time.Second
	DefaultQueue        = 8192
	DefaultReconnectMax = 5 * time.Second
	// PendingMessages and PendingBytes bound what NATS holds for this server's subscription
	// while the delivering goroutine is behind; past them NATS drops messages (a slow
	// consumer), which the sequence numbers then count as lost.
	PendingMessages = 64 << 10
	PendingBytes    = 64 << 20
	// ReconnectBuffer is what a server's publishes may take while the bus is away; they are
	// sent on reconnecting, and publishes past it are lost.
	ReconnectBuffer = 1 << 20
)

// Notices members see when the bus goes and comes back.
const (
	NoticeDegraded  = "* room degraded: this server lost the chat bus; lines reach only the members on this server until it is back\n"
	NoticeRecovered = "* bus back: rooms are shared with the other servers again; what was said between servers meanwhile may be lost (you are told how much)\n"
)

// Options configure a Link. URL is required; the zero value of every other field works.
type Options struct {
	// URL is the bus: one NATS server URL or several, comma-separated (nats://host:port,…).
	URL string
	// Label says where this server's members connect (its chat address); other servers name it
	// so when it does not answer a /who.
	Label string
	// Heartbeat is how often this server says it is alive and lists its members. Default 1s.
	Heartbeat time.Duration
	// DeadAfter is how long a server may be silent before its members are announced gone.
	// Default 3s. They are announced within DeadAfter + Heartbeat/2 of its last message.
	DeadAfter time.Duration
	// WhoTimeout is how long /who waits for the other servers. Default 1s.
	WhoTimeout time.Duration
	// Queue is how many events may wait to be published; past it a member's line is refused
	// with a notice. Default 8192.
	Queue int
	// ReconnectMax caps the reconnect backoff, which starts at 50ms and doubles. Default 5s.
	ReconnectMax time.Duration
	// Logger gets the bus's warnings (lost, reconnecting, a server gone). Default: none.
	Logger *slog.Logger
}

// Stats is what a Link has counted.
type Stats struct {
	Peers         int    // other servers heard from and not declared gone
	Connected     bool   // whether the bus is reachable now
	Lost          uint64 // events of other servers that never arrived (sequence gaps)
	Duplicates    uint64 // events that arrived twice or out of order, dropped
	Malformed     uint64 // messages that could not be read, dropped
	SlowConsumer  uint64 // times NATS dropped messages for this server's subscription
	PublishFailed uint64 // events this server could not hand to NATS (reconnect buffer full)
	ServersGone   uint64 // servers declared gone for silence
}

// Link joins a chat.Room to the other servers on a NATS bus. Create it with Dial, make the Room
// with it as chat.Config.Bus, then Start it with the Room.
type Link struct {
	opts  Options
	id    string
	nc    *nats.Conn
	room  *chat.Room
	log   *slog.Logger
	warns ratelog.Limiter

	queue     chan chat.Event
	wake      chan struct{} // ask the publisher for a heartbeat now
	stop      chan struct{}
	crash     atomic.Bool // stop as a crash would: no bye, nothing flushed
	stopOnce  sync.Once
	wg        sync.WaitGroup
	started   time.Time
	connected atomic.Bool

	lost, dups, malformed, slow, pubFailed, gone atomic.Uint64

	dmu     sync.Mutex // serialises what reaches the Room from the bus
	peers   map[string]*peer
	sub     *nats.Subscription
	batches map[string]*batch // lines waiting to reach a room's members, by room
	order   []string          // rooms in batches, in the order they got their first line

	alive sync.Map // server ID → time.Time of its last heartbeat: liveness apart from the backlog
	beats *nats.Subscription
}

// batch is lines of other servers for one room, rendered, not yet handed to its members.
type batch struct {
	buf []byte
	n   int
}

// batchBytes is the size at which a batch is handed over even though more messages wait.
const batchBytes = 32 << 10

// peer is another server, as heard on the bus.
type peer struct {
	label  string
	synced bool // a heartbeat of it has been handled
	seen   time.Time
	rooms  map[string]*position
}

// position is where a peer's stream for one room is: the epoch and the next sequence number.
type position struct{ epoch, next uint64 }

// Dial connects to the bus. It fails if no server in opts.URL answers; once connected, a lost
// bus is reconnected to for ever, with backoff.
func Dial(opts Options) (*Link, error) {
	if strings.TrimSpace(opts.URL) == "" {
		return nil, errors.New("bus: no URL")
	}
	if opts.Heartbeat <= 0 {
		opts.Heartbeat = DefaultHeartbeat
	}
	if opts.DeadAfter <= 0 {
		opts.DeadAfter = DefaultDeadAfter
	}
	if opts.WhoTimeout <= 0 {
		opts.WhoTimeout = DefaultWhoTimeout
	}
	if opts.Queue <= 0 {
		opts.Queue = DefaultQueue
	}
	if opts.ReconnectMax <= 0 {
		opts.ReconnectMax = DefaultReconnectMax
	}
	if opts.Label == "" {
		opts.Label = "-"
	}
	if strings.ContainsAny(opts.Label, " \n") {
		return nil, fmt.Errorf("bus: label %q has a space or newline", opts.Label)
	}
	var raw [4]byte
	crand.Read(raw[:])
	l := &Link{
		opts:    opts,
		id:      hex.EncodeToString(raw[:]),
		log:     opts.Logger,
		queue:   make(chan chat.Event, opts.Queue),
		wake:    make(chan struct{}, 1),
		stop:    make(chan struct{}),
		peers:   map[string]*peer{},
		batches: map[string]*batch{},
	}
	if l.log == nil {
		l.log = slog.New(slog.DiscardHandler)
	}
	nc, err := nats.Connect(opts.URL,
		nats.Name("reactor chat "+l.id),
		nats.NoEcho(), // this server's own events never come back to it
		nats.MaxReconnects(-1),
		nats.CustomReconnectDelay(l.backoff),
		nats.ReconnectBufSize(ReconnectBuffer),
		nats.PingInterval(5*time.Second),
		nats.MaxPingsOutstanding(2),
		nats.Timeout(2*time.Second),
		nats.DisconnectErrHandler(l.onDisconnect),
		nats.ReconnectHandler(l.onReconnect),
		nats.ErrorHandler(l.onError),
	)
	if err != nil {
		return nil, fmt.Errorf("bus: cannot reach %s: %w", opts.URL, err)
	}
	l.nc = nc
	l.connected.Store(true)
	return l, nil
}

// backoff is the reconnect delay: 50ms doubling up to ReconnectMax, less up to a fifth at
// random so that servers that lost the bus together do not return in step.
func (l *Link) backoff(attempts int) time.Duration {
	d := 50 * time.Millisecond << min(attempts, 16)
	d = min(d, l.opts.ReconnectMax)
	return d - time.Duration(rand.Int64N(int64(d/5)+1))
}

// ID names this server on the bus: random, new for every Link.
func (l *Link) ID() string { return l.id }

// Start subscribes to the bus for room and starts the goroutines that publish (with the
// heartbeat) and watch for silent servers. They exit in Close.
func (l *Link) Start(room *chat.Room) error {
	l.room = room
	l.started = time.Now()
	sub, err := l.nc.Subscribe(subjectAll, l.onMsg)
	if err != nil {
		return fmt.Errorf("bus: subscribe: %w", err)
	}
	if err := sub.SetPendingLimits(PendingMessages, PendingBytes); err != nil {
		return fmt.Errorf("bus: pending limits: %w", err)
	}
	l.sub = sub
	// Heartbeats also reach a subscription of their own, which only notes that their server
	// lives: on the main one they may wait behind a backlog of lines, and a busy server is
	// not a dead one.
	if l.beats, err = l.nc.Subscribe(subjectHeartbeat, func(m *nats.Msg) {
		if h, err := parseHeartbeat(m.Data); err == nil {
			l.alive.Store(h.server, time.Now())
		}
	}); err != nil {
		return fmt.Errorf("bus: subscribe: %w", err)
	}
	l.wg.Add(2)
	go l.publishLoop()
	go l.watch()
	return nil
}

// Publish queues e for the other servers; false when the queue is full. Safe from any
// goroutine; it copies e.Text and never blocks.
func (l *Link) Publish(e chat.Event) bool {
	if e.Text != nil {
		e.Text = append([]byte(nil), e.Text...)
	}
	e.Server = l.id
	select {
	case l.queue <- e:
		return true
	default:
		return false
	}
}

// Close says goodbye on the bus (after publishing what is queued, the members' leaves among
// it), then disconnects; the goroutines of Start, and of any /who still waiting, have exited
// when it returns.
func (l *Link) Close() error {
	l.stopOnce.Do(func() { close(l.stop) })
	l.wg.Wait()
	if !l.crash.Load() {
		l.nc.FlushTimeout(time.Second)
	}
	l.nc.Close()
	return nil
}

// abandon stops the link as a crash of its server would, for tests: no goodbye, nothing
// queued published, the bus connection cut.
func (l *Link) abandon() {
	l.crash.Store(true)
	l.nc.Close()
	l.Close()
}

// Stats reports the link's counts. Safe from any goroutine.
func (l *Link) Stats() Stats {
	l.dmu.Lock()
	n := len(l.peers)
	l.dmu.Unlock()
	return Stats{Peers: n, Connected: l.connected.Load(), Lost: l.lost.Load(), Duplicates: l.dups.Load(),
		Malformed: l.malformed.Load(), SlowConsumer: l.slow.Load(), PublishFailed: l.pubFailed.Load(), ServersGone: l.gone.Load()}
}

func (l *Link) warn(msg string, args ...any) {
	if n, ok := l.warns.Allow(); ok {
		l.log.Warn(msg, append(args, "bus_id", l.id, "suppressed", n)...)
	}
}

// pubRoom is a room this server has members in, as its publisher tracks it.
type pubRoom struct {
	epoch, seq uint64
	members    int
}

// publishLoop is the one goroutine that publishes: events in the order they were queued,
// each stamped with its room's epoch and sequence number, and a heartbeat every period,
// which lists the members as of the events published before it.
func (l *Link) publishLoop() {
	defer l.wg.Done()
	tick := time.NewTicker(l.opts.Heartbeat)
	defer tick.Stop()
	rooms := map[string]*pubRoom{}
	members := map[uint64]chat.Event{}
	var epochs uint64
	var buf []byte
	send := func(e chat.Event) {
		pr := rooms[e.Room]
		if pr == nil {
			epochs++
			pr = &pubRoom{epoch: epochs}
			rooms[e.Room] = pr
		}
		pr.seq++
		switch e.Kind {
		case chat.EventJoin:
			members[e.Member] = chat.Event{Kind: chat.EventJoin, Member: e.Member, Room: e.Room, Name: e.Name, Since: e.Since}
			pr.members++
		case chat.EventRename:
			members[e.Member] = chat.Event{Kind: chat.EventJoin, Member: e.Member, Room: e.Room, Name: e.Name, Since: e.Since}
		case chat.EventLeave:
			delete(members, e.Member)
			pr.members--
		}
		s := stamped{Event: e, epoch: pr.epoch, seq: pr.seq}
		buf = appendEvent(buf[:0], &s)
		if err := l.nc.Publish(subjectOf(&s), buf); err != nil {
			l.pubFailed.Add(1)
			l.warn("chat bus: cannot publish; the event is lost", "err", err)
		}
		if pr.members <= 0 {
			delete(rooms, e.Room) // a later member starts a new epoch
		}
	}
	beat := func(bye bool) {
		h := heartbeat{server: l.id, label: l.opts.Label, bye: bye, rooms: make(map[string][2]uint64, len(rooms))}
		for name, pr := range rooms {
			h.rooms[name] = [2]uint64{pr.epoch, pr.seq}
		}
		for _, m := range members {
			h.members = append(h.members, m)
		}
		buf = appendHeartbeat(buf[:0], &h)
		if most := l.nc.MaxPayload(); most > 0 && int64(len(buf)) > most {
			// Too many members for one message: say only that this server lives.
			l.warn("chat bus: member list too long for a heartbeat; sending liveness only", "members", len(members))
			h.members = nil
			buf = appendHeartbeat(buf[:0], &h)
		}
		if err := l.nc.Publish(subjectHeartbeat, buf); err != nil && !bye {
			l.warn("chat bus: cannot publish a heartbeat", "err", err)
		}
	}
	beat(false) // others learn of this server before its first member joins
	for {
		select {
		case e := <-l.queue:
			send(e)
		case <-tick.C:
			beat(false)
		case <-l.wake:
			beat(false)
		case <-l.stop:
			if l.crash.Load() {
				return
			}
			for {
				select {
				case e := <-l.queue:
					send(e)
				default:
					beat(true)
					return
				}
			}
		}
	}
}

// watch declares servers gone that have been silent for DeadAfter, checking every half
// heartbeat, while this server has the bus (without it, everyone is silent).
func (l *Link) watch() {
	defer l.wg.Done()
	tick := time.NewTicker(l.opts.Heartbeat / 2)
	defer tick.Stop()
	for {
		select {
		case <-l.stop:
			return
		case now := <-tick.C:
			if !l.connected.Load() {
				continue
			}
			l.dmu.Lock()
			for id, p := range l.peers {
				seen := p.seen
				if t, ok := l.alive.Load(id); ok && t.(time.Time).After(seen) {
					seen = t.(time.Time)
				}
				if now.Sub(seen) > l.opts.DeadAfter {
					l.flush()
					l.alive.Delete(id)
					delete(l.peers, id)
					l.gone.Add(1)
					l.log.Warn("chat bus: server silent; its members are announced gone", "server", id, "label", p.label, "silent", now.Sub(seen).Round(time.Millisecond).String())
					l.room.ServerGone(id, " left (server lost)")
				}
			}
			l.alive.Range(func(id, t any) bool {
				if now.Sub(t.(time.Time)) > l.opts.DeadAfter && l.peers[id.(string)] == nil {
					l.alive.Delete(id) // a late heartbeat of a server declared gone
				}
				return true
			})
			l.dmu.Unlock()
		}
	}
}

func (l *Link) onDisconnect(_ *nats.Conn, err error) {
	if l.stopping() {
		return
	}
	l.connected.Store(false)
	l.log.Warn("chat bus: lost; reconnecting", "err", err)
	if l.room != nil {
		l.dmu.Lock()
		l.flush()
		l.dmu.Unlock()
		l.room.Notice("", NoticeDegraded)
	}
}

func (l *Link) onReconnect(nc *nats.Conn) {
	l.dmu.Lock()
	now := time.Now()
	for _, p := range l.peers {
		p.seen = now // they were silent because we were away
	}
	l.flush()
	l.dmu.Unlock()
	l.connected.Store(true)
	l.log.Info("chat bus: back", "url", nc.ConnectedUrlRedacted())
	if l.room != nil {
		l.room.Notice("", NoticeRecovered)
	}
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

func (l *Link) onError(_ *nats.Conn, _ *nats.Subscription, err error) {
	if errors.Is(err, nats.ErrSlowConsumer) {
		l.slow.Add(1)
		l.warn("chat bus: this server fell behind the bus; NATS dropped messages for it (counted as lost)")
		return
	}
	l.warn("chat bus: error", "err", err)
}

func (l *Link) stopping() bool {
	select {
	case <-l.stop:
		return true
	default:
		return false
	}
}

// onMsg is the subscription's handler: NATS calls it from one goroutine, in the order each
// server published. Lines are gathered into a batch per room while more messages wait, and
// handed to the members when none does (or the batch is large); anything else hands over the
// batches first, so that members see everything in the order it came.
func (l *Link) onMsg(m *nats.Msg) {
	l.dmu.Lock()
	defer l.dmu.Unlock()
	defer func() {
		// Pending counts the message being handled until the handler returns.
		if n, _, err := l.sub.Pending(); err != nil || n <= 1 {
			l.flush()
		}
	}()
	if m.Subject == subjectHeartbeat {
		l.flush()
		l.onHeartbeat(m.Data)
		return
	}
	rest, ok := strings.CutPrefix(m.Subject, subjectPrefix)
	room, kind, ok2 := strings.Cut(rest, ".")
	if !ok || !ok2 {
		return
	}
	switch kind {
	case "who":
		l.answerWho(room, m)
	case "line", "presence":
		l.onEvent(room, m.Data)
	}
}

// flush hands every batch to its room's members. l.dmu is held.
func (l *Link) flush() {
	for _, room := range l.order {
		b := l.batches[room]
		if b.n > 0 {
			l.room.DeliverLines(room, b.buf, b.n)
			b.buf, b.n = b.buf[:0], 0
		}
	}
	l.order = l.order[:0]
	if len(l.batches) > 64 {
		clear(l.batches) // rooms come and go; keep the buffers of a few
	}
}

func (l *Link) peer(id string) *peer {
	p := l.peers[id]
	if p == nil {
		p = &peer{label: "-", rooms: map[string]*position{}}
		l.peers[id] = p
	}
	p.seen = time.Now()
	return p
}

func (l *Link) onEvent(room string, data []byte) {
	s, err := parseEvent(room, data)
	if err != nil {
		l.malformed.Add(1)
		return
	}
	if s.Server == l.id {
		return
	}
	p := l.peer(s.Server)
	pos := p.rooms[room]
	switch {
	case pos == nil || s.epoch > pos.epoch:
		p.rooms[room] = &position{epoch: s.epoch, next: s.seq + 1}
	case s.epoch < pos.epoch || s.seq < pos.next:
		l.dups.Add(1)
		return
	default:
		if s.seq > pos.next {
			l.missed(s.Server, p, room, s.seq-pos.next)
		}
		pos.next = s.seq + 1
	}
	if s.Kind == chat.EventLine {
		b := l.batches[room]
		if b == nil {
			b = &batch{}
			l.batches[room] = b
		}
		var ok bool
		if b.buf, ok = chat.AppendLine(b.buf, &s.Event); !ok {
			l.malformed.Add(1)
			return
		}
		if b.n++; b.n == 1 {
			l.order = append(l.order, room)
		}
		if len(b.buf) >= batchBytes {
			l.flush()
		}
		return
	}
	l.flush()
	if !l.room.Deliver(s.Event) {
		l.malformed.Add(1)
	}
}

// missed counts n events of server in room that never came and tells the room's members here.
func (l *Link) missed(server string, p *peer, room string, n uint64) {
	l.flush()
	l.lost.Add(n)
	l.warn("chat bus: events lost", "server", server, "room", room, "lost", n)
	l.room.Notice(room, "* bus: "+strconv.FormatUint(n, 10)+" message(s) from server "+server+" ("+p.label+") were lost\n")
}

func (l *Link) onHeartbeat(data []byte) {
	h, err := parseHeartbeat(data)
	if err != nil {
		l.malformed.Add(1)
		return
	}
	if h.server == l.id {
		return
	}
	p := l.peer(h.server)
	p.label = h.label
	if h.bye {
		delete(l.peers, h.server)
		l.alive.Delete(h.server)
		l.room.ServerGone(h.server, " left (server shutting down)")
		return
	}
	for room, es := range h.rooms {
		pos := p.rooms[room]
		switch {
		case pos == nil || es[0] > pos.epoch:
			p.rooms[room] = &position{epoch: es[0], next: es[1] + 1}
		case es[0] == pos.epoch && es[1] >= pos.next:
			// The last events the server sent in this room never came.
			l.missed(h.server, p, room, es[1]-pos.next+1)
			pos.next = es[1] + 1
		}
	}
	for room := range p.rooms {
		if _, ok := h.rooms[room]; !ok {
			delete(p.rooms, room)
		}
	}
	// A server first heard of just after this one started had members before anyone here
	// could be told of them; the joins of those are not news. Any other difference is (events
	// lost, a partition healed): the Room announces it.
	var quietBefore int64
	if !p.synced && time.Since(l.started) < l.opts.DeadAfter {
		quietBefore = l.started.UnixNano()
	}
	if !p.synced {
		// A server new here learns this one's members from its heartbeat: send one now rather
		// than up to a period later, so that a member who leaves meanwhile is announced there
		// too (the process backend starts a server per connection). Each pair of servers does
		// this once.
		select {
		case l.wake <- struct{}{}:
		default:
		}
	}
	p.synced = true
	l.room.SyncServer(h.server, h.members, quietBefore)
}

// answerWho replies to another server's /who with this server's members of room.
func (l *Link) answerWho(room string, m *nats.Msg) {
	if string(m.Data) == l.id || m.Reply == "" {
		return
	}
	b := append([]byte(l.id), '\n')
	for i, n := range l.room.LocalNames(room) {
		if i > 0 {
			b = append(b, ' ')
		}
		b = append(b, n...)
	}
	if err := m.Respond(b); err != nil {
		l.warn("chat bus: cannot answer /who", "err", err)
	}
}

// Who asks the other servers for their members of room; see chat.Bus. The goroutine it starts
// exits within WhoTimeout.
func (l *Link) Who(room string, done func(names, missing []string)) {
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		l.dmu.Lock()
		waiting := make(map[string]string, len(l.peers))
		for id, p := range l.peers {
			waiting[id] = id + " (" + p.label + ")"
		}
		l.dmu.Unlock()
		var names []string
		defer func() {
			missing := make([]string, 0, len(waiting)+1)
			for _, w := range waiting {
				missing = append(missing, w)
			}
			if !l.connected.Load() {
				missing = append(missing, "(this server has lost the bus)")
			}
			done(names, missing)
		}()
		if !l.connected.Load() || len(waiting) == 0 {
			return
		}
		inbox := nats.NewInbox()
		sub, err := l.nc.SubscribeSync(inbox)
		if err != nil {
			return
		}
		defer sub.Unsubscribe()
		if err := l.nc.PublishRequest(subjectPrefix+room+".who", inbox, []byte(l.id)); err != nil {
			return
		}
		deadline := time.Now().Add(l.opts.WhoTimeout)
		for len(waiting) > 0 {
			msg, err := sub.NextMsg(time.Until(deadline))
			if err != nil {
				return
			}
			from, list, _ := strings.Cut(string(msg.Data), "\n")
			delete(waiting, from)
			if list != "" {
				names = append(names, strings.Split(list, " ")...)
			}
		}
	}()
}
