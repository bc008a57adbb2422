package main

import (
	"io"
	"testing"
	"time"

	"github.com/reactorlab/reactor/adapters"
	"github.com/reactorlab/reactor/reactor"
	"github.com/reactorlab/reactor/reactor/reactortest"
)

func TestOnEveryBackend(t *testing.T) {
	reactortest.ForEachBackend(t, adapters.Registry(), func(t *testing.T, newBackend reactor.Constructor) {
		const limit = 50 * time.Millisecond
		oc := reactortest.NewOrderChecker(lines{limit: limit})
		b, addr := reactortest.Start(t, newBackend, reactor.Config{}, oc)
		c := reactortest.Dial(t, addr)
		start := time.Now()
		io.WriteString(c, "hello, ")
		io.WriteString(c, "world\n")
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		got, err := io.ReadAll(c) // until the server closes
		if want := "hello, world\nBYE idle\n"; string(got) != want || err != nil {
			t.Errorf("read %q, %v; want %q, then EOF", got, err, want)
		}
		if quiet := time.Since(start); quiet < limit {
			t.Errorf("closed after %v; want at least %v", quiet, limit)
		}
		reactortest.Stop(t, b)
		oc.Check(t)
	})
}
