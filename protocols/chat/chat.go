package chat

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/reactorlab/reactor/reactor"
)

// Defaults for zero Config fields.
const (
	DefaultMaxLine = 1024
	DefaultMaxName = 32
)

// Config tunes a Room. The zero value works.
type Config struct {
	// MaxLine is the longest line accepted, in bytes without the line ending. Longer lines are
	// discarded and the sender is told. Default DefaultMaxLine.
	MaxLine int
	// MaxName is the longest name accepted. Default DefaultMaxName.
	MaxName int
	// Logger gets a debug line for every member that joins, renames or leaves. Default: none.
	Logger *slog.Logger
	// Bus, when set, shares the rooms with every other server on it (protocols/chat/bus is
	// one over NATS): local events are published on it and it hands in the others' with
	// Deliver, SyncServer and ServerGone. Default: none, every room is this server's alone.
	Bus Bus
	// Wire is how members' messages are framed: Lines (the default) or Classic. A Classic room
	// is this server's alone: New panics if it is given a Bus too.
	Wire Wire
}

// Wire is how a Room frames what it receives and sends.
type Wire int

const (
	// Lines is text, a message a line: what nc and reactor client chat speak.
	Lines Wire = iota
	// Classic is the wire of the classic Python select() chat server and client: every message
	// a length-prefixed pickle of a tuple of strings, and the texts those programs show
	// (docs/protocols.md).
	Classic
)

// String is the name ParseWire reads.
func (w Wire) String() string {
	if w == Classic {
		return "classic"
	}
	return "lines"
}

// ParseWire reads a Wire's name: "lines" or "classic"; "" is Lines.
func ParseWire(s string) (Wire, error) {
	switch s {
	case "", "lines":
		return Lines, nil
	case "classic":
		return Classic, nil
	}
	return Lines, fmt.Errorf("chat: unknown wire %q (want lines or classic)", s)
}

// Room is the chat handler: every connection of the backend it is served on is a member, in
// one room at a time (DefaultRoom until it says /join). The name is historical: a Room holds
// every room of its server. It is safe for the concurrent callbacks of many connections.
type Room struct {
	maxLine, maxName int
	wire             Wire
	maxFrame         int          // Classic: longest frame body accepted
	log              *slog.Logger // nil: no join and leave lines
	bus              Bus          // nil: rooms are this server's alone
	ids              atomic.Uint64

	// Counts for Stats.
	delivered, dropped, busBusy atomic.Uint64

	mu      sync.RWMutex
	rooms   map[string]*roomState // rooms with a member here or on another server
	servers map[string]map[uint64]*remoteMember
	members int  // named local members, in every room
	closing bool // AnnounceShutdown was called

	dmu     sync.Mutex // guards the scratch of remote deliveries
	dline   []byte
	dtarget []reactor.Conn
}

// member is a connection's state, kept in its Conn context.
type member struct {
	conn       reactor.Conn
	id         uint64     // this member's number on this server, as the bus knows it
	room       *roomState // nil until the member names itself
	name       string     // empty until the member names itself
	key        string     // nameKey(name)
	since      int64      // when it claimed its name (Unix ns): settles races across servers
	discarding bool       // inside an overlong line: drop bytes up to the next newline
	asking     atomic.Bool
	line       []byte // scratch for building outgoing lines
	// shared holds the lines this member broadcast, back to back: each is handed to every
	// recipient by reference (reactor.AsyncWriteShared), so it must never change once
	// written. A full slab is let go, not reused; the garbage collector frees it once every
	// recipient's queue has sent what it held of it.
	shared  []byte
	targets []reactor.Conn

	// Classic only.
	host string // the member's IP address, as the classic programs name a client
	tag  string // "\n#[name@host]>>", the prefix of the member's relayed messages
	text []byte // scratch: the text of the frame being handled
	body []byte // scratch: an outgoing message before it is pickled
}

// slabSize is the size of a member's slab of broadcast lines: one allocation per this many
// bytes a member broadcasts, however many recipients share them.
const slabSize = 16 << 10

// share copies msg into m's slab and returns the copy, capped so that nothing can be appended
// to it in place.
func (m *member) share(msg []byte) []byte {
	if cap(m.shared)-len(m.shared) < len(msg) {
		m.shared = make([]byte, 0, max(slabSize, len(msg)))
	}
	at := len(m.shared)
	m.shared = append(m.shared, msg...)
	return m.shared[at:len(m.shared):len(m.shared)]
}

