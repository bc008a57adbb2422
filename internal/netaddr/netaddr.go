// Package netaddr holds the address helpers the adapters share.
package netaddr

import (
	"net"
	"strings"
)

// Clone returns a copy of a that shares no memory with it. The adapters hand the handler
// copies of what their library gives: gnet recycles a connection's addresses when it closes,
// and netpoll gives every connection of a listener the listener's own address value.
func Clone(a net.Addr) net.Addr {
	ta, ok := a.(*net.TCPAddr)
	if !ok {
		return a
	}
	return &net.TCPAddr{IP: append(net.IP(nil), ta.IP...), Port: ta.Port, Zone: strings.Clone(ta.Zone)}
}
