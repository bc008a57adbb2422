//go:build linux && !race

package netpoller

import (
	"testing"

	"github.com/cloudwego/netpoll"
)

// checkOperatorMap does nothing: without the race detector netpoll's poller has no map of
// operators (registerOperator).
func checkOperatorMap(*testing.T, *netpollLayout, netpoll.Poll, *netpoll.FDOperator, int) {}
