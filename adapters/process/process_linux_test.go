//go:build linux

package process

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/reactorlab/reactor/protocols/echo"
	"github.com/reactorlab/reactor/reactor"
)

// childEnv makes this test binary a child of the backend: it serves descriptor 3 with echo,
// tagging each reply with its pid so that the test can tell the children apart.
const childEnv = "REACTOR_PROCESS_TEST_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
		err := ServeChild(ctx, os.NewFile(ChildFD, "conn"), reactor.Config{}, pidEcho{})
		stop()
		if err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	SetLauncher(func() (*exec.Cmd, error) {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), childEnv+"=1")
		cmd.Stderr = os.Stderr
		return cmd, nil
	})
	os.Exit(m.Run())
}

// pidEcho answers each read with "<pid>: " and the bytes, as the source's forking echo server
// did. The children serve it whatever handler the parent's Start was given (SharedHandler).
type pidEcho struct{ reactor.NopHandler }

func (pidEcho) OnData(c reactor.Conn, in []byte) (int, reactor.Action) {
	c.Write([]byte(strconv.Itoa(os.Getpid()) + ": "))
	c.Write(in)
	return len(in), reactor.None
}

func start(t *testing.T) (reactor.Backend, string) {
	t.Helper()
	b, err := New(reactor.Config{})
	if err != nil {
		t.Fatal(err)
	}
	addr, err := b.Start(echo.Handler{})
	if err != nil {
		t.Fatal(err)
	}
	return b, addr.String()
}

func roundTrip(t *testing.T, c net.Conn, msg string) string {
	t.Helper()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, msg); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 256)
	n, err := c.Read(buf)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return string(buf[:n])
}

func openFDs(t *testing.T) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// TestEachConnectionHasAChild: three connections are served by three children, each of
// which exits when its connection closes; the parent keeps no descriptor of them.
func TestEachConnectionHasAChild(t *testing.T) {
	base := openFDs(t)
	b, addr := start(t)
	var pids []string
	var conns []net.Conn
	for i := range 3 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		msg := fmt.Sprintf("hello %d\n", i)
		got := roundTrip(t, c, msg)
		pid, rest, ok := strings.Cut(got, ": ")
		if !ok || rest != msg {
			t.Fatalf("reply %q; want <pid>: %q", got, msg)
		}
		if pid == strconv.Itoa(os.Getpid()) || slices.Contains(pids, pid) {
			t.Fatalf("connection %d served by pid %s; want a child of its own (others: %v)", i, pid, pids)
		}
		pids = append(pids, pid)
	}
	for _, c := range conns {
		c.Close()
	}
	for _, pid := range pids {
		n, _ := strconv.Atoi(pid)
		deadline := time.Now().Add(10 * time.Second)
		for syscall.Kill(n, 0) == nil {
			if time.Now().After(deadline) {
				t.Fatalf("child %d still running 10s after its connection closed", n)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := b.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if err := b.Wait(); !errors.Is(err, reactor.ErrServerClosed) {
		t.Errorf("Wait = %v; want ErrServerClosed", err)
	}
	if now := openFDs(t); now > base {
		t.Errorf("%d descriptors open after Shutdown; want ≤ %d", now, base)
	}
}

// TestShutdownEndsTheChildren: Shutdown with a connection open closes it gracefully (the
// client reads the end of stream) and returns once its child has exited.
func TestShutdownEndsTheChildren(t *testing.T) {
	b, addr := start(t)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	pid, _, _ := strings.Cut(roundTrip(t, c, "x"), ": ")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := b.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if rest, err := io.ReadAll(c); err != nil || len(rest) != 0 {
		t.Errorf("after Shutdown the client read %q, %v; want a clean end of stream", rest, err)
	}
	n, _ := strconv.Atoi(pid)
	if syscall.Kill(n, 0) == nil {
		t.Errorf("child %d still running after Shutdown returned", n)
	}
	if _, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		t.Errorf("still accepting after Shutdown")
	}
}

// TestRefuses: what the backend cannot do is refused with ErrNotSupported, saying why.
func TestRefuses(t *testing.T) {
	for _, tc := range []struct {
		cfg  reactor.Config
		want string
	}{
		{reactor.Config{EdgeTriggered: true}, "edge-triggered"},
		{reactor.Config{Stats: new(reactor.Stats)}, "Stats"},
	} {
		_, err := New(tc.cfg)
		if !errors.Is(err, reactor.ErrNotSupported) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%+v) = %v; want ErrNotSupported about %s", tc.cfg, err, tc.want)
		}
	}
	in := Info()
	for _, u := range []string{"EdgeTriggered", "Stats", SharedHandler} {
		if !slices.Contains(in.Unsupported, u) {
			t.Errorf("Info().Unsupported = %v; want %s listed", in.Unsupported, u)
		}
	}
}

// TestUnavailableWithoutLauncher: as a plain library, with nobody to start the children, the
// backend says so rather than failing at the first connection.
func TestUnavailableWithoutLauncher(t *testing.T) {
	saved := launcher.Swap(nil)
	defer launcher.Store(saved)
	in := Info()
	if in.Available || !strings.Contains(in.Reason, "launcher") {
		t.Errorf("Info() without a launcher: available %v, reason %q; want unavailable, saying a launcher is needed", in.Available, in.Reason)
	}
	if _, err := New(reactor.Config{}); !errors.Is(err, reactor.ErrNotSupported) {
		t.Errorf("New without a launcher = %v; want ErrNotSupported", err)
	}
}
