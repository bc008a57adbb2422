package chat

import (
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/reactorlab/reactor/reactor"
)

// DefaultRoom is the room a member is in from its first name until it says /join.
const DefaultRoom = "lobby"

// MaxRoomName is the longest room name /join accepts.
const MaxRoomName = 32

// Bus carries a Room's events to the other servers sharing its rooms, and brings theirs in
// through Deliver, SyncServer and ServerGone. Publish and Who are called from event loops:
// they must not block.
type Bus interface {
	// ID names this server on the bus; it settles name races (see Deliver).
	ID() string
	// Publish queues e for the other servers and reports whether it was queued (false: the
	// queue is full and e is not sent). It keeps no reference to e.Text after it returns.
	Publish(e Event) bool
	// Who asks every other server for its members of room and calls done once, from a
	// goroutine of its own, with the names that came back and the servers that did not
	// answer in time.
	Who(room string, done func(names, missing []string))
}

// EventKind says what an Event reports.
type EventKind uint8

// The events that cross a bus.
const (
	EventLine   EventKind = iota + 1 // a member said Text
	EventJoin                        // a member came into Room as Name
	EventRename                      // a member of Room went from Old to Name
	EventLeave                       // a member left Room, How says why
)

// How says why a member left.
type How uint8

// Reasons to leave.
const (
	HowLeft     How = iota // it hung up, said /quit or went to another room
	HowDropped             // the backend dropped it for not reading
	HowShutdown            // its server is shutting down
)

// Event is one line or membership change of a member, as it crosses the bus. Server and Member
// name the member bus-wide; Since is when it claimed Name (Unix nanoseconds), which settles a
// name claimed at once on two servers: the earlier claim keeps it (the lower server ID on a
// tie) and the server of the later one renames its member.
type Event struct {
	Kind   EventKind
	Server string // set by the bus for events it delivers
	Member uint64
	Room   string
	Name   string
	Old    string // EventRename: the name before
	Since  int64  // EventJoin, EventRename
	How    How    // EventLeave
	Text   []byte // EventLine: lent, valid only during the call
}

// roomState is one room: its members here, and what is known of its members elsewhere.
type roomState struct {
	name    string
	local   map[string]*member         // by nameKey: the audience of this server's deliveries
	holders map[string][]*remoteMember // by nameKey: members on other servers
	remote  int                        // members on other servers
}

// remoteMember is a member on another server.
type remoteMember struct {
	room      *roomState
	name, key string
	since     int64
	server    string
}

func now() int64 { return time.Now().UnixNano() }

// room returns the room called name, made if need be. r.mu is held for writing.
func (r *Room) room(name string) *roomState {
	rs := r.rooms[name]
	if rs == nil {
		rs = &roomState{name: name, local: map[string]*member{}, holders: map[string][]*remoteMember{}}
		r.rooms[name] = rs
	}
	return rs
}

// dropIfEmpty forgets a room no one is in. r.mu is held for writing.
func (r *Room) dropIfEmpty(rs *roomState) {
	if len(rs.local) == 0 && rs.remote == 0 && r.rooms[rs.name] == rs {
		delete(r.rooms, rs.name)
	}
}

func (r *Room) addLocal(rs *roomState, m *member) {
	rs.local[m.key] = m
	m.room = rs
	r.members++
}

// removeLocal takes m out of its room; it keeps m.room, the room it was in. r.mu is held.
func (r *Room) removeLocal(m *member) {
	if m.room.local[m.key] == m {
		delete(m.room.local, m.key)
		r.members--
		r.dropIfEmpty(m.room)
	}
}

// taken says why m may not hold name in rs, or "" when it may. r.mu is held.
func (rs *roomState) taken(m *member, name, key string) string {
	where := ""
	if rs.name != DefaultRoom {
		where = " in room " + rs.name
	}
	if holder, ok := rs.local[key]; ok && holder != m {
		if holder.name == name {
			return "name " + name + " is taken" + where
		}
		return "name " + name + " is taken" + where + " (too like " + holder.name + ")"
	}
	if hs := rs.holders[key]; len(hs) > 0 {
		return "name " + name + " is taken" + where + " (on another server)"
	}
	return ""
}

