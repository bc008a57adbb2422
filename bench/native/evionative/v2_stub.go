package evionative

import (
	"time"

	"github.com/reactorlab/reactor/reactor"
)

// Placeholders for contract v2 until this package implements it; this file goes then.

func (g *glue) Post(func(reactor.Conn)) error { return reactor.ErrNotSupported }

func (g *glue) AfterFunc(time.Duration, func(reactor.Conn)) func() bool {
	return func() bool { return false }
}

func (g *glue) PauseRead()    {}
func (g *glue) ResumeRead()   {}
func (g *glue) Buffered() int { return 0 }