// New returns an empty room.
func New(cfg Config) *Room {
	if cfg.MaxLine <= 0 {
		cfg.MaxLine = DefaultMaxLine
	}
	if cfg.MaxName <= 0 {
		cfg.MaxName = DefaultMaxName
	}
	if cfg.Wire == Classic && cfg.Bus != nil {
		// Other servers' events reach a room as lines; the classic wire has no frame for them.
		panic("chat: the Classic wire cannot be shared over a Bus")
	}
	return &Room{maxLine: cfg.MaxLine, maxName: cfg.MaxName, log: cfg.Logger, bus: cfg.Bus,
		rooms: map[string]*roomState{}, servers: map[string]map[uint64]*remoteMember{},
		wire: cfg.Wire, maxFrame: max(DefaultMaxClassicFrame, 6*cfg.MaxLine+64)}
}

// Stats is what a Room has counted.
type Stats struct {
	Members   int    // named members on this server now, in every room
	Delivered uint64 // lines queued to a member: each line counts once per recipient
	Dropped   uint64 // members the backend dropped for not reading (reactor.ErrOutboundFull)
	Rooms     int    // rooms with a member here or, with a bus, on another server
	Remote    int    // members on other servers that this server knows of
	BusBusy   uint64 // events not published because the bus's queue was full
}

// Stats reports the room's counts. Safe from any goroutine.
func (r *Room) Stats() Stats {
	r.mu.RLock()
	st := Stats{Members: r.members, Rooms: len(r.rooms)}
	for _, ms := range r.servers {
		st.Remote += len(ms)
	}
	r.mu.RUnlock()
	st.Delivered, st.Dropped, st.BusBusy = r.delivered.Load(), r.dropped.Load(), r.busBusy.Load()
	return st
}

// debug logs a membership change when the Room has a logger that wants debug lines.
func (r *Room) debug(msg string, m *member, args ...any) {
	if r.log == nil || !r.log.Enabled(context.Background(), slog.LevelDebug) {
		return
	}
	r.log.Debug(msg, append([]any{"name", m.name, "remote", m.conn.RemoteAddr().String()}, args...)...)
}

const welcome = "* welcome to reactor chat; name yourself with: NAME: <name>   (/help for commands)\n"

const help = "* commands: NAME: <name> (or /name <name>) to name or rename yourself, " +
	"/who to list the members of your room, /join <room> to change rooms (you start in " + DefaultRoom + "), " +
	"/rooms to list them, /quit to leave, /help for this; any other line goes to everyone else in your room\n"

// OnOpen greets the connection; it joins the room once it has a name. The Classic wire has no
// greeting: its clients speak first.
func (r *Room) OnOpen(c reactor.Conn) {
	c.SetContext(&member{conn: c, id: r.ids.Add(1)})
	if r.wire == Lines {
		c.Write([]byte(welcome))
	}
}

// OnData handles every complete message in in and keeps a partial last one for later.
func (r *Room) OnData(c reactor.Conn, in []byte) (int, reactor.Action) {
	m := c.Context().(*member)
	if r.wire == Classic {
		return r.classicData(m, in)
	}
	consumed := 0
	for consumed < len(in) {
		rest := in[consumed:]
		nl := bytes.IndexByte(rest, '\n')
		if nl < 0 {
			// A partial line may wait for its end, unless it is already too long (+1 for a CR).
			if len(rest) > r.maxLine+1 {
				if !m.discarding {
					r.tooLong(m)
				}
				m.discarding = true
				consumed = len(in)
			}
			break
		}
		line := rest[:nl]
		consumed += nl + 1
		if m.discarding {
			// The end of an overlong line already refused.
			m.discarding = false
			continue
		}
		line = bytes.TrimSuffix(line, []byte{'\r'})
		if len(line) > r.maxLine {
			r.tooLong(m)
			continue
		}
		if r.handleLine(m, line) == reactor.Close {
			return consumed, reactor.Close
		}
	}
	return consumed, reactor.None
}

// OnClose takes the member out of the room and tells the others why.
func (r *Room) OnClose(c reactor.Conn, err error) {
	m, ok := c.Context().(*member)
	if !ok || m.name == "" {
		return
	}
	r.mu.RLock()
	closing := r.closing
	r.mu.RUnlock()
	if closing && errors.Is(err, reactor.ErrServerClosed) {
		// Everyone has been told the server is going; a "left" line per member would only
		// bury that notice.
		r.leave(m, quietly)
		return
	}
	how := left
	if errors.Is(err, reactor.ErrOutboundFull) {
		how = dropped
		r.dropped.Add(1)
	}
	r.leave(m, how)
}

// How a member left, for the announcement.
const (
	quietly = iota // no announcement
	left
	dropped // for not reading
)

