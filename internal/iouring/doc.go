// Package iouring is the small part of io_uring(7) the hand-written reactor's completion
// backend needs, on raw system calls (io_uring_setup, io_uring_enter, io_uring_register) and
// the mapped rings, with no cgo: a Ring to submit and reap, a provided-buffer ring (BufRing)
// for multishot receives, and Probe, which says whether this kernel and this process's
// sandbox allow all of it.
//
// It is Linux-only; elsewhere Probe reports why not. Nothing here is safe for concurrent use:
// a Ring belongs to the one goroutine that submits to it.
package iouring
