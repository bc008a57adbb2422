package evioloop

import (
	"errors"
	"runtime"
	"slices"
	"testing"

	"github.com/reactorlab/reactor/reactor"
	"github.com/reactorlab/reactor/reactor/reactortest"
)

func TestConformance(t *testing.T) { reactortest.Run(t, New) }

func TestInfo(t *testing.T) {
	in := Info()
	if in.Name != "evio" {
		t.Errorf("Name = %q; want evio", in.Name)
	}
	if in.Available != (runtime.GOOS == "linux") || in.Available == (in.Reason != "") {
		t.Errorf("Available = %v, Reason = %q on %s", in.Available, in.Reason, runtime.GOOS)
	}
	for _, opt := range []string{"EdgeTriggered", "ReadBufferSize", ReadWhileOutputWaits} {
		if !slices.Contains(in.Unsupported, opt) {
			t.Errorf("Unsupported = %v; want it to list %s", in.Unsupported, opt)
		}
	}
	for _, point := range []string{"Dial", "CloseWrite"} {
		if slices.Contains(in.Unsupported, point) {
			t.Errorf("Unsupported = %v; want %s gone, as it is implemented", in.Unsupported, point)
		}
	}
}

// TestUnsupportedOptions: every option listed as unsupported makes New fail with
// ErrNotSupported instead of being dropped silently.
func TestUnsupportedOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  reactor.Config
	}{
		{"EdgeTriggered", reactor.Config{EdgeTriggered: true}},
		{"ReadBufferSize", reactor.Config{ReadBufferSize: 4096}},
	} {
		b, err := New(tc.cfg)
		if !errors.Is(err, reactor.ErrNotSupported) {
			t.Errorf("New with %s: (%v, %v); want ErrNotSupported", tc.name, b, err)
		}
	}
}
