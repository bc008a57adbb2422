package main

import (
	"bufio"
	"context"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// fakeChat listens on 127.0.0.1:0 and hands the first connection to serve, which plays the
// server's part; it returns the address.
func fakeChat(t *testing.T, serve func(c net.Conn, r *bufio.Reader)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		serve(c, bufio.NewReader(c))
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
	})
	return ln.Addr().String()
}

// runClientFor runs `reactor client chat` against addr with stdin, and returns its exit status
// and output. It fails the test if the client is still running after 10 seconds.
func runClientFor(t *testing.T, addr, name string, stdin io.Reader) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errOut lockedBuffer
	exited := make(chan int, 1)
	go func() {
		exited <- run(ctx, []string{"client", "chat", "--name", name, "--addr", addr}, stdin, &out, &errOut)
	}()
	select {
	case code = <-exited:
	case <-time.After(10 * time.Second):
		cancel()
		<-exited
		t.Fatalf("client still running after 10s\nstdout: %q\nstderr: %q", out.String(), errOut.String())
	}
	return code, out.String(), errOut.String()
}

// openStdin is standard input that stays open (a user who has not typed anything) until the
// test ends.
func openStdin(t *testing.T) io.Reader {
	r, w := io.Pipe()
	t.Cleanup(func() { w.Close() })
	return r
}

func TestClientPrintsHostileServerSafely(t *testing.T) {
	addr := fakeChat(t, func(c net.Conn, r *bufio.Reader) {
		io.WriteString(c, "* welcome to reactor chat; name yourself with: NAME: <name>\n")
		if line, _ := r.ReadString('\n'); line != "NAME: alice\n" {
			t.Errorf("server got %q; want the name", line)
		}
		io.WriteString(c, "CLIENT: 127.0.0.1:5555\r\n")
		io.WriteString(c, "bob: hi \x1b[2J\x1b]0;pwned\x07\x1b[31mred\n")
		io.WriteString(c, "\u009b2J\xff\rnot from the server\n")
	})
	code, stdout, stderr := runClientFor(t, addr, "alice", openStdin(t))
	want := "* joined as alice (you are 127.0.0.1:5555)\n" +
		"bob: hi ^[[2J^[]0;pwned^G^[[31mred\n" +
		`\u009b2J` + "\uFFFD^Mnot from the server\n"
	if stdout != want {
		t.Errorf("stdout = %q; want %q", stdout, want)
	}
	if code != 1 || !strings.Contains(stderr, "closed the connection") {
		t.Errorf("server went away: exit %d, stderr %q; want 1 and a message saying so", code, stderr)
	}
}

func TestClientNameRefused(t *testing.T) {
	addr := fakeChat(t, func(c net.Conn, r *bufio.Reader) {
		r.ReadString('\n')
		io.WriteString(c, "! name alice is taken (too like Alice)\n")
		r.ReadString('\n') // hold the connection open, as the server does
	})
	code, stdout, stderr := runClientFor(t, addr, "alice", openStdin(t))
	if code != 1 || !strings.Contains(stderr, "name alice is taken (too like Alice)") {
		t.Errorf("exit %d, stderr %q; want 1 and the server's reason", code, stderr)
	}
	if stdout != "" {
		t.Errorf("stdout = %q; want nothing", stdout)
	}
}

func TestClientQuitsCleanly(t *testing.T) {
	got := make(chan string, 1)
	addr := fakeChat(t, func(c net.Conn, r *bufio.Reader) {
		io.WriteString(c, "CLIENT: 127.0.0.1:5555\n")
		var lines []string
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				break
			}
			lines = append(lines, line)
			if line == "/quit\n" {
				io.WriteString(c, "* bye\n")
				break
			}
		}
		got <- strings.Join(lines, "")
	})
	code, stdout, stderr := runClientFor(t, addr, "alice", strings.NewReader("hello all\n"))
	if code != 0 || stderr != "" {
		t.Errorf("exit %d, stderr %q; want 0 and nothing", code, stderr)
	}
	if want := "* joined as alice (you are 127.0.0.1:5555)\n* bye\n"; stdout != want {
		t.Errorf("stdout = %q; want %q", stdout, want)
	}
	if s, want := <-got, "NAME: alice\nhello all\n/quit\n"; s != want {
		t.Errorf("server got %q; want %q", s, want)
	}
}

