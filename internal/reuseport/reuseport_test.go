//go:build linux

package reuseport

import (
	"fmt"
	"io"
	"net"
	"testing"
	"time"
)

func TestTwoListenersShareAReservedPort(t *testing.T) {
	addr, release, err := Reserve("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	if addr.Port == 0 {
		t.Fatalf("reserved port 0; want the kernel's pick")
	}
	var lns []net.Listener
	for i := 0; i < 2; i++ {
		ln, err := Listen(addr.String())
		if err != nil {
			t.Fatalf("listener %d on the reserved port: %v", i, err)
		}
		defer ln.Close()
		lns = append(lns, ln)
		go func() {
			// Answers until the listener closes with the test.
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				fmt.Fprintf(c, "%d", i)
				c.Close()
			}
		}()
	}
	// Every connection is answered (the reservation takes none), and the kernel spreads them.
	seen := map[string]int{}
	for k := 0; k < 200; k++ {
		c, err := net.DialTimeout("tcp", addr.String(), 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(2 * time.Second))
		b, err := io.ReadAll(c)
		c.Close()
		if err != nil || len(b) != 1 {
			t.Fatalf("connection %d: %q, %v; want an answer from a listener", k, b, err)
		}
		seen[string(b)]++
	}
	if len(seen) != 2 {
		t.Errorf("connections per listener: %v; want both listeners used", seen)
	}
}
