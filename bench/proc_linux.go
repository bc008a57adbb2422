//go:build linux

package bench

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"unsafe"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/<pid>/stat. The kernel exports it
// as 100 on every Linux architecture Go supports (sysconf(_SC_CLK_TCK) returns this constant);
// reading it would need cgo, so it is fixed here and stated in the report.
const clockTicks = 100

// cpuTime returns the user+system CPU time the process has used so far, in seconds, read from
// /proc/<pid>/stat. The resolution is one clock tick (10 ms); measured windows of a second or
// more at full load keep the rounding under one percent.
func cpuTime(pid int) (float64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// The command name (field 2) is in parentheses and may hold spaces; fields are counted
	// after the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("bench: malformed /proc/%d/stat", pid)
	}
	fields := bytes.Fields(b[i+1:])
	// After ')', fields[0] is field 3 (state); utime is field 14, stime field 15.
	if len(fields) < 13 {
		return 0, fmt.Errorf("bench: short /proc/%d/stat", pid)
	}
	ut, err1 := strconv.ParseUint(string(fields[11]), 10, 64)
	st, err2 := strconv.ParseUint(string(fields[12]), 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("bench: malformed times in /proc/%d/stat", pid)
	}
	return float64(ut+st) / clockTicks, nil
}

// schedTime returns the CPU time of all of the process's threads, in seconds, summed from
// /proc/<pid>/task/*/schedstat (the scheduler's own nanosecond account of time on a CPU). It
// is exact where /proc/<pid>/stat is rounded to 10 ms ticks, but it forgets threads that have
// exited; cpuBetween guards against that by checking it against the ticks.
func schedTime(pid int) (float64, error) {
	dir := "/proc/" + strconv.Itoa(pid) + "/task"
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0, err
	}
	var ns uint64
	for _, e := range entries {
		b, err := os.ReadFile(dir + "/" + e.Name() + "/schedstat")
		if err != nil {
			if errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ESRCH) {
				continue // the thread exited while we looked
			}
			return 0, err
		}
		f := bytes.Fields(b)
		if len(f) == 0 {
			return 0, fmt.Errorf("bench: empty %s/%s/schedstat", dir, e.Name())
		}
		v, err := strconv.ParseUint(string(f[0]), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("bench: malformed %s/%s/schedstat", dir, e.Name())
		}
		ns += v
	}
	return float64(ns) / 1e9, nil
}

// memory returns the process's resident set size now (VmRSS) and at its peak (VmHWM), in
// bytes, from /proc/<pid>/status.
func memory(pid int) (rss, peak int64, err error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, 0, err
	}
	rss, okR := statusKB(b, "VmRSS:")
	peak, okP := statusKB(b, "VmHWM:")
	if !okR || !okP {
		return 0, 0, fmt.Errorf("bench: no VmRSS/VmHWM in /proc/%d/status", pid)
	}
	return rss, peak, nil
}

// statusKB finds "key   123 kB" in a /proc status file and returns the value in bytes.
func statusKB(b []byte, key string) (int64, bool) {
	i := bytes.Index(b, []byte(key))
	if i < 0 {
		return 0, false
	}
	line := b[i+len(key):]
	if j := bytes.IndexByte(line, '\n'); j >= 0 {
		line = line[:j]
	}
	f := bytes.Fields(line)
	if len(f) == 0 {
		return 0, false
	}
	v, err := strconv.ParseInt(string(f[0]), 10, 64)
	if err != nil {
		return 0, false
	}
	return v << 10, true
}

// cpuAllowedList returns the Cpus_allowed_list line of a process ("0", "1-3"), to report where
// a child really runs.
func cpuAllowedList(pid int) string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return ""
	}
	i := bytes.Index(b, []byte("Cpus_allowed_list:"))
	if i < 0 {
		return ""
	}
	line := b[i+len("Cpus_allowed_list:"):]
	if j := bytes.IndexByte(line, '\n'); j >= 0 {
		line = line[:j]
	}
	return string(bytes.TrimSpace(line))
}

// cpuMask is a CPU set as the sched_*affinity system calls take it (1024 CPUs).
type cpuMask [16]uint64

func (m *cpuMask) set(cpu int)      { m[cpu/64] |= 1 << (uint(cpu) % 64) }
func (m *cpuMask) has(cpu int) bool { return m[cpu/64]&(1<<(uint(cpu)%64)) != 0 }

// cpus lists the CPUs in the mask.
func (m *cpuMask) cpus() []int {
	var out []int
	for c := 0; c < len(m)*64; c++ {
		if m.has(c) {
			out = append(out, c)
		}
	}
	return out
}

// getAffinity returns the CPUs thread (or process) tid may run on; 0 means the calling thread.
func getAffinity(tid int) (cpuMask, error) {
	var m cpuMask
	_, _, e := syscall.RawSyscall(syscall.SYS_SCHED_GETAFFINITY, uintptr(tid), unsafe.Sizeof(m), uintptr(unsafe.Pointer(&m)))
	if e != 0 {
		return m, os.NewSyscallError("sched_getaffinity", e)
	}
	return m, nil
}

// setAffinity restricts thread tid (0: the calling thread) to the CPUs in m. Affinity is per
// thread on Linux and inherited by threads and processes the thread creates.
func setAffinity(tid int, m cpuMask) error {
	_, _, e := syscall.RawSyscall(syscall.SYS_SCHED_SETAFFINITY, uintptr(tid), unsafe.Sizeof(m), uintptr(unsafe.Pointer(&m)))
	if e != 0 {
		return os.NewSyscallError("sched_setaffinity", e)
	}
	return nil
}

// setProcessAffinity restricts every thread of this process to m. Threads the Go runtime
// starts later inherit the mask from the thread that starts them, which is already restricted.
// The walk runs twice to catch a thread created during the first one.
func setProcessAffinity(m cpuMask) error {
	for pass := 0; pass < 2; pass++ {
		entries, err := os.ReadDir("/proc/self/task")
		if err != nil {
			return err
		}
		for _, e := range entries {
			tid, err := strconv.Atoi(e.Name())
			if err != nil {
				continue
			}
			// A thread may exit between the listing and the call; ESRCH is not an error here.
			if err := setAffinity(tid, m); err != nil && !errors.Is(err, syscall.ESRCH) {
				return err
			}
		}
	}
	return nil
}

// deathSignal makes the kernel kill a child when the bench process dies, so a crashed or
// killed bench never leaves a server running.
func deathSignal() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

// pinSupported reports whether CPU pinning works on this OS.
const pinSupported = true

// fdLimit is this process's limit on open descriptors (RLIMIT_NOFILE), which its children
// inherit; 0 when unknown.
func fdLimit() int {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return 0
	}
	return int(min(r.Cur, 1<<30))
}
