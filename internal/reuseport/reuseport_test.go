//go:build linux

package reuseport

import (
	"errors"
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
	for i := 0; i < 2; i++ {
		ln, err := Listen(addr.String())
		if err != nil {
			t.Fatalf("listener %d on the reserved port: %v", i, err)
		}
		defer ln.Close()
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

func TestCheckFree(t *testing.T) {
	// A port held only by a reservation, by SO_REUSEPORT listeners, or by a plain listener is
	// in use; once they are closed it is free again.
	addr, release, err := Reserve("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckFree(addr.String()); !errors.Is(err, ErrInUse) {
		t.Errorf("reserved port: CheckFree = %v; want ErrInUse", err)
	}
	ln, err := Listen(addr.String())
	if err != nil {
		t.Fatal(err)
	}
	release()
	if err := CheckFree(addr.String()); !errors.Is(err, ErrInUse) {
		t.Errorf("port with an SO_REUSEPORT listener: CheckFree = %v; want ErrInUse", err)
	}
	ln.Close()
	if err := CheckFree(addr.String()); err != nil {
		t.Errorf("port after its listeners closed: CheckFree = %v; want nil", err)
	}
	plain, err := net.Listen("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if err := CheckFree(addr.String()); !errors.Is(err, ErrInUse) {
		t.Errorf("port with a plain listener: CheckFree = %v; want ErrInUse", err)
	}
	if err := CheckFree("127.0.0.1:0"); err != nil {
		t.Errorf("port 0: CheckFree = %v; want nil", err)
	}
}
