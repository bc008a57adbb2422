//go:build linux

package epoll

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/reactorlab/reactor/protocols/echo"
	"github.com/reactorlab/reactor/reactor"
)

// TestIdleMemory measures what an idle connection costs the server: the growth of this
// process's resident memory with N connections held open by a child process, each after one
// echo round trip, divided by N. It is a measurement, not part of CI:
//
//	EPOLL_IDLE_CONNS=9000 go test -run TestIdleMemory -v ./adapters/epoll
//	EPOLL_IDLE_CONNS=9000 EPOLL_IDLE_MECH=uring go test -run TestIdleMemory -v ./adapters/epoll
//
// The budget is 512 bytes per connection. Kernel socket memory is not in RSS and not counted.
func TestIdleMemory(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("EPOLL_IDLE_CONNS"))
	if n <= 0 {
		t.Skip("a measurement: set EPOLL_IDLE_CONNS=9000 to run it")
	}
	newBackend := New
	if os.Getenv("EPOLL_IDLE_MECH") == "uring" {
		newBackend = NewURing
	}
	b, err := newBackend(reactor.Config{Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	addr, err := b.Start(echo.Handler{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := b.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	}()
	runtime.GC()
	debug.FreeOSMemory()
	before := rssBytes(t)

	child := exec.Command(os.Args[0], "-test.run=^TestIdleMemoryClient$")
	child.Env = append(os.Environ(), fmt.Sprintf("EPOLL_IDLE_CLIENT=%s,%d", addr, n))
	child.Stderr = os.Stderr
	stdin, _ := child.StdinPipe()
	stdout, _ := child.StdoutPipe()
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	defer child.Wait()
	defer stdin.Close() // the child closes its connections and exits on EOF
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "ready" {
		t.Fatalf("client: %q, %v", line, err)
	}
	time.Sleep(time.Second)
	after := rssBytes(t)
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	perConn := float64(after-before) / float64(n)
	t.Logf("%d idle connections, %d loops: RSS %d -> %d kB, %.0f bytes per connection (heap in use %d kB)",
		n, runtime.GOMAXPROCS(0), before>>10, after>>10, perConn, ms.HeapInuse>>10)
	if perConn > 512 {
		t.Errorf("%.0f bytes of RSS per idle connection; budget 512", perConn)
	}
}

// TestIdleMemoryClient is TestIdleMemory's child process: it opens the connections, does one
// round trip on each, says "ready" and holds them until its stdin closes.
func TestIdleMemoryClient(t *testing.T) {
	spec := os.Getenv("EPOLL_IDLE_CLIENT")
	if spec == "" {
		t.Skip("runs only as TestIdleMemory's child process")
	}
	addr, count, _ := strings.Cut(spec, ",")
	n, _ := strconv.Atoi(count)
	conns := make([]net.Conn, 0, n)
	buf := make([]byte, 4)
	for i := 0; i < n; i++ {
		c, err := net.DialTimeout("tcp", addr, 10*time.Second)
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		c.SetDeadline(time.Now().Add(30 * time.Second))
		if _, err := c.Write([]byte("ping")); err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "ping" {
			t.Fatalf("connection %d: echo %q, %v", i, buf, err)
		}
		conns = append(conns, c)
	}
	fmt.Println("ready")
	io.Copy(io.Discard, os.Stdin)
	for _, c := range conns {
		c.Close()
	}
}

// rssBytes reads this process's resident set size from /proc.
func rssBytes(t *testing.T) int64 {
	t.Helper()
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmRSS in /proc/self/status")
	return 0
}