// publish hands e, an event of m, to the bus, if there is one. A line the bus has no room for
// is refused to its sender: the members here have it, the others not.
func (r *Room) publish(m *member, e Event) {
	if r.bus == nil {
		return
	}
	e.Member = m.id
	if !r.bus.Publish(e) {
		r.busBusy.Add(1)
		if e.Kind == EventLine {
			m.conn.Write([]byte("! the bus is busy: that line reached only the members on this server\n"))
		}
	}
}

func checkRoom(name string) string {
	if name == "" {
		return "which room? use: /join <room>"
	}
	if len(name) > MaxRoomName {
		return "room name too long (max " + strconv.Itoa(MaxRoomName) + " bytes)"
	}
	for i := 0; i < len(name); i++ {
		b := name[i]
		if !(b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '_' || b == '-') {
			return "room names use letters, digits, '_' and '-' only"
		}
	}
	return ""
}

// join moves m to the room called name, if its name is free there.
func (r *Room) join(m *member, name string) {
	if problem := checkRoom(name); problem != "" {
		m.conn.Write([]byte("! " + problem + "\n"))
		return
	}
	if m.room == nil {
		m.conn.Write([]byte("! name yourself first with: NAME: <name>\n"))
		return
	}
	if m.room.name == name {
		m.conn.Write([]byte("* you are in room " + name + " already\n"))
		return
	}
	r.mu.Lock()
	to := r.room(name)
	if problem := to.taken(m, m.name, m.key); problem != "" {
		r.dropIfEmpty(to)
		r.mu.Unlock()
		m.conn.Write([]byte("! " + problem + "; choose another with /name first\n"))
		return
	}
	from := m.room
	r.removeLocal(m)
	m.since = now()
	r.addLocal(to, m)
	r.mu.Unlock()
	r.debug("chat: moved", m, "from", from.name, "to", name)
	r.broadcastTo(from, m, "* ", m.name, []byte(" left"))
	r.publish(m, Event{Kind: EventLeave, Room: from.name, Name: m.name, How: HowLeft})
	m.conn.Write([]byte("* you are in room " + name + " (/who lists its members)\n"))
	r.broadcast(m, "* ", m.name, []byte(" joined"))
	r.publish(m, Event{Kind: EventJoin, Room: name, Name: m.name, Since: m.since})
}

// listRooms answers /rooms: every room known here, with its members on every server.
func (r *Room) listRooms(m *member) {
	r.mu.RLock()
	rooms := make([]string, 0, len(r.rooms))
	for _, rs := range r.rooms {
		rooms = append(rooms, rs.name+" ("+strconv.Itoa(len(rs.local)+rs.remote)+")")
	}
	r.mu.RUnlock()
	sort.Strings(rooms)
	m.conn.Write([]byte("* rooms (" + strconv.Itoa(len(rooms)) + "): " + strings.Join(rooms, ", ") + "\n"))
}

// who answers /who: the members of m's room here and, with a bus, those the other servers
// report within the bus's deadline; the answer then comes later, by AsyncWrite.
func (r *Room) who(m *member) {
	room := DefaultRoom
	if m.room != nil {
		room = m.room.name
	}
	names := r.LocalNames(room)
	if r.bus == nil {
		m.conn.Write(whoLine(names))
		return
	}
	if !m.asking.CompareAndSwap(false, true) {
		m.conn.Write([]byte("! a /who is on its way already\n"))
		return
	}
	c := m.conn
	r.bus.Who(room, func(remote, missing []string) {
		defer m.asking.Store(false)
		for _, n := range remote {
			if validRemoteName(n) {
				names = append(names, n)
			}
		}
		out := whoLine(names)
		if len(missing) > 0 {
			sort.Strings(missing)
			out = AppendSafe(append(out, "* no answer in time from server(s) "...), []byte(strings.Join(missing, ", ")))
			out = append(out, ": their members are not listed\n"...)
		}
		c.AsyncWrite(out)
	})
}

