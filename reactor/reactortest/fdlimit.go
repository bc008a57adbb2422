//go:build linux

package reactortest

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/reactorlab/reactor/protocols/echo"
	"github.com/reactorlab/reactor/reactor"
)

// testDescriptorLimit: accept runs out of descriptors (EMFILE) while connections keep
// arriving. The server keeps serving the connections it has, refuses or delays the new ones
// without burning a CPU, logs about it at most about once a second, does not stop, and
// serves new connections again once descriptors are free.
func (s *suite) testDescriptorLimit(t *testing.T) {
	const held, queued = 3, 40
	logs := &warnCounter{}
	srv := s.start(t, reactor.Config{Logger: slog.New(logs)}, echo.Handler{})
	waited := make(chan error, 1)
	go func() { waited <- srv.b.Wait() }() // returns when the server stops, at the latest in cleanup

	conns := make([]*net.TCPConn, held)
	for i := range conns {
		conns[i] = srv.dial(t)
		echoOnce(t, conns[i], byte('a'+i))
	}
	if t.Failed() {
		return
	}
	// The clients that arrive at the limit live in this process too: a connect needs no new
	// descriptor, a socket does, so their sockets are made before the limit is lowered.
	raw := newRawClients(t, queued)
	limit := lowerDescriptorLimit(t, raw.fds[0])

	start := time.Now()
	logs.reset()
	for _, fd := range raw.fds {
		if err := raw.connect(fd, srv.addr); err != nil {
			limit.restore()
			t.Fatalf("client connect at the limit: %v (has the server stopped?)", err)
		}
	}
	// Existing connections are served throughout, and the server neither stops nor spins.
	cpu := processCPU()
	for round := 0; round < 4; round++ {
		time.Sleep(250 * time.Millisecond)
		for i, c := range conns {
			echoOnce(t, c, byte('k'+round+i))
		}
	}
	busy := processCPU() - cpu
	select {
	case err := <-waited:
		limit.restore()
		t.Fatalf("the server stopped when accept ran out of descriptors: Wait = %v", err)
	default:
	}
	switch {
	case slices.Contains(s.info.Unsupported, idleCPU):
		t.Logf("%s lists %s in Info.Unsupported: not checking its CPU at the limit (it used %v in 1s)", s.info.Name, idleCPU, busy)
	case busy > time.Second/2:
		t.Errorf("the process used %v of CPU in 1s at the descriptor limit; want the accept path idle, not spinning", busy)
	}

	limit.restore()
	// The connections that arrived at the limit were refused (closed) or wait to be served;
	// none may hang, and a new connection is served.
	var served, refused int
	for _, fd := range raw.fds {
		switch ok, err := raw.echo(fd, 'q'); {
		case ok:
			served++
		case err == nil || errors.Is(err, syscall.ECONNRESET):
			refused++
		default:
			t.Errorf("a connection made at the limit neither served nor refused after the limit rose: %v", err)
		}
	}
	t.Logf("at the limit: %d connections served later, %d refused", served, refused)
	raw.closeAll()
	echoOnce(t, srv.dial(t), 'z')
	for i, c := range conns {
		echoOnce(t, c, byte('A'+i))
	}
	elapsed := time.Since(start)
	if n, most := logs.count(), 4+2*int(elapsed/time.Second+1); n > most {
		t.Errorf("%d warnings logged in %v at and after the limit; want at most %d (about one a second per kind)", n, elapsed.Round(time.Millisecond), most)
	}
}

// processCPU is the CPU time this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// descriptorLimit holds RLIMIT_NOFILE lowered to the descriptors in use, and the descriptors
// that fill the table up to it.
type descriptorLimit struct {
	once    sync.Once
	old     syscall.Rlimit
	fillers []int
}

