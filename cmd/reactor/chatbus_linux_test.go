//go:build linux

package main

import (
	"fmt"
	"io"
	"os/exec"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// With --procs 2 --bus embedded the workers share one room: members the kernel gave to
// different workers see each other's lines, and /who lists them all.
func TestPreforkChatSharesOneRoom(t *testing.T) {
	cmd := exec.Command(reactorBinary(t), "serve", "--procs", "2", "--backend", "epoll", "--proto", "chat",
		"--addr", "127.0.0.1:0", "--bus", "embedded", "--log-level", "debug")
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
	serving := regexp.MustCompile(`msg=serving proto=chat addr=(\S+) backend=epoll procs=2`)
	var m []string
	for deadline := time.Now().Add(15 * time.Second); m == nil && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		m = serving.FindStringSubmatch(stderr.String())
	}
	if m == nil {
		t.Fatalf("prefork did not report serving:\n%s", stderr.String())
	}
	// Join members until two workers have one each (the kernel picks the worker); each
	// worker's debug line for a join names the member and carries the worker's pid.
	pidOf := func(name string) string {
		re := regexp.MustCompile(`msg="chat: named" pid=(\d+) name=` + name + ` `)
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			if m := re.FindStringSubmatch(stderr.String()); m != nil {
				return m[1]
			}
		}
		t.Fatalf("no join line for %s:\n%s", name, stderr.String())
		return ""
	}
	first, expectFirst := chatter(t, m[1], "m0")
	firstPid := pidOf("m0")
	var other func(string)
	n := 1
	for ; other == nil && n < 40; n++ {
		name := "m" + strconv.Itoa(n)
		_, expect := chatter(t, m[1], name)
		if pidOf(name) != firstPid {
			other = expect
		}
	}
	if other == nil {
		t.Fatalf("40 members all went to worker %s", firstPid)
	}
	io.WriteString(first, "from the first worker\n")
	other("m0: from the first worker")
	io.WriteString(first, "/who\n")
	expectFirst(fmt.Sprintf("* members (%d): ", n))
	cmd.Process.Signal(syscall.SIGTERM)
	if code, _ := waitExit(t, cmd, 15*time.Second); code != 0 {
		t.Errorf("exit code %d; want 0\n%s", code, stderr.String())
	}
}