func whoLine(names []string) []byte {
	sort.Strings(names)
	return []byte("* members (" + strconv.Itoa(len(names)) + "): " + strings.Join(names, ", ") + "\n")
}

// LocalNames returns the names of room's members on this server. Safe from any goroutine.
func (r *Room) LocalNames(room string) []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	rs := r.rooms[room]
	if rs == nil {
		return nil
	}
	names := make([]string, 0, len(rs.local))
	for _, m := range rs.local {
		names = append(names, m.name)
	}
	return names
}

// validRemote reports whether the names in e are ones this room could have made: a bus
// carries other servers' words to this one's members, and they are checked like a member's.
func validRemote(e *Event) bool {
	return e.Server != "" && checkRoom(e.Room) == "" && validRemoteName(e.Name) && (e.Kind != EventRename || validRemoteName(e.Old))
}

// validRemoteName reports whether name is made of name characters, at most 255 of them (another
// server may allow longer names than this one).
func validRemoteName(name string) bool {
	if name == "" || len(name) > 255 {
		return false
	}
	for i := 0; i < len(name); i++ {
		b := name[i]
		if !(b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '_' || b == '-' || b == '.') {
			return false
		}
	}
	return true
}

// announcement is a line for the members of a room, made under the lock and sent after it.
type announcement struct {
	rs        *roomState
	a, b, how string
}

// Deliver hands in an event from another server: a line goes to the members of its room here,
// a membership change is announced to them and remembered. It reports false for an event
// that names no valid room or member, which is dropped. When a member joins or renames to a
// name a member here holds (a race: each server checked its own view), the earlier claim
// keeps it, and a member here that lost is renamed "<name>-2" (or -3, …) on its own event
// loop and told why. The bus calls Deliver from one goroutine at a time, in the order each
// server published.
func (r *Room) Deliver(e Event) bool {
	if !validRemote(&e) {
		return false
	}
	switch e.Kind {
	case EventLine:
		r.mu.RLock()
		rs := r.rooms[e.Room]
		r.mu.RUnlock()
		if rs != nil {
			r.deliver(rs, e.Name, ": ", e.Text)
		}
	case EventJoin, EventRename:
		r.mu.Lock()
		says, losers := r.upsert(e.Server, e.Member, e.Room, e.Name, e.Since, nil)
		r.mu.Unlock()
		r.announce(says)
		r.settle(losers)
	case EventLeave:
		how := " left"
		switch e.How {
		case HowDropped:
			how = " was dropped (not reading)"
		case HowShutdown:
			how = " left (server shutting down)"
		}
		r.mu.Lock()
		says := r.removeRemote(e.Server, e.Member, how, nil)
		r.mu.Unlock()
		r.announce(says)
	default:
		return false
	}
	return true
}

// AppendLine appends the line e (an EventLine from another server) as the members here see it,
// "<name>: <text made safe>\n", and reports whether e was valid; DeliverLines then sends a
// batch of them. Safe from any goroutine.
func AppendLine(dst []byte, e *Event) ([]byte, bool) {
	if e.Kind != EventLine || !validRemote(e) {
		return dst, false
	}
	dst = append(append(dst, e.Name...), ": "...)
	return append(AppendSafe(dst, e.Text), '\n'), true
}

// DeliverLines sends lines, n lines made by AppendLine, to every member of room here with one
// AsyncWrite each: a batch costs a member one write and one wake-up, not n. The bus calls it
// from its delivering goroutine, in order with Deliver.
func (r *Room) DeliverLines(room string, lines []byte, n int) {
	r.mu.RLock()
	rs := r.rooms[room]
	r.mu.RUnlock()
	if rs == nil {
		return
	}
	r.dmu.Lock()
	defer r.dmu.Unlock()
	r.mu.RLock()
	targets := r.dtarget[:0]
	for _, m := range rs.local {
		targets = append(targets, m.conn)
	}
	r.mu.RUnlock()
	delivered := 0
	for i, t := range targets {
		if t.AsyncWrite(lines) == nil {
			delivered += n
		}
		targets[i] = nil
	}
	r.delivered.Add(uint64(delivered))
	r.dtarget = targets[:0]
}

