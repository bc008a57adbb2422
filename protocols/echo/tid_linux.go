package echo

import "golang.org/x/sys/unix"

// gettid is the calling OS thread's ID.
func gettid() (int, error) { return unix.Gettid(), nil }
