//go:build linux

package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"maps"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/reactorlab/reactor/internal/reuseport"
)

// runPrefork is `reactor serve --procs N`: the process-per-worker model. It reserves the port,
// starts N copies of this program serving it with SO_REUSEPORT (each running the chosen
// backend), relays their log lines through logger with their pid, forwards SIGINT/SIGTERM, and
// reports how many requests each served. The kernel spreads new connections across the workers.
func runPrefork(ctx context.Context, s settings, args []string, logger *slog.Logger) int {
	addr, release, err := reuseport.Reserve(s.Addr)
	if err != nil {
		logger.Error("cannot reserve the port", "procs", s.Procs, "err", err)
		return 1
	}
	defer release()
	self, err := os.Executable()
	if err != nil {
		logger.Error("cannot find this program to start workers with", "err", err)
		return 1
	}
	// The workers get the same command line, so the same file and flags; the flags appended
	// last win: one process each, the reserved port, SO_REUSEPORT, and --join, since the
	// reservation and their siblings hold the port by design.
	// They log JSON, which the relay reads back into records of our own logger.
	workerArgs := append(append([]string{"serve"}, args...), "--procs", "1", "--join", "--addr", addr.String(), "--log-format", "json")

	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)

	var mu sync.Mutex // guards served
	served := map[int][]any{}
	ready := make(chan int, s.Procs)
	exited := make(chan *exec.Cmd, s.Procs)
	var workers []*exec.Cmd
	for i := 0; i < s.Procs; i++ {
		cmd := exec.Command(self, workerArgs...)
		// A worker must not outlive us, even if we are killed outright. It gets a process
		// group of its own, so that a terminal's Ctrl-C (sent to the whole foreground group)
		// reaches it once, forwarded by us, and not also directly — which it would take for
		// the second signal that forces an exit.
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
		pipe, err := cmd.StderrPipe()
		if err == nil {
			err = cmd.Start()
		}
		if err != nil {
			logger.Error("cannot start worker", "worker", i+1, "err", err)
			stopWorkers(workers, syscall.SIGKILL)
			return 1
		}
		workers = append(workers, cmd)
		go relayWorker(cmd, pipe, logger, &mu, served, ready, exited)
	}

	// Wait for every worker to serve, or for the first to fail.
	deadline := time.After(30 * time.Second)
	for n := 0; n < s.Procs; n++ {
		select {
		case <-ready:
		case cmd := <-exited:
			logger.Error("worker exited before serving", "pid", cmd.Process.Pid, "state", cmd.ProcessState.String())
			stopWorkers(workers, syscall.SIGKILL)
			return 1
		case <-deadline:
			logger.Error("workers not serving after 30s")
			stopWorkers(workers, syscall.SIGKILL)
			return 1
		}
	}
	release()
	pids := make([]string, len(workers))
	for i, w := range workers {
		pids[i] = strconv.Itoa(w.Process.Pid)
	}
	logger.Info("serving", "proto", s.Proto, "addr", addr.String(), "backend", s.Backend, "procs", s.Procs, "pids", strings.Join(pids, ","))

	code := 0
	live := len(workers)
	select {
	case sig := <-sigs:
		logger.Info("stopping the workers (again to force)", "signal", sig.String(), "workers", live)
	case cmd := <-exited:
		live--
		logger.Error("worker stopped on its own; stopping the others", "pid", cmd.Process.Pid, "state", cmd.ProcessState.String())
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
			logger.Warn("killing the workers", "signal", sig.String())
			stopWorkers(workers, syscall.SIGKILL)
			code = 1
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for _, w := range workers {
		if counts, ok := served[w.Process.Pid]; ok {
			logger.Info("served by worker", append([]any{"pid", w.Process.Pid}, counts...)...)
		}
	}
	return code
}

// relayWorker logs each line of a worker's stderr through logger with the worker's pid — a
// JSON record as the record it was, anything else (a panic, say) as a message — notes when the
// worker serves and what it served, and reports its exit. It returns when the worker has exited.
func relayWorker(cmd *exec.Cmd, pipe io.Reader, logger *slog.Logger, mu *sync.Mutex, served map[int][]any, ready chan<- int, exited chan<- *exec.Cmd) {
	pid := cmd.Process.Pid
	sc := bufio.NewScanner(pipe)
	for sc.Scan() {
		var rec map[string]any
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			logger.Warn(sc.Text(), "pid", pid)
			continue
		}
		msg, _ := rec["msg"].(string)
		var level slog.Level
		if l, ok := rec["level"].(string); ok {
			level.UnmarshalText([]byte(l))
		}
		attrs := []any{"pid", pid}
		var counts []any
		for _, k := range slices.Sorted(maps.Keys(rec)) {
			switch k {
			case "time", "level", "msg":
				continue
			}
			attrs = append(attrs, k, rec[k])
			counts = append(counts, k, rec[k])
		}
		logger.Log(context.Background(), level, msg, attrs...)
		switch msg {
		case "serving":
			ready <- pid
		case "served":
			mu.Lock()
			served[pid] = counts
			mu.Unlock()
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
