package bench

import (
	"bufio"
	"os"
	"runtime"
	"strings"
)

// describeMachine gathers what a reader needs to judge the numbers: CPUs, model, kernel, Go.
func describeMachine() Machine {
	return Machine{
		CPUs:         runtime.NumCPU(),
		CPUModel:     cpuModel(),
		Kernel:       firstLine("/proc/sys/kernel/osrelease"),
		OS:           runtime.GOOS,
		Arch:         runtime.GOARCH,
		GoVersion:    runtime.Version(),
		LoadAvgStart: firstLine("/proc/loadavg"),
		ClockTicks:   clockTicks,
	}
}

func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// firstLine returns the first line of a small file, or "" when it cannot be read.
func firstLine(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	s, _, _ := strings.Cut(string(b), "\n")
	return strings.TrimSpace(s)
}
