package proxy

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/reactorlab/reactor/internal/ratelog"
)

// ErrNoUpstream is returned by New and ParseUpstreams when no upstream is given.
var ErrNoUpstream = errors.New("proxy: no upstream")

// ParseUpstreams splits a comma-separated list of host:port addresses, as --upstream takes
// it, and checks each: a host (a name or an IP address; names are resolved when dialled) and a
// numeric port from 1 to 65535. Spaces around an entry are ignored; an empty entry is an error.
func ParseUpstreams(list string) ([]string, error) {
	if strings.TrimSpace(list) == "" {
		return nil, ErrNoUpstream
	}
	addrs := strings.Split(list, ",")
	for i, a := range addrs {
		addrs[i] = strings.TrimSpace(a)
		if err := checkUpstream(addrs[i]); err != nil {
			return nil, err
		}
	}
	return addrs, nil
}

// checkUpstream says what is wrong with one upstream address, or returns nil.
func checkUpstream(addr string) error {
	if addr == "" {
		return fmt.Errorf("proxy: empty upstream address in the list")
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("proxy: upstream %q: want host:port (%v)", addr, err)
	}
	if host == "" {
		return fmt.Errorf("proxy: upstream %q has no host", addr)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("proxy: upstream %q: port %q is not a number from 1 to 65535", addr, port)
	}
	return nil
}

// upstream is one server connections are relayed to.
type upstream struct {
	addr string
	// warn limits the warnings about this upstream (unreachable, cutting connections) to one a
	// second, so that an upstream that is down does not flood the log.
	warn ratelog.Limiter
}

// roundRobin deals connections out to the upstreams in turn. It is safe from any goroutine.
type roundRobin struct {
	ups  []*upstream
	next atomic.Uint64
}

func newRoundRobin(addrs []string) *roundRobin {
	rr := &roundRobin{ups: make([]*upstream, len(addrs))}
	for i, a := range addrs {
		rr.ups[i] = &upstream{addr: a}
	}
	return rr
}

// pick returns the upstream for the next connection.
func (rr *roundRobin) pick() *upstream {
	n := rr.next.Add(1) - 1
	return rr.ups[n%uint64(len(rr.ups))]
}
