//go:build linux && race

package netpoller

import (
	"testing"

	"github.com/cloudwego/netpoll"
)

// checkOperatorMap checks that the race detector's poller p finds op, registered for fd, in
// the map registerOperator writes to.
func checkOperatorMap(t *testing.T, l *netpollLayout, p netpoll.Poll, op *netpoll.FDOperator, fd int) {
	t.Helper()
	if v, ok := l.opsOf(p).Load(fd); !ok || v != op {
		t.Errorf("the poller's map holds %v for descriptor %d; want its operator %p", v, fd, op)
	}
}