// upsert records that member id of server is in room as name since since, and returns what to
// announce and the members here who lost their name to it. r.mu is held for writing.
func (r *Room) upsert(server string, id uint64, room, name string, since int64, says []announcement) ([]announcement, []*member) {
	ms := r.servers[server]
	if ms == nil {
		ms = map[uint64]*remoteMember{}
		r.servers[server] = ms
	}
	rm := ms[id]
	switch {
	case rm == nil:
		rm = &remoteMember{server: server}
		ms[id] = rm
		says = append(says, announcement{r.room(room), "* ", name, " joined"})
	case rm.room.name != room:
		says = append(says, announcement{rm.room, "* ", rm.name, " left"})
		r.unhold(rm)
		says = append(says, announcement{r.room(room), "* ", name, " joined"})
	case rm.name != name:
		says = append(says, announcement{rm.room, "* ", rm.name, " is now " + name})
		r.unhold(rm)
	default:
		rm.since = since
		return says, nil
	}
	rs := r.room(room)
	rm.room, rm.name, rm.key, rm.since = rs, name, nameKey(name), since
	rs.holders[rm.key] = append(rs.holders[rm.key], rm)
	rs.remote++
	var losers []*member
	if m := rs.local[rm.key]; m != nil && earlier(rm.since, rm.server, m.since, r.bus.ID()) {
		losers = append(losers, m)
	}
	return says, losers
}

// unhold takes rm out of its room's holders. r.mu is held for writing.
func (r *Room) unhold(rm *remoteMember) {
	rs := rm.room
	hs := rs.holders[rm.key]
	for i, h := range hs {
		if h == rm {
			hs = append(hs[:i], hs[i+1:]...)
			break
		}
	}
	if len(hs) == 0 {
		delete(rs.holders, rm.key)
	} else {
		rs.holders[rm.key] = hs
	}
	rs.remote--
	r.dropIfEmpty(rs)
}

// removeRemote forgets member id of server and adds its leaving, said how, to says.
func (r *Room) removeRemote(server string, id uint64, how string, says []announcement) []announcement {
	ms := r.servers[server]
	rm := ms[id]
	if rm == nil {
		return says
	}
	delete(ms, id)
	if len(ms) == 0 {
		delete(r.servers, server)
	}
	r.unhold(rm)
	return append(says, announcement{rm.room, "* ", rm.name, how})
}

// earlier reports whether claim a (at time ta, by server sa) comes before claim b.
func earlier(ta int64, sa string, tb int64, sb string) bool {
	if ta != tb {
		return ta < tb
	}
	return sa < sb
}

// SyncServer replaces what is known of server's members with members (EventJoin events, one
// per member), as a heartbeat reports them. It repairs what lost events left wrong: the
// differences are announced as joins, renames and leaves, except the joins of members that
// claimed their names before quietBefore (Unix ns; 0 for none), which are recorded silently:
// the bus passes this server's start on first hearing of another server just after it, whose
// members were there before anyone here could have been told. Called by the bus's one
// delivering goroutine.
func (r *Room) SyncServer(server string, members []Event, quietBefore int64) {
	var says []announcement
	var losers []*member
	r.mu.Lock()
	seen := make(map[uint64]bool, len(members))
	for i := range members {
		e := &members[i]
		e.Server = server
		if !validRemote(e) {
			continue
		}
		seen[e.Member] = true
		known := r.servers[server][e.Member] != nil
		var lost []*member
		n := len(says)
		says, lost = r.upsert(server, e.Member, e.Room, e.Name, e.Since, says)
		if !known && e.Since < quietBefore {
			says = says[:n]
		}
		losers = append(losers, lost...)
	}
	for id := range r.servers[server] {
		if !seen[id] {
			says = r.removeRemote(server, id, " left", says)
		}
	}
	if len(r.servers[server]) == 0 {
		delete(r.servers, server)
	}
	r.mu.Unlock()
	r.announce(says)
	r.settle(losers)
}

