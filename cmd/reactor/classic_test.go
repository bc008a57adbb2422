package main

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/reactorlab/reactor/adapters"
	"github.com/reactorlab/reactor/internal/classictest"
)

// pyChat is a running classic_chat.py: its standard input, and each message it prints.
type pyChat struct {
	t     *testing.T
	name  string
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan string
	done  chan error
}

// startPy runs classic_chat.py with args and reads what it prints until it exits.
func startPy(t *testing.T, name string, args ...string) *pyChat {
	t.Helper()
	cmd := classictest.Command(t, args...)
	var stderr lockedBuffer
	cmd.Stderr = &stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &pyChat{t: t, name: name, cmd: cmd, stdin: stdin, lines: make(chan string, 64), done: make(chan error, 1)}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
		close(p.lines)
		err := cmd.Wait()
		if err != nil {
			err = &pyError{err, stderr.String()}
		}
		p.done <- err
	}()
	t.Cleanup(func() {
		stdin.Close()
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

type pyError struct {
	err    error
	stderr string
}

func (e *pyError) Error() string { return e.err.Error() + "\n" + e.stderr }

// next is the next line the program prints; it fails the test after 10 seconds.
func (p *pyChat) next() string {
	p.t.Helper()
	select {
	case l, ok := <-p.lines:
		if !ok {
			p.t.Fatalf("%s exited, where a message was due: %v", p.name, <-p.done)
		}
		return l
	case <-time.After(10 * time.Second):
		p.t.Fatalf("%s printed nothing within 10s", p.name)
	}
	return ""
}

// expect checks that the next message p prints (a JSON string) is want.
func (p *pyChat) expect(want string) {
	p.t.Helper()
	line := p.next()
	var got string
	if err := json.Unmarshal([]byte(line), &got); err != nil || got != want {
		p.t.Fatalf("%s got %s; want %q", p.name, line, want)
	}
}

func (p *pyChat) say(line string) {
	p.t.Helper()
	if _, err := io.WriteString(p.stdin, line+"\n"); err != nil {
		p.t.Fatal(err)
	}
}

// leave closes p's input and waits for it to exit, which it must do cleanly.
func (p *pyChat) leave() {
	p.t.Helper()
	p.stdin.Close()
	for range p.lines {
	}
	select {
	case err := <-p.done:
		if err != nil {
			p.t.Fatalf("%s: %v", p.name, err)
		}
		p.done <- nil
	case <-time.After(10 * time.Second):
		p.t.Fatalf("%s still running 10s after its input ended", p.name)
	}
}

// The classic Python chat client joins `reactor serve --chat-wire classic` on every backend:
// names, lines both ways, join and hang-up notices, in Python's default pickle protocol and in
// protocol 0 (the classic programs' own).
func TestClassicPythonClientsOnEveryBackend(t *testing.T) {
	classictest.Python(t)
	reg := adapters.Registry()
	for _, name := range reg.Names() {
		t.Run(name, func(t *testing.T) {
			info, _ := reg.Info(name)
			if !info.Available {
				t.Skipf("%s is not available here: %s", name, info.Reason)
			}
			for _, u := range info.Unsupported {
				if strings.Contains(strings.ToLower(u), "chat") || u == "AsyncWrite" {
					t.Skipf("%s lists %q in Info.Unsupported", name, u)
				}
			}
			_, addr, _ := startServe(t, "--backend", name, "--proto", "chat", "--chat-wire", "classic", "--addr", "127.0.0.1:0")
			_, port, _ := net.SplitHostPort(addr)
			alice := startPy(t, "alice", "client", "--name", "alice", "--port", port)
			alice.expect("CLIENT: 127.0.0.1")
			bob := startPy(t, "bob", "client", "--name", "bob", "--port", port, "--protocol", "0")
			bob.expect("CLIENT: 127.0.0.1")
			alice.expect("\n(Connected: New client (2) from bob@127.0.0.1)")
			alice.say("hello bob, é€😀")
			bob.expect("\n#[alice@127.0.0.1]>>hello bob, é€😀")
			bob.say("hi alice \x1b[2J")
			alice.expect("\n#[bob@127.0.0.1]>>hi alice ^[[2J")
			bob.leave()
			alice.expect("\n(Now hung up: Client from bob@127.0.0.1)")
			alice.leave()
		})
	}
}

// reactor client chat --wire classic joins the classic Python chat server, and a classic
// Python client in the same room hears it and is heard.
func TestClientChatClassicWithPythonServer(t *testing.T) {
	server := startPy(t, "server", "server")
	port, ok := strings.CutPrefix(server.next(), "listening ")
	if !ok {
		t.Fatalf("server did not say where it listens")
	}
	addr := net.JoinHostPort("127.0.0.1", port)
	carol := startPy(t, "carol", "client", "--name", "carol", "--port", port)
	carol.expect("CLIENT: 127.0.0.1")

	in, typing := io.Pipe()
	var out, errOut lockedBuffer
	exited := make(chan int, 1)
	go func() {
		exited <- run(t.Context(), []string{"client", "chat", "--wire", "classic", "--name", "dave", "--addr", addr}, in, &out, &errOut)
	}()
	carol.expect("\n(Connected: New client (2) from dave@127.0.0.1)")
	io.WriteString(typing, "hello carol\n\n")
	carol.expect("\n#[dave@127.0.0.1]>>hello carol")
	carol.say("hi dave")
	waitFor(t, &out, "#[carol@127.0.0.1]>>hi dave\n")
	io.WriteString(typing, "/quit\n")
	select {
	case code := <-exited:
		if code != 0 {
			t.Errorf("client exited %d; want 0\nstderr: %s", code, errOut.String())
		}
	case <-time.After(10 * time.Second):
		typing.Close()
		t.Fatalf("client still running 10s after /quit")
	}
	typing.Close()
	carol.expect("\n(Now hung up: Client from dave@127.0.0.1)")
	if got, want := out.String(), "* joined as dave (you are 127.0.0.1)\n#[carol@127.0.0.1]>>hi dave\n"; got != want {
		t.Errorf("client printed %q; want %q", got, want)
	}
	carol.leave()
	server.leave()
}

// waitFor waits up to 10 seconds for b to hold want.
func waitFor(t *testing.T, b *lockedBuffer, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(b.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("output %q lacks %q after 10s", b.String(), want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// reactor client chat --wire classic on reactor's own classic server: it joins beside a classic
// Python client, and a name the room refuses ends it with the reason.
func TestClientChatClassicWithReactorServer(t *testing.T) {
	_, addr, _ := startServe(t, "--backend", "std", "--proto", "chat", "--chat-wire", "classic", "--addr", "127.0.0.1:0")
	_, port, _ := net.SplitHostPort(addr)
	erin := startPy(t, "erin", "client", "--name", "erin", "--port", port)
	erin.expect("CLIENT: 127.0.0.1")

	code, stdout, stderr := runClientArgs(t, strings.NewReader(""), "--wire", "classic", "--name", "ERIN", "--addr", addr)
	if code != 1 || !strings.Contains(stderr, "name ERIN is taken (too like erin)") || stdout != "" {
		t.Errorf("taken name: exit %d, stdout %q, stderr %q; want 1 and the reason", code, stdout, stderr)
	}
	code, stdout, stderr = runClientArgs(t, strings.NewReader("hello erin\n"), "--wire", "classic", "--name", "frank", "--addr", addr)
	if code != 0 || stdout != "* joined as frank (you are 127.0.0.1)\n" {
		t.Errorf("exit %d, stdout %q, stderr %q; want 0 and the join", code, stdout, stderr)
	}
	erin.expect("\n(Connected: New client (2) from frank@127.0.0.1)")
	erin.expect("\n#[frank@127.0.0.1]>>hello erin")
	erin.expect("\n(Now hung up: Client from frank@127.0.0.1)")
	erin.leave()
}

// runClientArgs runs `reactor client chat args…` with stdin to its end.
func runClientArgs(t *testing.T, stdin io.Reader, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut lockedBuffer
	exited := make(chan int, 1)
	go func() { exited <- run(t.Context(), append([]string{"client", "chat"}, args...), stdin, &out, &errOut) }()
	select {
	case code = <-exited:
	case <-time.After(10 * time.Second):
		t.Fatalf("client still running after 10s\nstdout: %q\nstderr: %q", out.String(), errOut.String())
	}
	return code, out.String(), errOut.String()
}
