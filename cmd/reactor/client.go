package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/reactorlab/reactor/protocols/chat"
)

func runClient(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "chat" {
		fmt.Fprintf(stderr, "Usage: reactor client chat --name NAME --addr HOST:PORT\n\nThe only client so far is chat: for http use curl, for echo use nc.\n")
		return 2
	}
	fs := flag.NewFlagSet("reactor client chat", flag.ContinueOnError)
	fs.SetOutput(stderr)
	name := fs.String("name", "", "the `name` to join as (letters, digits, _ - .)")
	addr := fs.String("addr", "127.0.0.1:8080", "chat server `host:port`")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: reactor client chat --name NAME [--addr HOST:PORT]\n\n"+
			"Joins a reactor chat server: lines typed on standard input go to everyone else,\n"+
			"what the room says is printed. /who lists members, /quit leaves (so does end of input).\n"+
			"Control characters the server sends are shown, not obeyed (^[ for ESC).\n"+
			"On a terminal, a line that arrives while you type is printed above the prompt; what\n"+
			"you typed is kept but no longer shown: keep typing, or press Ctrl-R to see it again.\n"+
			"Exits 1 if the name is refused or the server goes away.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *name == "" {
		fmt.Fprintln(stderr, "reactor client chat: --name is required")
		return 2
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", *addr)
	if err != nil {
		fmt.Fprintf(stderr, "reactor client chat: %v\n", err)
		return 1
	}
	defer conn.Close()
	if _, err := fmt.Fprintf(conn, "NAME: %s\n", *name); err != nil {
		fmt.Fprintf(stderr, "reactor client chat: %v\n", err)
		return 1
	}
	scr := &screen{w: stdout}
	if isTerminal(stdin) && isTerminal(stdout) {
		scr.prompt = *name + "> "
	}
	var quitting atomic.Bool // the user left: the server closing is then expected
	// The reader prints the room until the server closes or refuses the name; it exits with the
	// connection, which runClient closes on its way out.
	fromServer := make(chan error, 1)
	go func() { fromServer <- readRoom(conn, *name, scr) }()
	// Standard input goes to the server until it ends; then leave politely. A goroutine blocked
	// reading the terminal ends with the process.
	go func() {
		in := bufio.NewScanner(stdin)
		for in.Scan() {
			line := in.Text()
			if strings.TrimSpace(line) == "/quit" {
				quitting.Store(true)
			}
			if _, err := fmt.Fprintf(conn, "%s\n", line); err != nil {
				return
			}
			scr.showPrompt()
		}
		quitting.Store(true)
		fmt.Fprintf(conn, "/quit\n")
	}()
	select {
	case err := <-fromServer:
		switch {
		case errors.Is(err, io.EOF) && quitting.Load():
			scr.finish()
			return 0
		case errors.Is(err, io.EOF):
			scr.finish()
			fmt.Fprintf(stderr, "reactor client chat: the server at %s closed the connection\n", *addr)
		default:
			scr.finish()
			fmt.Fprintf(stderr, "reactor client chat: %v\n", err)
		}
		return 1
	case <-ctx.Done():
		return 0
	}
}

// errNameRefused is what readRoom returns when the server does not accept the name.
var errNameRefused = errors.New("name refused")

// readRoom prints what the server sends until the connection ends, and returns why it ended:
// io.EOF when the server closed it, an error wrapping errNameRefused when the server refused
// the name, or the read error.
func readRoom(conn net.Conn, name string, scr *screen) error {
	r := bufio.NewReader(conn)
	joined := false
	for {
		line, err := r.ReadBytes('\n')
		line = bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\n")), []byte("\r"))
		switch {
		case len(line) == 0:
		case joined:
			scr.println(line)
		case bytes.HasPrefix(line, []byte("CLIENT: ")):
			joined = true
			scr.println(fmt.Appendf(nil, "* joined as %s (you are %s)", name, line[len("CLIENT: "):]))
		case bytes.HasPrefix(line, []byte("! ")):
			// Before joining, the only complaint the server can have is about the name.
			return fmt.Errorf("%w: %s", errNameRefused, chat.AppendSafe(nil, line[len("! "):]))
		case bytes.HasPrefix(line, []byte("* welcome")):
			// The greeting asks for a name, which the client has already sent.
		default:
			scr.println(line)
		}
		if err != nil {
			return err
		}
	}
}

// screen prints the room's lines. All that it prints is made safe first (chat.AppendSafe), so
// a hostile server cannot drive the user's terminal. With a prompt (standard input and output
// are a terminal), each incoming line first erases the prompt line, and the prompt is printed
// again after it: the terminal's own echo of a half-typed line is erased with it, but the
// terminal driver still holds that text, and Ctrl-R shows it again. Redrawing it ourselves
// would need raw mode and a line editor. Its methods are safe from several goroutines.
type screen struct {
	mu     sync.Mutex
	w      io.Writer
	prompt string // empty when not on a terminal
	buf    []byte
}

func (s *screen) println(line []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.buf[:0]
	if s.prompt != "" {
		b = append(b, "\r\x1b[K"...)
	}
	b = append(chat.AppendSafe(b, line), '\n')
	b = append(b, s.prompt...)
	s.w.Write(b)
	s.buf = b
}

// showPrompt prints the prompt after the user ended a line.
func (s *screen) showPrompt() {
	s.mu.Lock()
	defer s.mu.Unlock()
	io.WriteString(s.w, s.prompt)
}

// finish erases the prompt, so that a message about the end starts on a clean line.
func (s *screen) finish() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.prompt != "" {
		io.WriteString(s.w, "\r\x1b[K")
	}
}

// isTerminal reports whether f is a terminal (a character device; /dev/null passes too, which
// only costs a prompt nobody sees).
func isTerminal(f any) bool {
	file, ok := f.(*os.File)
	if !ok {
		return false
	}
	fi, err := file.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
