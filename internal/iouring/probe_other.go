//go:build !linux

package iouring

import (
	"fmt"
	"runtime"
)

// Probe reports that io_uring is Linux's alone.
func Probe() error { return fmt.Errorf("io_uring is a Linux interface, not on %s", runtime.GOOS) }
