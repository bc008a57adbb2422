package kv

import (
	"bytes"
	"strconv"
	"sync"
	"time"

	"github.com/reactorlab/reactor/reactor"
)

// Defaults for zero Config fields.
const (
	DefaultMaxLine     = 1024
	DefaultIdleTimeout = time.Minute
)

// Config tunes a Server. The zero value works.
type Config struct {
	// MaxLine is the longest line accepted, in bytes without the line ending. A longer line is
	// refused with ERR and discarded. Default DefaultMaxLine.
	MaxLine int
	// IdleTimeout is how long a connection may send nothing before it is closed. Default
	// DefaultIdleTimeout.
	IdleTimeout time.Duration
}

// Server is the protocol's reactor.Handler, and the store that all its connections share.
// Serve one Server on a backend; its methods are safe for the callbacks of many connections
// running in parallel.
type Server struct {
	maxLine int
	idle    time.Duration
	now     func() time.Time // time.Now, or a test's fake clock

	mu   sync.Mutex // callbacks of different connections run in parallel
	data map[string]string
}

// New returns a Server with an empty store.
func New(cfg Config) *Server {
	if cfg.MaxLine <= 0 {
		cfg.MaxLine = DefaultMaxLine
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	return &Server{maxLine: cfg.MaxLine, idle: cfg.IdleTimeout, now: time.Now, data: map[string]string{}}
}

// session is what a Server keeps per connection, in its Context. Only the connection's owner
// touches it, so it needs no lock.
type session struct {
	last       time.Time // when the last input came, for the idle timer
	discarding bool      // inside an overlong line: drop bytes up to the next newline
}

// OnOpen starts the connection's idle timer.
func (s *Server) OnOpen(c reactor.Conn) {
	c.SetContext(&session{last: s.now()})
	c.AfterFunc(s.idle, s.checkIdle)
}

// OnData answers every complete line in in and leaves a partial last line unconsumed: the
// backend presents it again with the bytes that follow, so the Server keeps no buffer of its
// own. A partial line longer than MaxLine is refused at once, which bounds what stays
// unconsumed.
func (s *Server) OnData(c reactor.Conn, in []byte) (int, reactor.Action) {
	ss := c.Context().(*session)
	ss.last = s.now() // the idle timer reads this; the data path never touches a timer
	consumed := 0
	for consumed < len(in) {
		rest := in[consumed:]
		nl := bytes.IndexByte(rest, '\n')
		if nl < 0 {
			// +1 leaves room for the CR of a CRLF line of the longest length.
			if len(rest) > s.maxLine+1 {
				if !ss.discarding {
					s.tooLong(c)
				}
				ss.discarding = true
				consumed = len(in)
			}
			break
		}
		line := bytes.TrimSuffix(rest[:nl], []byte{'\r'})
		consumed += nl + 1
		if ss.discarding {
			// The end of an overlong line already refused.
			ss.discarding = false
			continue
		}
		if len(line) > s.maxLine {
			s.tooLong(c)
			continue
		}
		if s.command(c, line) == reactor.Close {
			return consumed, reactor.Close
		}
	}
	return consumed, reactor.None
}

// OnClose does nothing: the connection's timer stops with it, and the store outlives it.
func (s *Server) OnClose(reactor.Conn, error) {}

func (s *Server) tooLong(c reactor.Conn) {
	c.Write([]byte("ERR line too long (max " + strconv.Itoa(s.maxLine) + " bytes)\n"))
}

// command runs one line. line is lent: what the store keeps is copied by string().
func (s *Server) command(c reactor.Conn, line []byte) reactor.Action {
	if len(line) == 0 {
		return reactor.None
	}
	cmd, args, _ := bytes.Cut(line, []byte{' '})
	switch string(cmd) {
	case "SET":
		key, value, ok := bytes.Cut(args, []byte{' '})
		if !ok || len(key) == 0 {
			c.Write([]byte("ERR usage: SET key value\n"))
			return reactor.None
		}
		s.mu.Lock()
		s.data[string(key)] = string(value)
		s.mu.Unlock()
		c.Write([]byte("OK\n"))
	case "GET":
		if !oneKey(c, "GET", args) {
			return reactor.None
		}
		s.mu.Lock()
		value, ok := s.data[string(args)]
		s.mu.Unlock()
		if !ok {
			c.Write([]byte("NOT_FOUND\n"))
			return reactor.None
		}
		c.Write([]byte("VALUE " + value + "\n"))
	case "DEL":
		if !oneKey(c, "DEL", args) {
			return reactor.None
		}
		s.mu.Lock()
		_, ok := s.data[string(args)]
		delete(s.data, string(args))
		s.mu.Unlock()
		if !ok {
			c.Write([]byte("NOT_FOUND\n"))
			return reactor.None
		}
		c.Write([]byte("OK\n"))
	case "QUIT":
		c.Write([]byte("BYE\n"))
		return reactor.Close // Write's output is flushed before the close
	default:
		c.Write([]byte("ERR unknown command (SET, GET, DEL, QUIT)\n"))
	}
	return reactor.None
}

// oneKey reports whether args is a single key, and answers ERR if not.
func oneKey(c reactor.Conn, cmd string, args []byte) bool {
	if len(args) == 0 || bytes.IndexByte(args, ' ') >= 0 {
		c.Write([]byte("ERR usage: " + cmd + " key\n"))
		return false
	}
	return true
}
