package backendkit

import (
	"errors"
	"strings"
	"syscall"
	"testing"

	"github.com/reactorlab/reactor/reactor"
)

func TestDialErrorWrapsBoth(t *testing.T) {
	err := DialError("127.0.0.1:1", syscall.ECONNREFUSED)
	if !errors.Is(err, reactor.ErrDialFailed) || !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("%v: want both ErrDialFailed and ECONNREFUSED found by errors.Is", err)
	}
	if !strings.Contains(err.Error(), "127.0.0.1:1") || !strings.Contains(err.Error(), "refused") {
		t.Errorf("%q: want the address and the reason", err)
	}
}

func TestCheckDialAddr(t *testing.T) {
	for _, ok := range []string{"127.0.0.1:80", "[::1]:65535", "localhost:7000", ":9"} {
		if err := CheckDialAddr(ok); err != nil {
			t.Errorf("CheckDialAddr(%q) = %v; want nil", ok, err)
		}
	}
	for _, bad := range []string{"", "127.0.0.1", "127.0.0.1:0", "127.0.0.1:65536", "host:http", "[::1:80"} {
		if err := CheckDialAddr(bad); err == nil {
			t.Errorf("CheckDialAddr(%q) = nil; want an error", bad)
		}
	}
}
