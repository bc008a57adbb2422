package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// serveProcess starts `reactor serve args…` as a child and returns it with the address it
// reports; the child is killed when the test ends if it is still running.
func serveProcess(t *testing.T, args ...string) (*exec.Cmd, string, *lockedBuffer) {
	t.Helper()
	cmd := exec.Command(reactorBinary(t), append([]string{"serve", "--addr", "127.0.0.1:0"}, args...)...)
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
	addrRE := regexp.MustCompile(`msg=serving proto=\w+ addr=(\S+) `)
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if m := addrRE.FindStringSubmatch(stderr.String()); m != nil {
			return cmd, m[1], &stderr
		}
	}
	t.Fatalf("serve did not start:\n%s", stderr.String())
	return nil, "", nil
}

// waitExit waits for the child to exit within d and returns its exit code.
func waitExit(t *testing.T, cmd *exec.Cmd, d time.Duration) (int, time.Duration) {
	t.Helper()
	start := time.Now()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode(), time.Since(start)
		}
		return 0, time.Since(start)
	case <-time.After(d):
		cmd.Process.Kill()
		<-done
		t.Fatalf("still running %v after the signal", d)
		return -1, d
	}
}

// TestSIGTERMUnderLoad: SIGTERM while 200 clients are mid-stream. The process exits 0 within
// its grace period; every client got only complete responses, then a clean end.
func TestSIGTERMUnderLoad(t *testing.T) {
	cmd, addr, stderr := serveProcess(t, "--proto", "http", "--shutdown-timeout", "5s")
	const clients, depth = 200, 16
	batch := strings.Repeat("GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n", depth)
	var wg sync.WaitGroup
	var mu sync.Mutex
	served := 0
	var problems []string
	ready := make(chan struct{}, clients)
	for i := 0; i < clients; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			once := sync.OnceFunc(func() { ready <- struct{}{} })
			defer once()
			c, err := net.DialTimeout("tcp", addr, 10*time.Second)
			if err != nil {
				mu.Lock()
				problems = append(problems, err.Error())
				mu.Unlock()
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(30 * time.Second))
			r := bufio.NewReader(c)
			n := 0
			// Bounded: 1,000 batches at most; the shutdown ends it much sooner.
			for round := 0; round < 1000; round++ {
				if _, err := io.WriteString(c, batch); err != nil {
					break
				}
				complete := true
				for k := 0; k < depth; k++ {
					if _, err := r.Peek(1); err != nil {
						if !errors.Is(err, io.EOF) && !errors.Is(err, syscall.ECONNRESET) {
							mu.Lock()
							problems = append(problems, fmt.Sprintf("after %d responses: %v", n, err))
							mu.Unlock()
						}
						complete = false
						break
					}
					resp, err := http.ReadResponse(r, nil)
					if err == nil {
						var body []byte
						body, err = io.ReadAll(resp.Body)
						if err == nil && string(body) != "Hello, World!" {
							err = fmt.Errorf("body %q", body)
						}
					}
					if err != nil {
						mu.Lock()
						problems = append(problems, fmt.Sprintf("a response cut short after %d: %v", n, err))
						mu.Unlock()
						complete = false
						break
					}
					n++
				}
				once()
				if !complete {
					break
				}
			}
			mu.Lock()
			served += n
			mu.Unlock()
		}()
	}
	for i := 0; i < clients; i++ {
		<-ready
	}
	cmd.Process.Signal(syscall.SIGTERM)
	code, took := waitExit(t, cmd, 10*time.Second)
	wg.Wait()
	if code != 0 {
		t.Errorf("exit code %d after SIGTERM; want 0\n%s", code, stderr.String())
	}
	if took > 7*time.Second {
		t.Errorf("exited %v after SIGTERM; the grace period is 5s", took)
	}
	if len(problems) > 0 {
		t.Errorf("%d clients saw trouble, e.g. %s", len(problems), problems[0])
	}
	t.Logf("%d responses served to %d clients; exited %v after SIGTERM", served, clients, took.Round(time.Millisecond))
}

// TestSecondSignalForcesExit: while a graceful shutdown waits on a peer that never reads, a
// second SIGTERM ends the process at once, with a non-zero status.
func TestSecondSignalForcesExit(t *testing.T) {
	cmd, addr, stderr := serveProcess(t, "--proto", "http", "--shutdown-timeout", "60s")
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.(*net.TCPConn).SetReadBuffer(4 << 10)
	// Fill the server's output towards this peer, which never reads it.
	c.SetWriteDeadline(time.Now().Add(2 * time.Second))
	batch := []byte(strings.Repeat("GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n", 64))
	for i := 0; i < 5000; i++ {
		if _, err := c.Write(batch); err != nil {
			break
		}
	}
	cmd.Process.Signal(syscall.SIGTERM)
	time.Sleep(300 * time.Millisecond)
	cmd.Process.Signal(syscall.SIGTERM)
	code, took := waitExit(t, cmd, 3*time.Second)
	if code == 0 {
		t.Errorf("exit code 0 after a forced exit; want non-zero")
	}
	if !strings.Contains(stderr.String(), "again") {
		t.Errorf("stderr does not say the second signal forced the exit:\n%s", stderr.String())
	}
	t.Logf("forced exit %v after the second signal", took.Round(time.Millisecond))
}