// lowerDescriptorLimit sets the soft limit on descriptors just above the highest one open and
// fills every free number below it, so that the next descriptor anyone asks for fails with
// EMFILE. The fillers are duplicates of fd. The limit is restored when the test ends, if not
// before.
func lowerDescriptorLimit(t *testing.T, fd int) *descriptorLimit {
	t.Helper()
	l := &descriptorLimit{}
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l.old); err != nil {
		t.Fatal(err)
	}
	top, err := highestFD()
	if err != nil {
		t.Fatal(err)
	}
	lowered := l.old
	lowered.Cur = uint64(top + 1)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lowered); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.restore)
	// Bounded: the table below the new limit holds at most top+1 descriptors.
	for i := 0; i <= top; i++ {
		dup, err := syscall.Dup(fd)
		if err != nil {
			if !errors.Is(err, syscall.EMFILE) {
				l.restore()
				t.Fatalf("filling the descriptor table: %v", err)
			}
			return l
		}
		l.fillers = append(l.fillers, dup)
	}
	l.restore()
	t.Fatalf("descriptor table not full after %d descriptors below a limit of %d", len(l.fillers), top+1)
	return nil
}

// restore puts the old limit back and frees the fillers. Safe to call more than once.
func (l *descriptorLimit) restore() {
	l.once.Do(func() {
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l.old)
		for _, fd := range l.fillers {
			syscall.Close(fd)
		}
	})
}

// highestFD is the highest descriptor number open in this process.
func highestFD() (int, error) {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return 0, err
	}
	top := -1
	for _, e := range ents {
		if fd, err := strconv.Atoi(e.Name()); err == nil {
			top = max(top, fd)
		}
	}
	return top, nil
}

// rawClients are client sockets made with bare system calls, usable while the process has no
// descriptor to spare.
type rawClients struct {
	fds    []int
	closed bool
}

func newRawClients(t *testing.T, n int) *rawClients {
	t.Helper()
	r := &rawClients{}
	t.Cleanup(r.closeAll)
	for i := 0; i < n; i++ {
		fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(os.NewSyscallError("socket", err))
		}
		r.fds = append(r.fds, fd)
		tv := syscall.NsecToTimeval(int64(ioTimeout))
		if err := syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, syscall.SO_RCVTIMEO, &tv); err != nil {
			t.Fatal(os.NewSyscallError("setsockopt", err))
		}
	}
	return r
}

// connect connects fd, a blocking socket, to addr (an IPv4 host:port).
func (r *rawClients) connect(fd int, addr string) error {
	ta, err := net.ResolveTCPAddr("tcp4", addr)
	if err != nil {
		return err
	}
	sa := &syscall.SockaddrInet4{Port: ta.Port}
	copy(sa.Addr[:], ta.IP.To4())
	return syscall.Connect(fd, sa)
}

// echo sends b on fd and reads one byte: ok when b came back; a nil error without ok when the
// server closed the connection; an error otherwise (EAGAIN: nothing within ioTimeout).
func (r *rawClients) echo(fd int, b byte) (ok bool, err error) {
	if _, err := syscall.Write(fd, []byte{b}); err != nil {
		return false, err
	}
	var one [1]byte
	n, err := syscall.Read(fd, one[:])
	if err != nil {
		return false, err
	}
	return n == 1 && one[0] == b, nil
}

func (r *rawClients) closeAll() {
	if r.closed {
		return
	}
	r.closed = true
	for _, fd := range r.fds {
		syscall.Close(fd)
	}
}

// warnCounter is a slog.Handler that counts the records at Warn or above.
type warnCounter struct {
	mu sync.Mutex
	n  int
}

func (w *warnCounter) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }

func (w *warnCounter) Handle(context.Context, slog.Record) error {
	w.mu.Lock()
	w.n++
	w.mu.Unlock()
	return nil
}

func (w *warnCounter) WithAttrs([]slog.Attr) slog.Handler { return w }
func (w *warnCounter) WithGroup(string) slog.Handler      { return w }

func (w *warnCounter) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.n
}

func (w *warnCounter) reset() {
	w.mu.Lock()
	w.n = 0
	w.mu.Unlock()
}