// ServerGone forgets every member of server and tells the members here, each line ending with
// how (" left (server lost)", say). Called by the bus's one delivering goroutine.
func (r *Room) ServerGone(server, how string) {
	var says []announcement
	r.mu.Lock()
	for id := range r.servers[server] {
		says = r.removeRemote(server, id, how, says)
	}
	r.mu.Unlock()
	r.announce(says)
}

// Notice sends text, a line of the server's own, to every member of room here, or to every
// member in every room when room is "". Safe from any goroutine.
func (r *Room) Notice(room, text string) {
	r.mu.RLock()
	var targets []reactor.Conn
	for _, rs := range r.rooms {
		if room != "" && rs.name != room {
			continue
		}
		for _, m := range rs.local {
			targets = append(targets, m.conn)
		}
	}
	r.mu.RUnlock()
	msg := []byte(text)
	for _, t := range targets {
		t.AsyncWrite(msg)
	}
}

func (r *Room) announce(says []announcement) {
	for _, s := range says {
		r.deliver(s.rs, s.a, s.b, []byte(s.how))
	}
}

// deliver sends a+b+AppendSafe(text)+"\n" to every member of rs here, by AsyncWrite: the
// backpressure of a local line, so a member too slow for its share is dropped by its backend.
func (r *Room) deliver(rs *roomState, a, b string, text []byte) {
	r.dmu.Lock()
	defer r.dmu.Unlock()
	msg := AppendSafe(append(append(r.dline[:0], a...), b...), text)
	msg = append(msg, '\n')
	r.dline = msg
	r.mu.RLock()
	targets := r.dtarget[:0]
	for _, m := range rs.local {
		targets = append(targets, m.conn)
	}
	r.mu.RUnlock()
	delivered := 0
	for i, t := range targets {
		if t.AsyncWrite(msg) == nil {
			delivered++
		}
		targets[i] = nil
	}
	r.delivered.Add(uint64(delivered))
	r.dtarget = targets[:0]
}

// settle has each member here that lost a race for its name renamed, on its own loop.
func (r *Room) settle(losers []*member) {
	for _, m := range losers {
		m.conn.Post(func(reactor.Conn) { r.rename(m) })
	}
}

// rename gives m, whose name an earlier claim on another server holds in its room, the first
// free "<name>-N", if it still needs one. It runs on m's loop.
func (r *Room) rename(m *member) {
	r.mu.Lock()
	rs := m.room
	if rs == nil || rs.local[m.key] != m || !r.lost(m) {
		r.mu.Unlock()
		return
	}
	old := m.name
	var name, key string
	for n := 2; ; n++ {
		suffix := "-" + strconv.Itoa(n)
		base := old
		if len(base)+len(suffix) > r.maxName {
			base = base[:max(0, r.maxName-len(suffix))]
		}
		name = base + suffix
		key = nameKey(name)
		if rs.taken(m, name, key) == "" {
			break
		}
	}
	r.removeLocal(m)
	m.name, m.key, m.since = name, key, now()
	r.addLocal(rs, m)
	r.mu.Unlock()
	r.debug("chat: renamed after a race", m, "was", old)
	m.conn.Write([]byte("! a member on another server claimed the name " + old + " first; you are now " + name + " (/name to choose another)\n"))
	r.broadcast(m, "* ", old, []byte(" is now "+name))
	r.publish(m, Event{Kind: EventRename, Room: rs.name, Name: name, Old: old, Since: m.since})
}

// lost reports whether a member on another server holds m's name by an earlier claim. r.mu is
// held.
func (r *Room) lost(m *member) bool {
	for _, h := range m.room.holders[m.key] {
		if earlier(h.since, h.server, m.since, r.bus.ID()) {
			return true
		}
	}
	return false
}
