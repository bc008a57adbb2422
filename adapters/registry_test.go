package adapters_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/reactorlab/reactor/adapters"
	"github.com/reactorlab/reactor/reactor"
)

func TestRegistryHoldsEveryBackend(t *testing.T) {
	got := adapters.Registry().Names()
	want := []string{"busypoll", "epoll", "evio", "gnet", "nbio", "netpoll", "poll", "process", "select", "std", "thread", "uring"}
	if !slices.Equal(got, want) {
		t.Fatalf("Registry().Names() = %v; want %v", got, want)
	}
}

// TestRegistryConstructsEveryName: every backend available here constructs and starts; every
// other one says why not, and New refuses it with ErrNotSupported and that reason.
func TestRegistryConstructsEveryName(t *testing.T) {
	reg := adapters.Registry()
	for _, info := range reg.Infos() {
		t.Run(info.Name, func(t *testing.T) {
			b, err := reg.New(info.Name, reactor.Config{Loops: 1})
			if !info.Available {
				if info.Reason == "" {
					t.Errorf("not available, with no reason given")
				}
				if !errors.Is(err, reactor.ErrNotSupported) {
					t.Errorf("New = %v; want an error wrapping ErrNotSupported", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			if got := b.Info().Name; got != info.Name {
				t.Errorf("the backend calls itself %q; want %q", got, info.Name)
			}
			if _, err := b.Start(reactor.NopHandler{}); err != nil {
				t.Fatalf("Start: %v", err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := b.Shutdown(ctx); err != nil {
				t.Errorf("Shutdown: %v", err)
			}
		})
	}
}

func TestRegistryIsNewEachCall(t *testing.T) {
	// A caller adds backends of its own without changing what others get.
	mine := adapters.Registry()
	mine.Register(reactor.Info{Name: "mine"}, nil)
	if _, ok := adapters.Registry().Info("mine"); ok {
		t.Errorf("a backend registered in one Registry() shows in the next")
	}
}
