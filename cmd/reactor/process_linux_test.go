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

// TestServeProcessRefusesChat: without a bus the members of a room, each in a process of its
// own, would never meet; serve says so, and what to add, instead of serving lonely rooms.
func TestServeProcessRefusesChat(t *testing.T) {
	var stderr strings.Builder
	code := run(context.Background(), []string{"serve", "--backend", "process", "--proto", "chat", "--addr", "127.0.0.1:0"}, nil, io.Discard, &stderr)
	if code != 2 || !strings.Contains(stderr.String(), "serves chat only over a bus") || !strings.Contains(stderr.String(), "--bus embedded") {
		t.Errorf("serve --backend process --proto chat: exit %d, %q; want 2, why, and --bus embedded", code, stderr.String())
	}
	stderr.Reset()
	code = run(context.Background(), []string{"serve", "--backend", "process", "--proto", "chat", "--chat-wire", "classic", "--addr", "127.0.0.1:0"}, nil, io.Discard, &stderr)
	if code != 2 || !strings.Contains(stderr.String(), "cannot serve chat with --chat-wire classic") {
		t.Errorf("serve --backend process --proto chat --chat-wire classic: exit %d, %q; want 2 and why (no bus can help)", code, stderr.String())
	}
}

// TestServeProcessChatOverBus: with --bus embedded the parent runs the NATS server and every
// connection's child joins the room through it: members see each other's joins and lines, and
// a member's leave is announced by its child as it exits, not after the bus's 3 s timeout for a
// silent server.
func TestServeProcessChatOverBus(t *testing.T) {
	cmd := exec.Command(reactorBinary(t), "serve", "--backend", "process", "--proto", "chat", "--addr", "127.0.0.1:0", "--bus", "embedded")
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
	var m []string
	for deadline := time.Now().Add(15 * time.Second); m == nil && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		m = servingLine.FindStringSubmatch(stderr.String())
	}
	if m == nil {
		t.Fatalf("serve --backend process --bus embedded did not report serving:\n%s", stderr.String())
	}
	addr := m[2]
	ann, expectAnn := chatter(t, addr, "ann")
	bob, expectBob := chatter(t, addr, "bob")
	expectAnn("* bob joined")
	cy, expectCy := chatter(t, addr, "cy")
	expectAnn("* cy joined")
	expectBob("* cy joined")
	io.WriteString(ann, "from ann\n")
	expectBob("ann: from ann")
	expectCy("ann: from ann")
	io.WriteString(cy, "from cy\n")
	expectAnn("cy: from cy")
	expectBob("cy: from cy")
	left := time.Now()
	bob.Close()
	expectAnn("* bob left\n") // his own leave, not the goodbye's "(server shutting down)"
	expectCy("* bob left\n")
	d := time.Since(left)
	t.Logf("bob's leave reached the others %v after he closed", d)
	if d > 2*time.Second {
		t.Errorf("bob's leave announced %v after he closed; want it published by his child as it exits, well before the 3s silent-server timeout", d)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if code, _ := waitExit(t, cmd, 15*time.Second); code != 0 {
		t.Errorf("exit code %d; want 0\n%s", code, stderr.String())
	}
	if n := strings.Count(stderr.String(), `msg="chat bus: joined"`); n != 3 {
		t.Errorf("%d children joined the bus; want one per connection, 3:\n%s", n, stderr.String())
	}
}
