//go:build linux

package epoll

import (
	"time"

	"github.com/reactorlab/reactor/reactor"
)

// Placeholders for contract v2 until this package implements it; this file goes then.

func (c *conn) Post(func(reactor.Conn)) error { return reactor.ErrNotSupported }

func (c *conn) AfterFunc(time.Duration, func(reactor.Conn)) func() bool {
	return func() bool { return false }
}

func (c *conn) PauseRead()    {}
func (c *conn) ResumeRead()   {}
func (c *conn) Buffered() int { return 0 }
