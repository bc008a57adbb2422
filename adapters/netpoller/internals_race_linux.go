//go:build linux && race

package netpoller

import "github.com/cloudwego/netpoll"

// epollData is the epoll_data netpoll v0.7.2's poller expects under the race detector: the
// descriptor, which its poller looks up in a map (setOperator in its
// poll_default_linux_race.go).
func epollData(_ *netpoll.FDOperator, fd int) uint64 { return uint64(uint32(int32(fd))) }