// leave takes m out of the room, once, and announces it as how says.
func (r *Room) leave(m *member, how int) {
	r.mu.Lock()
	rs := m.room
	in := rs != nil && rs.local[m.key] == m
	if in {
		r.removeLocal(m)
	}
	r.mu.Unlock()
	if !in {
		return
	}
	r.debug("chat: left", m, "how", [...]string{quietly: "server closed", left: "left", dropped: "was dropped (not reading)"}[how])
	switch {
	case how == quietly:
	case r.wire == Classic && how == dropped:
		r.broadcastTo(rs, m, "\n(Now hung up: Client from ", m.name+"@"+m.host, []byte(", dropped for not reading)"))
	case r.wire == Classic:
		r.broadcastTo(rs, m, "\n(Now hung up: Client from ", m.name+"@"+m.host, []byte(")"))
	case how == dropped:
		r.broadcastTo(rs, m, "* ", m.name, []byte(" was dropped (not reading)"))
	default:
		r.broadcastTo(rs, m, "* ", m.name, []byte(" left"))
	}
	code := HowLeft
	switch how {
	case quietly:
		code = HowShutdown
	case dropped:
		code = HowDropped
	}
	r.publish(m, Event{Kind: EventLeave, Room: rs.name, Name: m.name, How: code})
}

const (
	shutdownNotice        = "* server shutting down"
	classicShutdownNotice = "\n(Server shutting down)"
)

// AnnounceShutdown tells every member that the server is shutting down, and from then on the
// room does not announce members that leave because the backend closed them with
// reactor.ErrServerClosed. Call it just before the backend's Shutdown, which delivers the
// notice before it closes the connections. A member that joins afterwards is told on joining.
// It is safe from any goroutine; calls after the first do nothing.
func (r *Room) AnnounceShutdown() {
	r.mu.Lock()
	if r.closing {
		r.mu.Unlock()
		return
	}
	r.closing = true
	targets := make([]reactor.Conn, 0, r.members)
	for _, rs := range r.rooms {
		for _, m := range rs.local {
			targets = append(targets, m.conn)
		}
	}
	r.mu.Unlock()
	notice := shutdownNotice
	if r.wire == Classic {
		notice = classicShutdownNotice
	}
	msg := r.frame(nil, notice)
	for _, t := range targets {
		t.AsyncWrite(msg)
	}
}

func (r *Room) tooLong(m *member) {
	r.say(m, "! line too long (max "+strconv.Itoa(r.maxLine)+" bytes); discarded")
}

// frame appends to dst the room's own words, text, framed for the wire.
func (r *Room) frame(dst []byte, text string) []byte {
	if r.wire == Classic {
		return AppendClassic(dst, []byte(text))
	}
	return append(append(dst, text...), '\n')
}

// say writes the room's own words to m, framed for the wire.
func (r *Room) say(m *member, text string) {
	m.conn.Write(r.frame(nil, text))
}

// handleLine runs one line: a name, a command or text for the others.
func (r *Room) handleLine(m *member, line []byte) reactor.Action {
	switch {
	case len(line) == 0:
		return reactor.None
	case bytes.HasPrefix(line, []byte("NAME:")):
		r.setName(m, strings.TrimSpace(string(line[len("NAME:"):])))
	case line[0] == '/':
		return r.command(m, string(line))
	case m.name == "":
		r.say(m, "! name yourself first with: NAME: <name>")
	default:
		r.broadcast(m, m.name, ": ", line)
		r.publish(m, Event{Kind: EventLine, Room: m.room.name, Name: m.name, Text: line})
	}
	return reactor.None
}

func (r *Room) command(m *member, line string) reactor.Action {
	cmd, arg, _ := strings.Cut(line, " ")
	switch cmd {
	case "/who":
		r.who(m)
	case "/join":
		r.join(m, strings.TrimSpace(arg))
	case "/rooms":
		r.listRooms(m)
	case "/name":
		r.setName(m, strings.TrimSpace(arg))
	case "/quit":
		// Leave now rather than in OnClose: the others hear of it at once, and nothing said
		// after this reaches the member behind its "* bye".
		r.leave(m, left)
		m.conn.Write([]byte("* bye\n"))
		return reactor.Close
	case "/help":
		m.conn.Write([]byte(help))
	default:
		reply := AppendSafe([]byte("! unknown command "), []byte(cmd))
		m.conn.Write(append(reply, " (try /help)\n"...))
	}
	return reactor.None
}

