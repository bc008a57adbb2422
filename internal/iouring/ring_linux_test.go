//go:build linux

package iouring

import (
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

func TestLayout(t *testing.T) {
	for _, c := range []struct {
		name      string
		got, want uintptr
	}{
		{"SQE", unsafe.Sizeof(SQE{}), 64},
		{"CQE", unsafe.Sizeof(CQE{}), 16},
		{"params", unsafe.Sizeof(params{}), 120},
		{"getEventsArg", unsafe.Sizeof(getEventsArg{}), 24},
	} {
		if c.got != c.want {
			t.Errorf("sizeof %s = %d; want %d (the kernel's layout)", c.name, c.got, c.want)
		}
	}
}

// TestRecvIntoProvidedBuffers runs what the reactor relies on: a multishot receive that takes
// the kernel's choice of buffer, twice, with the buffer given back between.
func TestRecvIntoProvidedBuffers(t *testing.T) {
	if err := Probe(); err != nil {
		t.Skipf("io_uring unavailable: %v", err)
	}
	r, err := New(8)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	b, err := r.NewBufRing(0, 2, 16)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fds[0])
	defer unix.Close(fds[1])
	e := r.Next()
	e.Opcode, e.Fd, e.Flags, e.Ioprio, e.UserData = OpRecv, int32(fds[0]), SqeBufferSelect, RecvMultishot, 7
	for i, msg := range []string{"hello", "again", "third"} {
		unix.Write(fds[1], []byte(msg))
		if err := r.Enter(true, int64(2e9)); err != nil {
			t.Fatal(err)
		}
		c, ok := r.Peek()
		if !ok {
			t.Fatalf("message %d: no completion", i)
		}
		r.Advance()
		if c.UserData != 7 || c.Res != int32(len(msg)) || c.Flags&CqeMore == 0 {
			t.Fatalf("message %d: completion %+v; want user data 7, %d bytes, more to come", i, c, len(msg))
		}
		if got := string(b.Buf(c.BufID(), int(c.Res))); got != msg {
			t.Fatalf("message %d: buffer holds %q; want %q", i, got, msg)
		}
		b.Return(c.BufID())
	}
}
