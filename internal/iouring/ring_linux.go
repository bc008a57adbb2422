//go:build linux

package iouring

import (
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Opcodes (include/uapi/linux/io_uring.h), those this project uses.
const (
	OpNop         uint8 = 0
	OpPollAdd     uint8 = 6
	OpSendmsg     uint8 = 9
	OpAccept      uint8 = 13
	OpAsyncCancel uint8 = 14
	OpConnect     uint8 = 16
	OpClose       uint8 = 19
	OpRead        uint8 = 22
	OpSend        uint8 = 26
	OpRecv        uint8 = 27
)

// SQE flags.
const (
	SqeBufferSelect uint8 = 1 << 5 // the kernel picks a buffer from SQE.BufIndex's group
)

// SQE.Ioprio bit of recv: stay armed, one completion per receive.
const RecvMultishot uint16 = 1 << 1

// SQE.OpFlags of OpAsyncCancel.
const (
	CancelAll uint32 = 1 << 0 // every request matching, not only the first
	CancelFd  uint32 = 1 << 1 // match the requests on SQE.Fd rather than by user data
)

// CQE flags.
const (
	CqeBuffer = 1 << 0 // the upper 16 bits of Flags name the buffer used
	CqeMore   = 1 << 1 // a multishot request stays armed: more completions will follow
)

// Features the kernel reports at setup that this package relies on.
const (
	featSingleMmap = 1 << 0
	featNodrop     = 1 << 1
	featExtArg     = 1 << 8
)

const (
	setupCQSize    = 1 << 3
	setupClamp     = 1 << 4
	setupSubmitAll = 1 << 7

	enterGetEvents = 1 << 0
	enterExtArg    = 1 << 3

	offSQRing = 0
	offSQEs   = 0x10000000

	registerProbe      = 8
	registerPbufRing   = 22
	unregisterPbufRing = 23

	probeOps     = 256
	opSupported  = 1 << 0
	sqCQOverflow = 1 << 1
)

// SQE is a submission queue entry, as the kernel lays it out (64 bytes). Fields that differ by
// opcode carry the meaning the opcode gives them (Off is addr2, OpFlags msg_flags or
// cancel_flags, BufIndex buf_group...).
type SQE struct {
	Opcode      uint8
	Flags       uint8
	Ioprio      uint16
	Fd          int32
	Off         uint64
	Addr        uint64
	Len         uint32
	OpFlags     uint32
	UserData    uint64
	BufIndex    uint16
	Personality uint16
	Optlen      uint32 // also splice_fd_in, file_index; a multishot receive's byte limit
	Addr3       uint64
	_           uint64
}

// CQE is a completion queue entry (16 bytes).
type CQE struct {
	UserData uint64
	Res      int32
	Flags    uint32
}

// BufID is the provided buffer a completion used (valid when Flags has CqeBuffer).
func (e *CQE) BufID() uint16 { return uint16(e.Flags >> 16) }

type sqringOffsets struct {
	head, tail, ringMask, ringEntries, flags, dropped, array, resv1 uint32
	userAddr                                                        uint64
}

type cqringOffsets struct {
	head, tail, ringMask, ringEntries, overflow, cqes, flags, resv1 uint32
	userAddr                                                        uint64
}

type params struct {
	sqEntries, cqEntries, flags, sqThreadCPU, sqThreadIdle, features, wqFd uint32
	resv                                                                   [3]uint32
	sqOff                                                                  sqringOffsets
	cqOff                                                                  cqringOffsets
}

type getEventsArg struct {
	sigmask   uint64
	sigmaskSz uint32
	minWait   uint32
	ts        uint64
}

// Ring is one io_uring instance: its submission and completion queues mapped into this
// process. A Ring is not safe for concurrent use; one goroutine (an event loop) owns it.
//
// Memory ordering follows the kernel's rules for the shared rings: the application fills an
// SQE and then publishes it by storing the SQ tail (release); it reads the SQ head the kernel
// advances with a load (acquire). It reads the CQ tail (acquire) before the CQEs below it and
// gives them back by storing the CQ head (release). sync/atomic's operations are sequentially
// consistent, which is at least that.
type Ring struct {
	fd       int
	ringMem  []byte
	sqeMem   []byte
	sqHead   *uint32
	sqTail   *uint32
	sqFlags  *uint32
	sqMask   uint32
	sqSize   uint32
	sqes     []SQE
	tail     uint32 // SQEs handed out by Next; published to *sqTail by Enter
	cqHead   *uint32
	cqTail   *uint32
	cqMask   uint32
	cqes     []CQE
	features uint32
	arg      getEventsArg
	ts       unix.Timespec
}

// New sets up a ring with entries submission slots (a power of two; the kernel rounds up) and
// a completion queue four times as large, so that multishot requests rarely overflow it.
func New(entries uint32) (*Ring, error) {
	p := params{flags: setupCQSize | setupClamp | setupSubmitAll, cqEntries: 4 * entries}
	fd, _, e := unix.Syscall(unix.SYS_IO_URING_SETUP, uintptr(entries), uintptr(unsafe.Pointer(&p)), 0)
	if e != 0 {
		return nil, os.NewSyscallError("io_uring_setup", e)
	}
	r := &Ring{fd: int(fd), features: p.features}
	if err := r.mapRings(&p); err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

func (r *Ring) mapRings(p *params) error {
	const need = featSingleMmap | featNodrop | featExtArg
	if p.features&need != need {
		return fmt.Errorf("io_uring: kernel lacks features %#x (single mmap, no-drop, ext arg)", need&^p.features)
	}
	sqLen := p.sqOff.array + p.sqEntries*4
	cqLen := p.cqOff.cqes + p.cqEntries*uint32(unsafe.Sizeof(CQE{}))
	size := max(sqLen, cqLen)
	mem, err := unix.Mmap(r.fd, offSQRing, int(size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		return os.NewSyscallError("mmap", err)
	}
	r.ringMem = mem
	sqeSize := int(p.sqEntries) * int(unsafe.Sizeof(SQE{}))
	if r.sqeMem, err = unix.Mmap(r.fd, offSQEs, sqeSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE); err != nil {
		return os.NewSyscallError("mmap", err)
	}
	at := func(off uint32) *uint32 { return (*uint32)(unsafe.Pointer(&mem[off])) }
	r.sqHead, r.sqTail, r.sqFlags = at(p.sqOff.head), at(p.sqOff.tail), at(p.sqOff.flags)
	r.sqMask, r.sqSize = *at(p.sqOff.ringMask), p.sqEntries
	r.sqes = unsafe.Slice((*SQE)(unsafe.Pointer(&r.sqeMem[0])), p.sqEntries)
	// The indirection array maps ring slots to SQEs; identity, set once.
	array := unsafe.Slice(at(p.sqOff.array), p.sqEntries)
	for i := range array {
		array[i] = uint32(i)
	}
	r.cqHead, r.cqTail, r.cqMask = at(p.cqOff.head), at(p.cqOff.tail), *at(p.cqOff.ringMask)
	r.cqes = unsafe.Slice((*CQE)(unsafe.Pointer(&mem[p.cqOff.cqes])), p.cqEntries)
	r.tail = *r.sqTail
	return nil
}

// Close unmaps the rings and closes the ring's descriptor; the kernel cancels what is still in
// flight. The owner drains its requests first, so that no memory they use is freed under them.
func (r *Ring) Close() {
	if r.sqeMem != nil {
		unix.Munmap(r.sqeMem)
		r.sqeMem = nil
	}
	if r.ringMem != nil {
		unix.Munmap(r.ringMem)
		r.ringMem = nil
	}
	if r.fd >= 0 {
		unix.Close(r.fd)
		r.fd = -1
	}
}

// Next returns a zeroed SQE to fill, or nil when the submission queue is full (Enter, then
// try again). It is published to the kernel by the next Enter.
func (r *Ring) Next() *SQE {
	if r.tail-atomic.LoadUint32(r.sqHead) >= r.sqSize {
		return nil
	}
	e := &r.sqes[r.tail&r.sqMask]
	*e = SQE{}
	r.tail++
	return e
}

// Pending is the number of SQEs handed out and not yet taken by the kernel.
func (r *Ring) Pending() uint32 { return r.tail - atomic.LoadUint32(r.sqHead) }

// ErrTimedOut is Enter's answer when its wait ended by the timeout.
var ErrTimedOut = errors.New("io_uring: wait timed out")

// Enter publishes the SQEs handed out, submits them and, when wait is true, blocks until at
// least one completion is ready or timeoutNs passes (negative: no limit). It reports
// ErrTimedOut when the timeout ended the wait, and nothing for EINTR.
func (r *Ring) Enter(wait bool, timeoutNs int64) error {
	atomic.StoreUint32(r.sqTail, r.tail)
	toSubmit := r.tail - atomic.LoadUint32(r.sqHead)
	var minComplete uintptr
	flags := uintptr(enterGetEvents | enterExtArg) // GETEVENTS also flushes an overflowed CQ
	r.arg = getEventsArg{}
	if wait {
		minComplete = 1
		if timeoutNs >= 0 {
			r.ts = unix.NsecToTimespec(timeoutNs)
			r.arg.ts = uint64(uintptr(unsafe.Pointer(&r.ts)))
		}
	}
	_, _, e := unix.Syscall6(unix.SYS_IO_URING_ENTER, uintptr(r.fd), uintptr(toSubmit), minComplete, flags,
		uintptr(unsafe.Pointer(&r.arg)), unsafe.Sizeof(r.arg))
	switch e {
	case 0, unix.EINTR:
		return nil
	case unix.ETIME:
		return ErrTimedOut
	case unix.EBUSY, unix.EAGAIN:
		// The completion queue is full (its overflow included), or the kernel is short of
		// memory for a moment: the caller reaps completions and enters again.
		return nil
	}
	return os.NewSyscallError("io_uring_enter", e)
}

// Overflowed reports whether completions wait in the kernel for room in the queue.
func (r *Ring) Overflowed() bool { return atomic.LoadUint32(r.sqFlags)&sqCQOverflow != 0 }

// Peek returns the next completion, or false when none is ready. The CQE is a copy; call
// Advance to give its slot back.
func (r *Ring) Peek() (CQE, bool) {
	head := *r.cqHead
	if head == atomic.LoadUint32(r.cqTail) {
		return CQE{}, false
	}
	return r.cqes[head&r.cqMask], true
}

// Advance gives the slot of the completion Peek returned back to the kernel.
func (r *Ring) Advance() { atomic.StoreUint32(r.cqHead, *r.cqHead+1) }

// Supported reports which of ops the kernel's io_uring implements (IORING_REGISTER_PROBE):
// the first missing one, or ok.
func (r *Ring) Supported(ops ...uint8) (missing uint8, ok bool, err error) {
	// struct io_uring_probe: a 16-byte header, then 8 bytes per opcode.
	var buf [16 + probeOps*8]byte
	if err := r.register(registerProbe, unsafe.Pointer(&buf[0]), probeOps); err != nil {
		return 0, false, err
	}
	last := buf[0]
	for _, op := range ops {
		if op > last || buf[16+int(op)*8+2]&opSupported == 0 {
			return op, false, nil
		}
	}
	return 0, true, nil
}

func (r *Ring) register(op uintptr, arg unsafe.Pointer, n uintptr) error {
	_, _, e := unix.Syscall6(unix.SYS_IO_URING_REGISTER, uintptr(r.fd), op, uintptr(arg), n, 0, 0)
	if e != 0 {
		return os.NewSyscallError("io_uring_register", e)
	}
	return nil
}