// setName names or renames the member, refusing invalid names and names taken in its room. A
// member's first name puts it in DefaultRoom.
func (r *Room) setName(m *member, name string) {
	if problem := r.checkName(name); problem != "" {
		r.say(m, "! "+problem)
		return
	}
	if name == m.name {
		return
	}
	key := nameKey(name)
	r.mu.Lock()
	rs := m.room
	if rs == nil {
		rs = r.room(DefaultRoom)
	}
	if problem := rs.taken(m, name, key); problem != "" {
		r.dropIfEmpty(rs)
		r.mu.Unlock()
		r.say(m, "! "+problem)
		return
	}
	old := m.name
	if m.room != nil {
		r.removeLocal(m)
	}
	m.name, m.key, m.since = name, key, now()
	r.addLocal(rs, m)
	closing, members := r.closing, r.members
	r.mu.Unlock()
	r.debug("chat: named", m, "was", old)
	if old == "" && r.wire == Classic {
		r.say(m, "CLIENT: "+m.host)
		if closing {
			r.say(m, classicShutdownNotice)
		}
		m.tag = "\n#[" + name + "@" + m.host + "]>>"
		r.broadcast(m, "\n(Connected: New client ("+strconv.Itoa(members)+") from ", name+"@"+m.host, []byte(")"))
		return
	}
	if old == "" {
		r.say(m, "CLIENT: "+m.conn.RemoteAddr().String())
		if closing {
			r.say(m, shutdownNotice)
		}
		r.broadcast(m, "* ", name, []byte(" joined"))
		r.publish(m, Event{Kind: EventJoin, Room: rs.name, Name: name, Since: m.since})
		return
	}
	m.conn.Write([]byte("* you are now " + name + "\n"))
	r.broadcast(m, "* ", old, []byte(" is now "+name))
	r.publish(m, Event{Kind: EventRename, Room: rs.name, Name: name, Old: old, Since: m.since})
}

func (r *Room) checkName(name string) string {
	if name == "" {
		return "empty name; use: NAME: <name>"
	}
	if len(name) > r.maxName {
		return "name too long (max " + strconv.Itoa(r.maxName) + " bytes)"
	}
	for i := 0; i < len(name); i++ {
		b := name[i]
		if !(b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '_' || b == '-' || b == '.') {
			return "names use letters, digits, '_', '-' and '.' only"
		}
	}
	return ""
}

// nameKey is the form in which names must be unique, so that no member can pass for another:
// ASCII case is folded, and so are the characters that look alike in common fonts — digit 0
// with letter o, and digit 1 with letters i and l (uppercase I and lowercase l are the same
// glyph in many sans-serif fonts). Names are ASCII only (checkName), so no other script's
// look-alikes can occur.
func nameKey(name string) string {
	k := []byte(name)
	for i, b := range k {
		if b >= 'A' && b <= 'Z' {
			b += 'a' - 'A'
		}
		switch b {
		case '0':
			b = 'o'
		case '1', 'i':
			b = 'l'
		}
		k[i] = b
	}
	return string(k)
}

// broadcast sends a+b, then text made safe for terminals (AppendSafe), framed for the wire, to
// every member of from's room on this server but from; a and b are the room's own words and
// names, which need no cleaning. The recipients are collected under the lock and written to
// after it is released, so a backend that closes a slow recipient inside AsyncWrite cannot
// deadlock on the room.
func (r *Room) broadcast(from *member, a, b string, text []byte) {
	r.broadcastTo(from.room, from, a, b, text)
}

// broadcastTo is broadcast to the members of rs, which from may have left.
func (r *Room) broadcastTo(rs *roomState, from *member, a, b string, text []byte) {
	var msg []byte
	if r.wire == Classic {
		from.body = AppendSafe(append(append(from.body[:0], a...), b...), text)
		msg = AppendClassic(from.line[:0], from.body)
	} else {
		msg = AppendSafe(append(append(from.line[:0], a...), b...), text)
		msg = append(msg, '\n')
	}
	from.line = msg
	r.mu.RLock()
	targets := from.targets[:0]
	for _, m := range rs.local {
		if m != from {
			targets = append(targets, m.conn)
		}
	}
	r.mu.RUnlock()
	delivered := 0
	shared := false
	if len(targets) > 0 {
		if _, ok := targets[0].(reactor.SharedWriter); ok {
			// Encoded once, shared by every recipient by reference. (A room's members are on
			// one backend; where it copies anyway, the slab would only be more garbage.)
			msg, shared = from.share(msg), true
		}
	}
	for i, t := range targets {
		var err error
		if shared {
			err = reactor.AsyncWriteShared(t, msg)
		} else {
			err = t.AsyncWrite(msg) // a copy: msg is the scratch buffer
		}
		// A failed write means the backend is dropping that member; its OnClose announces it.
		if err == nil {
			delivered++
		}
		targets[i] = nil
	}
	r.delivered.Add(uint64(delivered))
	from.targets = targets[:0]
}
