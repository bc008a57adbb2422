package conntest

import (
	"time"

	"github.com/reactorlab/reactor/reactor"
)

// Placeholders for contract v2 until this package implements it; this file goes then.

func (c *Conn) Post(func(reactor.Conn)) error { return reactor.ErrNotSupported }

func (c *Conn) AfterFunc(time.Duration, func(reactor.Conn)) func() bool {
	return func() bool { return false }
}

func (c *Conn) PauseRead()    {}
func (c *Conn) ResumeRead()   {}
func (c *Conn) Buffered() int { return 0 }
