//go:build linux

package main

import (
	"bufio"
	"context"
	"io"
	"net"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestServeProcessBackend: the reactor binary serves each connection from a child process of
// its own (reactor serve again, with --serve-fd), and stops them all on SIGTERM.
func TestServeProcessBackend(t *testing.T) {
	cmd := exec.Command(reactorBinary(t), "serve", "--backend", "process", "--proto", "echo", "--addr", "127.0.0.1:0")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	lines := bufio.NewScanner(stderr)
	var addr string
	for addr == "" && lines.Scan() {
		if m := servingLine.FindStringSubmatch(lines.Text()); m != nil {
			addr = m[2]
		}
	}
	if addr == "" {
		t.Fatal("serve --backend process did not report serving")
	}
	go io.Copy(io.Discard, stderr)
	for _, msg := range []string{"one\n", "two\n"} {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		io.WriteString(c, msg)
		got, err := bufio.NewReader(c).ReadString('\n')
		if got != msg || err != nil {
			t.Fatalf("echo through a child: %q, %v; want %q", got, err, msg)
		}
	}
	cmd.Process.Signal(syscall.SIGTERM)
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("serve exited with %v after SIGTERM; want 0", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("serve still running 15s after SIGTERM")
	}
}

// TestServeProcessRefusesChat: a room whose members live in separate processes would never
// meet; serve says so instead of serving lonely rooms.
func TestServeProcessRefusesChat(t *testing.T) {
	var stderr strings.Builder
	code := run(context.Background(), []string{"serve", "--backend", "process", "--proto", "chat", "--addr", "127.0.0.1:0"}, nil, io.Discard, &stderr)
	if code != 2 || !strings.Contains(stderr.String(), "cannot serve chat") {
		t.Errorf("serve --backend process --proto chat: exit %d, %q; want 2 and why", code, stderr.String())
	}
}
