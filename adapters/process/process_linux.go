//go:build linux

package process

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"sync"
	"syscall"

	"github.com/reactorlab/reactor/adapters/epoll"
	"github.com/reactorlab/reactor/internal/backoff"
	"github.com/reactorlab/reactor/internal/lifecycle"
	"github.com/reactorlab/reactor/internal/ratelog"
	"github.com/reactorlab/reactor/internal/reuseport"
	"github.com/reactorlab/reactor/reactor"
)

// Info describes the backend: available once a Launcher is set.
func Info() reactor.Info {
	in := reactor.Info{Name: Name, Model: model, Progression: progression, Available: true, Unsupported: unsupported()}
	if launcher.Load() == nil {
		in.Available, in.Reason = false, noLauncher
	}
	return in
}

// New returns a backend for cfg. It fails with reactor.ErrNotSupported without a Launcher, for
// edge-triggered readiness and for Config.Stats (see the package documentation).
func New(cfg reactor.Config) (reactor.Backend, error) {
	l := launcher.Load()
	switch {
	case l == nil:
		return nil, fmt.Errorf("process: %w: %s", reactor.ErrNotSupported, noLauncher)
	case cfg.EdgeTriggered:
		return nil, fmt.Errorf("process: edge-triggered readiness: %w (the child waits in poll(2))", reactor.ErrNotSupported)
	case cfg.Stats != nil:
		return nil, fmt.Errorf("process: Stats: %w (the children's traffic is theirs to count)", reactor.ErrNotSupported)
	}
	return &backend{cfg: cfg.WithDefaults(), launch: *l}, nil
}

// ServeChild serves the connection f, which the parent handed over as descriptor ChildFD
// (os.NewFile(ChildFD, "conn")), with h, and returns once it has closed. When ctx ends first
// (SIGTERM from the parent's Shutdown, say) the connection is closed gracefully, OnClose
// getting reactor.ErrServerClosed. f is taken over and closed.
func ServeChild(ctx context.Context, f *os.File, cfg reactor.Config, h reactor.Handler) error {
	fd, err := syscall.Dup(int(f.Fd()))
	f.Close()
	if err != nil {
		return os.NewSyscallError("dup", err)
	}
	syscall.CloseOnExec(fd)
	return epoll.ServeFD(ctx, fd, cfg, h)
}

type backend struct {
	cfg    reactor.Config
	launch Launcher
	ln     *net.TCPListener
	wg     sync.WaitGroup // the accept goroutine and one waiter per child
	life   lifecycle.State

	mu       sync.Mutex
	children map[*exec.Cmd]struct{}
	stopping bool // no more children: Shutdown has begun

	acceptLog, launchLog ratelog.Limiter
}

func (b *backend) Info() reactor.Info { return Info() }

func (b *backend) Start(h reactor.Handler) (net.Addr, error) {
	if h == nil {
		return nil, errors.New("process: Start needs a handler")
	}
	if err := b.life.Start(); err != nil {
		return nil, err
	}
	defer b.life.Started()
	ln, err := reuseport.ListenTCP(b.cfg.Addr, b.cfg.ReusePort)
	if err != nil {
		b.life.Finish(err)
		return nil, err
	}
	b.ln = ln
	b.children = map[*exec.Cmd]struct{}{}
	b.wg.Add(1)
	go b.accept()
	return ln.Addr(), nil
}

// accept runs until the listener is closed (by Shutdown) or fails for good.
func (b *backend) accept() {
	defer b.wg.Done()
	pace := backoff.Accept{Logger: b.cfg.Logger, Msg: "process: accept failed; retrying", Limit: &b.acceptLog}
	for {
		nc, err := b.ln.AcceptTCP()
		if err != nil {
			if b.life.Stopping() {
				return
			}
			var ne net.Error
			if errors.As(err, &ne) && !errors.Is(err, net.ErrClosed) {
				pace.Failed(err, nil)
				continue
			}
			b.cfg.Logger.Error("process: listener failed; stopping", "err", err)
			if b.life.Failed() {
				b.stopChildren(syscall.SIGTERM)
				go func() {
					// Exits once every child has been waited for.
					b.wg.Wait()
					b.life.Finish(err)
				}()
			}
			return
		}
		pace.Succeeded()
		b.spawn(nc)
	}
}

// spawn starts the child that serves nc. The parent keeps no descriptor of the connection: the
// child holds the only one, so the connection ends when the child closes it or exits.
func (b *backend) spawn(nc *net.TCPConn) {
	nc.SetNoDelay(true) // inherited by the child's socket, which is the same one
	f, err := nc.File()
	nc.Close()
	if err != nil {
		b.launchFailed(err)
		return
	}
	defer f.Close()
	cmd, err := b.launch()
	if err != nil {
		b.launchFailed(err)
		return
	}
	cmd.ExtraFiles = []*os.File{f} // descriptor 3 in the child
	// Killed if the parent dies; a process group of its own, so that a terminal's Ctrl-C
	// reaches it once, through the parent's Shutdown.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.stopping {
		return // Shutdown began: the connection closes with f
	}
	if err := cmd.Start(); err != nil {
		b.launchFailed(err)
		return
	}
	b.children[cmd] = struct{}{}
	b.wg.Add(1)
	go func() {
		// Exits when the child does.
		defer b.wg.Done()
		if err := cmd.Wait(); err != nil && !b.life.Stopping() {
			b.cfg.Logger.Warn("process: child ended badly", "pid", cmd.Process.Pid, "err", err)
		}
		b.mu.Lock()
		delete(b.children, cmd)
		b.mu.Unlock()
	}()
}

// launchFailed reports a child that could not be started; its connection is closed.
func (b *backend) launchFailed(err error) {
	if n, ok := b.launchLog.Allow(); ok {
		b.cfg.Logger.Error("process: cannot start the child for a connection; closed it", "err", err, "suppressed", n)
	}
}

// stopChildren stops starting children and signals those running.
func (b *backend) stopChildren(sig syscall.Signal) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.stopping = true
	for cmd := range b.children {
		cmd.Process.Signal(sig)
	}
}

func (b *backend) Shutdown(ctx context.Context) error {
	first, err := b.life.Shutdown(ctx, func() { b.stopChildren(syscall.SIGKILL) })
	if !first {
		return err
	}
	b.ln.Close()
	b.stopChildren(syscall.SIGTERM)
	idle := make(chan struct{})
	go func() {
		// Exits when the accept goroutine and every child's waiter have.
		b.wg.Wait()
		close(idle)
	}()
	select {
	case <-idle:
	case <-ctx.Done():
		err = ctx.Err()
		b.stopChildren(syscall.SIGKILL)
		<-idle
	}
	b.life.Finish(reactor.ErrServerClosed)
	return err
}

func (b *backend) Wait() error { return b.life.Wait() }
