package kv

import "github.com/reactorlab/reactor/reactor"

// checkIdle is the connection's one idle timer. It runs on the connection's owner, like a
// callback, so it reads the session without a lock. Rather than stop and re-arm a timer on
// every input, OnData only notes the time, and the timer, when it fires, re-arms itself for
// the time left: one timer per connection, re-armed at most once per IdleTimeout.
func (s *Server) checkIdle(c reactor.Conn) {
	quiet := s.now().Sub(c.Context().(*session).last)
	if quiet >= s.idle {
		c.Write([]byte("BYE idle\n"))
		c.Close() // flushes the BYE first
		return
	}
	c.AfterFunc(s.idle-quiet, s.checkIdle)
}
