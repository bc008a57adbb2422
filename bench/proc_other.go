//go:build !linux

package bench

import (
	"fmt"
	"syscall"

	"github.com/reactorlab/reactor/reactor"
)

// clockTicks keeps the report's arithmetic the same everywhere; off Linux no CPU time is read,
// so the reports say "n/a" for CPU and memory.
const clockTicks = 100

// pinSupported reports whether CPU pinning works on this OS.
const pinSupported = false

var errNoProc = fmt.Errorf("bench: process accounting without /proc: %w", reactor.ErrNotSupported)

func cpuTime(pid int) (float64, error)            { return 0, errNoProc }
func schedTime(pid int) (float64, error)          { return 0, errNoProc }
func memory(pid int) (rss, peak int64, err error) { return 0, 0, errNoProc }
func cpuAllowedList(pid int) string               { return "" }
func deathSignal() *syscall.SysProcAttr           { return nil }
func fdLimit() int                                { return 0 }

type cpuMask [16]uint64

func (m *cpuMask) set(cpu int)             { m[cpu/64] |= 1 << (uint(cpu) % 64) }
func (m *cpuMask) cpus() []int             { return nil }
func getAffinity(tid int) (cpuMask, error) { return cpuMask{}, errNoProc }
func setAffinity(tid int, m cpuMask) error { return errNoProc }
func setProcessAffinity(m cpuMask) error   { return errNoProc }
