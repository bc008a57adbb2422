package chat

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"sort"
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
}

// Room is one chat room: every connection of the backend it is served on is a member. It is safe
// for the concurrent callbacks of many connections.
type Room struct {
	maxLine, maxName int
	log              *slog.Logger // nil: no join and leave lines

	// Counts for Stats.
	delivered, dropped atomic.Uint64

	mu      sync.RWMutex
	names   map[string]*member // named members only, by nameKey: the audience of broadcasts
	closing bool               // AnnounceShutdown was called
}

// member is a connection's state, kept in its Conn context.
type member struct {
	conn       reactor.Conn
	name       string // empty until the member names itself
	key        string // nameKey(name)
	discarding bool   // inside an overlong line: drop bytes up to the next newline
	line       []byte // scratch for building outgoing lines
	// shared holds the lines this member broadcast, back to back: each is handed to every
	// recipient by reference (reactor.AsyncWriteShared), so it must never change once
	// written. A full slab is let go, not reused; the garbage collector frees it once every
	// recipient's queue has sent what it held of it.
	shared  []byte
	targets []reactor.Conn
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
	return &Room{maxLine: cfg.MaxLine, maxName: cfg.MaxName, log: cfg.Logger, names: map[string]*member{}}
}

// Stats is what a Room has counted.
type Stats struct {
	Members   int    // named members in the room now
	Delivered uint64 // lines queued to a member: each line counts once per recipient
	Dropped   uint64 // members the backend dropped for not reading (reactor.ErrOutboundFull)
}

// Stats reports the room's counts. Safe from any goroutine.
func (r *Room) Stats() Stats {
	r.mu.RLock()
	n := len(r.names)
	r.mu.RUnlock()
	return Stats{Members: n, Delivered: r.delivered.Load(), Dropped: r.dropped.Load()}
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
	"/who to list members, /quit to leave, /help for this; any other line goes to everyone else\n"

// OnOpen greets the connection; it joins the room once it has a name.
func (r *Room) OnOpen(c reactor.Conn) {
	c.SetContext(&member{conn: c})
	c.Write([]byte(welcome))
}

// OnData handles every complete line in in and keeps a partial last line for later.
func (r *Room) OnData(c reactor.Conn, in []byte) (int, reactor.Action) {
	m := c.Context().(*member)
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
		r.leave(m, "")
		return
	}
	how := " left"
	if errors.Is(err, reactor.ErrOutboundFull) {
		how = " was dropped (not reading)"
		r.dropped.Add(1)
	}
	r.leave(m, how)
}

// leave takes m out of the room, once, and announces it with how unless how is empty.
func (r *Room) leave(m *member, how string) {
	r.mu.Lock()
	in := r.names[m.key] == m
	if in {
		delete(r.names, m.key)
	}
	r.mu.Unlock()
	if in {
		r.debug("chat: left", m, "how", strings.TrimSpace(how))
	}
	if in && how != "" {
		r.broadcast(m, "* ", m.name, []byte(how))
	}
}

const shutdownNotice = "* server shutting down\n"

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
	targets := make([]reactor.Conn, 0, len(r.names))
	for _, m := range r.names {
		targets = append(targets, m.conn)
	}
	r.mu.Unlock()
	for _, t := range targets {
		t.AsyncWrite([]byte(shutdownNotice))
	}
}

func (r *Room) tooLong(m *member) {
	m.conn.Write([]byte("! line too long (max " + strconv.Itoa(r.maxLine) + " bytes); discarded\n"))
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
		m.conn.Write([]byte("! name yourself first with: NAME: <name>\n"))
	default:
		r.broadcast(m, m.name, ": ", line)
	}
	return reactor.None
}

func (r *Room) command(m *member, line string) reactor.Action {
	cmd, arg, _ := strings.Cut(line, " ")
	switch cmd {
	case "/who":
		r.mu.RLock()
		names := make([]string, 0, len(r.names))
		for _, m := range r.names {
			names = append(names, m.name)
		}
		r.mu.RUnlock()
		sort.Strings(names)
		m.conn.Write([]byte("* members (" + strconv.Itoa(len(names)) + "): " + strings.Join(names, ", ") + "\n"))
	case "/name":
		r.setName(m, strings.TrimSpace(arg))
	case "/quit":
		// Leave now rather than in OnClose: the others hear of it at once, and nothing said
		// after this reaches the member behind its "* bye".
		r.leave(m, " left")
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

// setName names or renames the member, refusing invalid and taken names.
func (r *Room) setName(m *member, name string) {
	if problem := r.checkName(name); problem != "" {
		m.conn.Write([]byte("! " + problem + "\n"))
		return
	}
	if name == m.name {
		return
	}
	key := nameKey(name)
	r.mu.Lock()
	if holder, taken := r.names[key]; taken && holder != m {
		r.mu.Unlock()
		if holder.name == name {
			m.conn.Write([]byte("! name " + name + " is taken\n"))
		} else {
			m.conn.Write([]byte("! name " + name + " is taken (too like " + holder.name + ")\n"))
		}
		return
	}
	old := m.name
	delete(r.names, m.key)
	r.names[key] = m
	m.name, m.key = name, key
	closing := r.closing
	r.mu.Unlock()
	r.debug("chat: named", m, "was", old)
	if old == "" {
		m.conn.Write([]byte("CLIENT: " + m.conn.RemoteAddr().String() + "\n"))
		if closing {
			m.conn.Write([]byte(shutdownNotice))
		}
		r.broadcast(m, "* ", name, []byte(" joined"))
		return
	}
	m.conn.Write([]byte("* you are now " + name + "\n"))
	r.broadcast(m, "* ", old, []byte(" is now "+name))
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

// broadcast sends a+b, then text made safe for terminals (AppendSafe), then a newline, to every
// named member but from; a and b are the room's own words and names, which need no cleaning.
// The recipients are collected under the lock and written to after it is released, so a backend
// that closes a slow recipient inside AsyncWrite cannot deadlock on the room.
func (r *Room) broadcast(from *member, a, b string, text []byte) {
	msg := AppendSafe(append(append(from.line[:0], a...), b...), text)
	msg = append(msg, '\n')
	from.line = msg
	r.mu.RLock()
	targets := from.targets[:0]
	for _, m := range r.names {
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
