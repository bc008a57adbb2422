//go:build linux

package main

import (
	"bufio"
	"io"
	"net"
	"os/exec"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// TestPreforkTwoProcesses: --procs 2 runs two workers on one port; both serve, the parent
// reports each one's count, and SIGTERM stops them all.
func TestPreforkTwoProcesses(t *testing.T) {
	cmd := exec.Command(reactorBinary(t), "serve", "--procs", "2", "--backend", "std", "--proto", "http", "--addr", "127.0.0.1:0")
	var stderr lockedBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	serving := regexp.MustCompile(`msg=serving proto=http addr=(\S+) backend=std procs=2 pids=(\d+),(\d+)`)
	var m []string
	for deadline := time.Now().Add(15 * time.Second); m == nil && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		m = serving.FindStringSubmatch(stderr.String())
	}
	if m == nil {
		t.Fatalf("prefork did not report serving:\n%s", stderr.String())
	}
	addr := m[1]
	const requests = 200
	for i := 0; i < requests; i++ {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		io.WriteString(c, "GET /plaintext HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		status, _ := bufio.NewReader(c).ReadString('\n')
		c.Close()
		if status != "HTTP/1.1 200 OK\r\n" {
			t.Fatalf("request %d: status %q", i, status)
		}
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if code, _ := waitExit(t, cmd, 15*time.Second); code != 0 {
		t.Errorf("exit code %d; want 0\n%s", code, stderr.String())
	}
	per := regexp.MustCompile(`msg="served by worker" pid=(\d+) connections=\d+ requests=(\d+)`).FindAllStringSubmatch(stderr.String(), -1)
	total := 0
	for _, p := range per {
		n, _ := strconv.Atoi(p[2])
		if n == 0 {
			t.Errorf("worker %s served no request; the port is not shared", p[1])
		}
		total += n
	}
	if len(per) != 2 || total != requests {
		t.Errorf("per-process counts %v (total %d); want two workers adding up to %d\n%s", per, total, requests, stderr.String())
	}
	for _, pid := range m[2:] {
		n, _ := strconv.Atoi(pid)
		if err := syscall.Kill(n, 0); err == nil {
			t.Errorf("worker %d still running after the parent exited", n)
		}
	}
	// The workers' own lines come through the parent's logger, marked with their pid.
	if !regexp.MustCompile(`level=INFO msg=serving pid=` + m[2] + ` addr=`).MatchString(stderr.String()) {
		t.Errorf("worker %s's serving line not relayed as a record with its pid:\n%s", m[2], stderr.String())
	}
}

// TestPreforkInterruptFromTerminal: Ctrl-C in a terminal sends SIGINT to the whole foreground
// process group. The workers must hear it once, from the parent, and drain gracefully; a
// worker that got it from the terminal too would take the parent's copy as a second signal
// and exit at once, cutting its connections.
func TestPreforkInterruptFromTerminal(t *testing.T) {
	cmd := exec.Command(reactorBinary(t), "serve", "--procs", "2", "--backend", "std", "--proto", "http", "--addr", "127.0.0.1:0")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // a group of its own, as a shell job
	var stderr lockedBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			cmd.Wait()
		}
	})
	serving := regexp.MustCompile(`msg=serving proto=http addr=\S+ backend=std procs=2`)
	for deadline := time.Now().Add(15 * time.Second); !serving.MatchString(stderr.String()); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("prefork did not report serving:\n%s", stderr.String())
		}
	}
	syscall.Kill(-cmd.Process.Pid, syscall.SIGINT)
	if code, _ := waitExit(t, cmd, 15*time.Second); code != 0 {
		t.Errorf("exit code %d after SIGINT to the process group; want 0\n%s", code, stderr.String())
	}
	if n := regexp.MustCompile(`msg="exiting now"`).FindAllStringIndex(stderr.String(), -1); len(n) > 0 {
		t.Errorf("%d workers took one Ctrl-C for two and exited without draining:\n%s", len(n), stderr.String())
	}
}
