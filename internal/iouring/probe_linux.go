//go:build linux

package iouring

import (
	"errors"
	"fmt"
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// Ops is every opcode the reactor submits; Probe checks each.
var Ops = []uint8{OpNop, OpPollAdd, OpRead, OpAccept, OpRecv, OpSend, OpSendmsg, OpConnect, OpClose, OpAsyncCancel}

var probe struct {
	once  sync.Once
	err   error
	limit bool
}

// Probe reports, once per process, why io_uring cannot serve here, or nil: a ring must set up
// (a sysctl, io_uring_disabled, or a seccomp profile such as Docker's default may refuse it),
// the kernel must implement every opcode in Ops, register a provided-buffer ring and run a
// multishot receive from it (Linux 6.0 and later). It tries each rather than reading the
// kernel's version.
func Probe() error {
	probe.once.Do(func() { probe.err = probeOnce() })
	return probe.err
}

// RecvLimit reports whether a multishot receive here takes a byte limit (SQE.Optlen), after
// which it ends (Linux 6.17 and later). Probe must have succeeded.
func RecvLimit() bool {
	Probe()
	return probe.limit
}

func probeOnce() error {
	r, err := New(8)
	if err != nil {
		if errors.Is(err, unix.EPERM) || errors.Is(err, unix.ENOSYS) {
			return fmt.Errorf("io_uring is disabled here (sysctl kernel.io_uring_disabled, or a seccomp profile): %w", err)
		}
		return err
	}
	defer r.Close()
	missing, ok, err := r.Supported(Ops...)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("io_uring: the kernel lacks opcode %d", missing)
	}
	b, err := r.NewBufRing(0, 2, 64)
	if err != nil {
		return fmt.Errorf("io_uring: provided-buffer ring: %w", err)
	}
	defer b.Close()
	if err := probeMultishot(r, 0); err != nil {
		return err
	}
	probe.limit = probeMultishot(r, 1) == nil
	return nil
}

// probeMultishot receives a byte over a socket pair with a multishot receive and checks that
// the completion says it stays armed, then cancels it and waits for both completions. With a
// limit, it checks that the receive ends once it has taken that many bytes.
func probeMultishot(r *Ring, limit uint32) error {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return os.NewSyscallError("socketpair", err)
	}
	defer unix.Close(fds[0])
	defer unix.Close(fds[1])
	if _, err := unix.Write(fds[1], []byte{1, 2}); err != nil {
		return os.NewSyscallError("write", err)
	}
	e := r.Next()
	e.Opcode, e.Fd, e.Flags, e.Ioprio, e.UserData = OpRecv, int32(fds[0]), SqeBufferSelect, RecvMultishot, 1
	e.Optlen = limit
	if err := r.Enter(true, int64(1e9)); err != nil {
		return err
	}
	c, ok := r.Peek()
	if !ok {
		return errors.New("io_uring: a multishot receive did not complete")
	}
	r.Advance()
	if c.Res < 0 {
		return fmt.Errorf("io_uring: multishot receive: %w", unix.Errno(-c.Res))
	}
	if limit > 0 {
		// The limit may be passed by the last receive, which takes what there is; then the
		// request ends.
		if c.Flags&CqeMore != 0 {
			return errors.New("io_uring: a multishot receive's byte limit is not kept")
		}
		return nil
	}
	if c.Flags&CqeMore == 0 || c.Flags&CqeBuffer == 0 {
		return errors.New("io_uring: the kernel has no multishot receive into provided buffers")
	}
	e = r.Next()
	e.Opcode, e.Addr, e.UserData = OpAsyncCancel, 1, 2
	for n := 0; n < 2; {
		if err := r.Enter(true, int64(1e9)); err != nil {
			return err
		}
		for {
			if _, ok := r.Peek(); !ok {
				break
			}
			r.Advance()
			n++
		}
	}
	return nil
}
