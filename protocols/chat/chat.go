package chat

import (
	"bytes"
	"errors"
	"sort"
	"strconv"
	"strings"
	"sync"

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
}

// Room is one chat room: every connection of the backend it is served on is a member. It is safe
// for the concurrent callbacks of many connections.
type Room struct {
	maxLine, maxName int

	mu    sync.RWMutex
	names map[string]*member // named members only: the audience of broadcasts
}

// member is a connection's state, kept in its Conn context.
type member struct {
	conn       reactor.Conn
	name       string // empty until the member names itself
	discarding bool   // inside an overlong line: drop bytes up to the next newline
	line       []byte // scratch for building outgoing lines
	targets    []reactor.Conn
}

// New returns an empty room.
func New(cfg Config) *Room {
	if cfg.MaxLine <= 0 {
		cfg.MaxLine = DefaultMaxLine
	}
	if cfg.MaxName <= 0 {
		cfg.MaxName = DefaultMaxName
	}
	return &Room{maxLine: cfg.MaxLine, maxName: cfg.MaxName, names: map[string]*member{}}
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
	r.mu.Lock()
	delete(r.names, m.name)
	r.mu.Unlock()
	how := " left\n"
	if errors.Is(err, reactor.ErrOutboundFull) {
		how = " was dropped (not reading)\n"
	}
	r.broadcast(m, "* ", m.name, []byte(how))
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
		for n := range r.names {
			names = append(names, n)
		}
		r.mu.RUnlock()
		sort.Strings(names)
		m.conn.Write([]byte("* members (" + strconv.Itoa(len(names)) + "): " + strings.Join(names, ", ") + "\n"))
	case "/name":
		r.setName(m, strings.TrimSpace(arg))
	case "/quit":
		m.conn.Write([]byte("* bye\n"))
		return reactor.Close
	case "/help":
		m.conn.Write([]byte(help))
	default:
		m.conn.Write([]byte("! unknown command " + cmd + " (try /help)\n"))
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
	r.mu.Lock()
	if _, taken := r.names[name]; taken {
		r.mu.Unlock()
		m.conn.Write([]byte("! name " + name + " is taken\n"))
		return
	}
	old := m.name
	delete(r.names, old)
	r.names[name] = m
	m.name = name
	r.mu.Unlock()
	if old == "" {
		m.conn.Write([]byte("CLIENT: " + m.conn.RemoteAddr().String() + "\n"))
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

// broadcast sends a+b+c and a newline (unless c already ends with one) to every named member
// but from. The recipients are collected under the lock and written to after it is released,
// so a backend that closes a slow recipient inside AsyncWrite cannot deadlock on the room.
func (r *Room) broadcast(from *member, a, b string, c []byte) {
	msg := append(append(append(from.line[:0], a...), b...), c...)
	if !bytes.HasSuffix(c, []byte{'\n'}) {
		msg = append(msg, '\n')
	}
	from.line = msg
	r.mu.RLock()
	targets := from.targets[:0]
	for _, m := range r.names {
		if m != from {
			targets = append(targets, m.conn)
		}
	}
	r.mu.RUnlock()
	for i, t := range targets {
		// A failed write means the backend is dropping that member; its OnClose announces it.
		t.AsyncWrite(msg)
		targets[i] = nil
	}
	from.targets = targets[:0]
}