// TestTermConsoleRedrawsTypedText: on a terminal, a line from the room that arrives while the
// user is typing is printed above the prompt, made safe, and the half-typed text is drawn
// again after it and still completes the line.
func TestTermConsoleRedrawsTypedText(t *testing.T) {
	keys, typing := io.Pipe()
	defer typing.Close()
	var out lockedBuffer
	con := newTermConsole(struct {
		io.Reader
		io.Writer
	}{keys, &out}, "alice> ")
	lines := make(chan string, 1)
	go func() {
		line, _ := con.readLine()
		lines <- line
	}()
	typing.Write([]byte("hel"))
	waitFor := func(what string) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); !strings.Contains(out.String(), what); time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("terminal shows %q; want it to show %q", out.String(), what)
			}
		}
	}
	waitFor("alice> hel")
	before := len(out.String())
	con.println([]byte("bob: hi \x1b[2Jthere"))
	after := out.String()[before:]
	line := strings.Index(after, "bob: hi ^[[2Jthere\r\n")
	redrawn := strings.LastIndex(after, "alice> hel")
	if line < 0 || redrawn < line {
		t.Errorf("after an incoming line the terminal got %q; want the line made safe, then the prompt and the typed text again", after)
	}
	typing.Write([]byte("lo\r"))
	select {
	case got := <-lines:
		if got != "hello" {
			t.Errorf("line read = %q; want %q", got, "hello")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no line read after Enter")
	}
	con.restore()
	con.restore() // twice is harmless
}

// TestClientSeesServerShutdown runs `reactor serve --proto chat` and a client in-process: when
// the server stops, the client shows the room's notice, says the server went away and exits 1,
// and another member hears the notice but no one leaving.
func TestClientSeesServerShutdown(t *testing.T) {
	ctx, stopServer := context.WithCancel(context.Background())
	defer stopServer()
	var serveErr lockedBuffer
	served := make(chan int, 1)
	go func() {
		served <- run(ctx, []string{"serve", "--backend", "std", "--proto", "chat", "--addr", "127.0.0.1:0"}, nil, io.Discard, &serveErr)
	}()
	var addr string
	for deadline := time.Now().Add(10 * time.Second); addr == "" && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if m := servingLine.FindStringSubmatch(serveErr.String()); m != nil {
			addr = m[2]
		}
	}
	if addr == "" {
		t.Fatalf("serve did not start: %s", serveErr.String())
	}
	member, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer member.Close()
	member.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(member, "NAME: bob\n")
	mr := bufio.NewReader(member)
	for line := ""; !strings.HasPrefix(line, "CLIENT: "); {
		if line, err = mr.ReadString('\n'); err != nil {
			t.Fatal(err)
		}
	}

	var out, errOut lockedBuffer
	stdin := openStdin(t)
	exited := make(chan int, 1)
	go func() {
		exited <- run(context.Background(), []string{"client", "chat", "--name", "alice", "--addr", addr}, stdin, &out, &errOut)
	}()
	if line, err := mr.ReadString('\n'); line != "* alice joined\n" {
		t.Fatalf("bob got %q, %v; want alice's join", line, err)
	}
	stopServer()
	select {
	case code := <-exited:
		if code != 1 || !strings.Contains(errOut.String(), "closed the connection") {
			t.Errorf("client: exit %d, stderr %q; want 1 and a message that the server went away", code, errOut.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("client still running 10s after the server stopped")
	}
	if want := "* joined as alice (you are "; !strings.HasPrefix(out.String(), want) || !strings.HasSuffix(out.String(), ")\n* server shutting down\n") {
		t.Errorf("client printed %q; want the join, then the shutdown notice", out.String())
	}
	if rest, _ := io.ReadAll(mr); string(rest) != "* server shutting down\n" {
		t.Errorf("bob got %q at shutdown; want only the notice", rest)
	}
	if code := <-served; code != 0 {
		t.Errorf("serve exited %d; want 0\n%s", code, serveErr.String())
	}
}
