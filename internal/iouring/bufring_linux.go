//go:build linux

package iouring

import (
	"os"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// BufRing is a provided-buffer ring (IORING_REGISTER_PBUF_RING): a group of equal buffers
// the kernel picks from for a receive that asks for one (SqeBufferSelect), so that a
// connection holds no read buffer while it waits. The buffers and the ring live in anonymous
// mappings, outside the Go heap: the kernel writes into them whenever it likes, and their pages
// count only once touched.
type BufRing struct {
	r       *Ring
	group   uint16
	entries uint16
	size    int
	ring    []byte // entries × struct io_uring_buf {addr u64; len u32; bid u16; resv u16}
	mem     []byte // entries × size
	tail    uint16
	bid0    uint16 // the bid last written into entry 0 (see publish)
}

// bufReg is struct io_uring_buf_reg, which registers and unregisters a buffer ring.
type bufReg struct {
	addr    uint64
	entries uint32
	group   uint16
	flags   uint16
	resv    [3]uint64
}

// NewBufRing registers entries buffers (a power of two, at most 32768) of size bytes each as
// buffer group group of r, and gives them all to the kernel.
func (r *Ring) NewBufRing(group uint16, entries uint16, size int) (*BufRing, error) {
	b := &BufRing{r: r, group: group, entries: entries, size: size}
	var err error
	if b.ring, err = unix.Mmap(-1, 0, int(entries)*16, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS); err != nil {
		return nil, os.NewSyscallError("mmap", err)
	}
	if b.mem, err = unix.Mmap(-1, 0, int(entries)*size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS); err != nil {
		unix.Munmap(b.ring)
		return nil, os.NewSyscallError("mmap", err)
	}
	reg := bufReg{addr: uint64(uintptr(unsafe.Pointer(&b.ring[0]))), entries: uint32(entries), group: group}
	if err := r.register(registerPbufRing, unsafe.Pointer(&reg), 1); err != nil {
		unix.Munmap(b.ring)
		unix.Munmap(b.mem)
		return nil, err
	}
	for i := range entries {
		b.put(i)
	}
	b.publish()
	return b, nil
}

// Buf is buffer bid's first n bytes, as a completion left them.
func (b *BufRing) Buf(bid uint16, n int) []byte {
	off := int(bid) * b.size
	return b.mem[off : off+n : off+b.size]
}

// Size is the size of one buffer: the most one receive completion carries.
func (b *BufRing) Size() int { return b.size }

// Return gives buffer bid back to the kernel, which may fill it again at once.
func (b *BufRing) Return(bid uint16) {
	b.put(bid)
	b.publish()
}

// put writes bid into the ring's next entry, not yet visible to the kernel.
func (b *BufRing) put(bid uint16) {
	slot := b.tail & (b.entries - 1)
	e := unsafe.Pointer(&b.ring[int(slot)*16])
	*(*uint64)(e) = uint64(uintptr(unsafe.Pointer(&b.mem[int(bid)*b.size])))
	*(*uint32)(unsafe.Add(e, 8)) = uint32(b.size)
	if slot == 0 {
		b.bid0 = bid // written by publish, with the tail
	} else {
		*(*uint16)(unsafe.Add(e, 12)) = bid
	}
	b.tail++
}

// publish makes the entries put so far visible: it stores the ring's tail, which the kernel
// loads with acquire semantics. The tail is a 16-bit field (entry 0's resv) and sync/atomic
// has no 16-bit store, so the 32-bit word it shares with entry 0's bid is stored whole; the
// kernel reads that bid only once the tail covers entry 0, so it is written in the same store.
func (b *BufRing) publish() {
	w := [2]uint16{b.bid0, b.tail}
	atomic.StoreUint32((*uint32)(unsafe.Pointer(&b.ring[12])), *(*uint32)(unsafe.Pointer(&w)))
}

// Close unregisters the group and unmaps its memory. The owner does this only once no receive
// that may use it is in flight.
func (b *BufRing) Close() {
	reg := bufReg{group: b.group}
	b.r.register(unregisterPbufRing, unsafe.Pointer(&reg), 1)
	unix.Munmap(b.ring)
	unix.Munmap(b.mem)
}
