//go:build linux

package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/reactorlab/reactor/internal/reuseport"
)

// runPrefork is `reactor serve --procs N`: the process-per-worker model. It reserves the port,
// starts N copies of this program serving it with SO_REUSEPORT (each running the chosen
// backend), relays their output with a [pid] prefix, forwards SIGINT/SIGTERM, and reports how
// many requests each served. The kernel spreads new connections across the workers.
func runPrefork(ctx context.Context, s settings, args []string, stderr io.Writer) int {
	addr, release, err := reuseport.Reserve(s.Addr)
	if err != nil {
		fmt.Fprintf(stderr, "reactor serve: --procs %d: %v\n", s.Procs, err)
		return 1
	}
	defer release()
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintf(stderr, "reactor serve: --procs: %v\n", err)
		return 1
	}
	// The workers get the same command line, so the same file and flags; the flags appended
	// last win: one process each, the reserved port, SO_REUSEPORT, and --join, since the
	// reservation and their siblings hold the port by design.
	workerArgs := append(append([]string{"serve"}, args...), "--procs", "1", "--join", "--addr", addr.String())

	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)

	var out sync.Mutex // one line at a time on our stderr
	served := map[int]string{}
	ready := make(chan int, s.Procs)
	exited := make(chan *exec.Cmd, s.Procs)
	var workers []*exec.Cmd
	for i := 0; i < s.Procs; i++ {
		cmd := exec.Command(self, workerArgs...)
		// A worker must not outlive us, even if we are killed outright.
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		pipe, err := cmd.StderrPipe()
		if err == nil {
			err = cmd.Start()
		}
		if err != nil {
			fmt.Fprintf(stderr, "reactor serve: starting worker %d: %v\n", i+1, err)
			stopWorkers(workers, syscall.SIGKILL)
			return 1
		}
		workers = append(workers, cmd)
		go relayWorker(cmd, pipe, stderr, &out, served, ready, exited)
	}

	// Wait for every worker to serve, or for the first to fail.
	deadline := time.After(30 * time.Second)
	for n := 0; n < s.Procs; n++ {
		select {
		case <-ready:
		case cmd := <-exited:
			fmt.Fprintf(stderr, "reactor serve: worker %d exited before serving (%v)\n", cmd.Process.Pid, cmd.ProcessState)
			stopWorkers(workers, syscall.SIGKILL)
			return 1
		case <-deadline:
			fmt.Fprintln(stderr, "reactor serve: workers not serving after 30s")
			stopWorkers(workers, syscall.SIGKILL)
			return 1
		}
	}
	release()
	pids := make([]string, len(workers))
	for i, w := range workers {
		pids[i] = strconv.Itoa(w.Process.Pid)
	}
	out.Lock()
	fmt.Fprintf(stderr, "reactor: serving %s on %s with backend %s in %d processes (pids %s)\n",
		s.Proto, (&net.TCPAddr{IP: addr.IP, Port: addr.Port}).String(), s.Backend, s.Procs, strings.Join(pids, ", "))
	out.Unlock()

	code := 0
	live := len(workers)
	select {
	case sig := <-sigs:
		fmt.Fprintf(stderr, "reactor: %v: stopping %d workers (again to force)\n", sig, live)
	case cmd := <-exited:
		live--
		fmt.Fprintf(stderr, "reactor: worker %d stopped on its own (%v); stopping the others\n", cmd.Process.Pid, cmd.ProcessState)
		code = 1
	case <-ctx.Done():
	}
	stopWorkers(workers, syscall.SIGTERM)
	for live > 0 {
		select {
		case cmd := <-exited:
			live--
			if !cmd.ProcessState.Success() {
				code = 1
			}
		case sig := <-sigs:
			fmt.Fprintf(stderr, "reactor: %v again: killing the workers\n", sig)
			stopWorkers(workers, syscall.SIGKILL)
			code = 1
		}
	}
	out.Lock()
	defer out.Unlock()
	if len(served) > 0 {
		parts := make([]string, 0, len(served))
		for _, w := range workers {
			if line, ok := served[w.Process.Pid]; ok {
				parts = append(parts, fmt.Sprintf("pid %d: %s", w.Process.Pid, line))
			}
		}
		fmt.Fprintf(stderr, "reactor: per process: %s\n", strings.Join(parts, "; "))
	}
	return code
}

var servedLine = regexp.MustCompile(`^reactor: served (.*)$`)

// relayWorker copies a worker's stderr to ours line by line with its pid, notes when it serves
// and what it served, and reports its exit. It returns when the worker has exited.
func relayWorker(cmd *exec.Cmd, pipe io.Reader, stderr io.Writer, out *sync.Mutex, served map[int]string, ready chan<- int, exited chan<- *exec.Cmd) {
	pid := cmd.Process.Pid
	sc := bufio.NewScanner(pipe)
	for sc.Scan() {
		line := sc.Text()
		out.Lock()
		fmt.Fprintf(stderr, "[%d] %s\n", pid, line)
		if m := servedLine.FindStringSubmatch(line); m != nil {
			served[pid] = m[1]
		}
		out.Unlock()
		if strings.HasPrefix(line, "reactor: serving ") {
			ready <- pid
		}
	}
	cmd.Wait()
	exited <- cmd
}

// stopWorkers signals every worker; one that has exited already is skipped by os.Process.
func stopWorkers(workers []*exec.Cmd, sig syscall.Signal) {
	for _, w := range workers {
		w.Process.Signal(sig)
	}
}
