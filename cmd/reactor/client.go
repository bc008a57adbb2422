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

	"golang.org/x/term"

	"github.com/reactorlab/reactor/protocols/chat"
)

func runClient(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "chat" {
		fmt.Fprintf(stderr, "Usage: reactor client chat --name NAME --addr HOST:PORT [--wire lines|classic]\n\nThe only client so far is chat: for http use curl, for echo use nc.\n")
		return 2
	}
	fs := flag.NewFlagSet("reactor client chat", flag.ContinueOnError)
	fs.SetOutput(stderr)
	name := fs.String("name", "", "the `name` to join as (letters, digits, _ - .)")
	addr := fs.String("addr", "127.0.0.1:8080", "chat server `host:port`")
	wireName := fs.String("wire", "lines", "the server's `wire`: lines (reactor serve --proto chat) or classic (the classic Python select() chat server, or reactor serve --chat-wire classic)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: reactor client chat --name NAME [--addr HOST:PORT] [--wire lines|classic]\n\n"+
			"Joins a reactor chat server: lines typed on standard input go to everyone else,\n"+
			"what the room says is printed. /who lists members, /quit leaves (so does end of input).\n"+
			"Control characters the server sends are shown, not obeyed (^[ for ESC).\n"+
			"On a terminal it edits the line you type (arrows, Ctrl-A/E/U/W, history), and a line\n"+
			"that arrives meanwhile is printed above it without disturbing it. Ctrl-C or Ctrl-D leaves.\n"+
			"Exits 1 if the name is refused or the server goes away.\n"+
			"With --wire classic it speaks the classic Python chat programs' framed pickles\n"+
			"(docs/protocols.md): every line is a message to the others, with no commands at the\n"+
			"server; /quit (or end of input) leaves.\n\n")
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
	wire, err := chat.ParseWire(*wireName)
	if err != nil {
		fmt.Fprintf(stderr, "reactor client chat: --wire: %v\n", strings.TrimPrefix(err.Error(), "chat: "))
		return 2
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", *addr)
	if err != nil {
		fmt.Fprintf(stderr, "reactor client chat: %v\n", err)
		return 1
	}
	defer conn.Close()
	// say sends one line the user typed, leave says goodbye, in the server's wire.
	say := func(line string) error {
		_, err := fmt.Fprintf(conn, "%s\n", line)
		return err
	}
	leave := func() { fmt.Fprintf(conn, "/quit\n") }
	readFrom := readRoom
	if wire == chat.Classic {
		var frame []byte
		say = func(line string) error {
			// As the classic client did: surrounding blanks dropped, empty lines not sent.
			if line = strings.TrimSpace(line); line == "" {
				return nil
			}
			frame = chat.AppendClassic(frame[:0], []byte(line))
			_, err := conn.Write(frame)
			return err
		}
		// The classic server has no /quit: the end of the stream is how a client leaves.
		leave = func() { conn.(*net.TCPConn).CloseWrite() }
		readFrom = readClassicRoom
	}
	if err := say("NAME: " + *name); err != nil {
		fmt.Fprintf(stderr, "reactor client chat: %v\n", err)
		return 1
	}
	con := newConsole(stdin, stdout, *name+"> ")
	defer con.restore()
	var quitting atomic.Bool // the user left: the server closing is then expected
	// The reader prints the room until the server closes or refuses the name; it exits with the
	// connection, which runClient closes on its way out.
	fromServer := make(chan error, 1)
	go func() { fromServer <- readFrom(conn, *name, con) }()
	// What the user types goes to the server until input ends (end of file, Ctrl-D, or Ctrl-C
	// on a terminal); then leave politely. A goroutine blocked reading the terminal ends with
	// the process.
	go func() {
		for {
			line, err := con.readLine()
			if err != nil {
				break
			}
			if strings.TrimSpace(line) == "/quit" {
				quitting.Store(true)
				if wire == chat.Classic {
					break
				}
			}
			if err := say(line); err != nil {
				return
			}
		}
		quitting.Store(true)
		leave()
	}()
	select {
	case err := <-fromServer:
		switch {
		case errors.Is(err, io.EOF) && quitting.Load():
			con.restore()
			return 0
		case errors.Is(err, io.EOF):
			con.restore()
			fmt.Fprintf(stderr, "reactor client chat: the server at %s closed the connection\n", *addr)
		default:
			con.restore()
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
func readRoom(conn net.Conn, name string, con console) error {
	r := bufio.NewReader(conn)
	joined := false
	for {
		line, err := r.ReadBytes('\n')
		line = bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\n")), []byte("\r"))
		switch {
		case len(line) == 0:
		case joined:
			con.println(line)
		case bytes.HasPrefix(line, []byte("CLIENT: ")):
			joined = true
			con.println(fmt.Appendf(nil, "* joined as %s (you are %s)", name, line[len("CLIENT: "):]))
		case bytes.HasPrefix(line, []byte("! ")):
			// Before joining, the only complaint the server can have is about the name.
			return fmt.Errorf("%w: %s", errNameRefused, chat.AppendSafe(nil, line[len("! "):]))
		case bytes.HasPrefix(line, []byte("* welcome")):
			// The greeting asks for a name, which the client has already sent.
		default:
			con.println(line)
		}
		if err != nil {
			return err
		}
	}
}

// maxClassicFrame bounds what the client takes from a classic server, whose own programs set
// no limit on a message: a megabyte is past any line typed at a terminal.
const maxClassicFrame = 1 << 20

// readClassicRoom is readRoom for the classic wire: the first message must be the server's
// "CLIENT: <address>" (or, from reactor's server, "! <why the name was refused>"); every later
// one is printed without the newline the classic server puts before it. A frame that is not a
// pickle of strings is reported and skipped; a broken header ends the connection.
func readClassicRoom(conn net.Conn, name string, con console) error {
	r := bufio.NewReader(conn)
	var header [chat.ClassicHeaderLen]byte
	var body, text []byte
	joined := false
	for {
		if _, err := io.ReadFull(r, header[:]); err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) {
				err = io.EOF
			}
			return err
		}
		n, err := chat.ClassicFrameLen(header[:], maxClassicFrame)
		if err != nil {
			return fmt.Errorf("the server does not speak the classic wire: %w", err)
		}
		if cap(body) < n {
			body = make([]byte, n)
		}
		body = body[:n]
		if _, err := io.ReadFull(r, body); err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) {
				err = io.EOF
			}
			return err
		}
		text, err = chat.DecodeClassic(text[:0], body)
		switch {
		case err != nil:
			con.println(fmt.Appendf(nil, "! a message this client cannot read: %v", strings.TrimPrefix(err.Error(), "chat: ")))
		case joined:
			con.println(bytes.TrimLeft(text, "\n"))
		case bytes.HasPrefix(text, []byte("! ")):
			return fmt.Errorf("%w: %s", errNameRefused, chat.AppendSafe(nil, text[len("! "):]))
		default:
			// The classic client took what follows "CLIENT: " as its address.
			if _, you, ok := bytes.Cut(text, []byte("CLIENT: ")); ok {
				joined = true
				con.println(fmt.Appendf(nil, "* joined as %s (you are %s)", name, you))
				continue
			}
			con.println(bytes.TrimLeft(text, "\n"))
		}
	}
}

// console is the user's side of the client: lines typed, and the room's lines shown. Everything
// it shows is made safe first (chat.AppendSafe), so a hostile server cannot drive the user's
// terminal. println is safe to call while another goroutine is in readLine.
type console interface {
	readLine() (string, error)
	println(line []byte)
	restore() // leave the terminal as it was; safe to call more than once
}

// newConsole returns a line editor on the terminal when standard input and output are one, and
// plain lines otherwise.
func newConsole(stdin io.Reader, stdout io.Writer, prompt string) console {
	in, ok1 := stdin.(*os.File)
	out, ok2 := stdout.(*os.File)
	if !ok1 || !ok2 || !term.IsTerminal(int(in.Fd())) || !term.IsTerminal(int(out.Fd())) {
		return &plainConsole{in: bufio.NewScanner(stdin), w: stdout}
	}
	fd := int(in.Fd())
	old, err := term.MakeRaw(fd)
	if err != nil {
		return &plainConsole{in: bufio.NewScanner(stdin), w: stdout}
	}
	tc := newTermConsole(struct {
		io.Reader
		io.Writer
	}{stdin, stdout}, prompt)
	tc.undo = func() { term.Restore(fd, old) }
	return tc
}

// plainConsole reads lines from a pipe or file and writes the room's lines as they come.
type plainConsole struct {
	in  *bufio.Scanner
	mu  sync.Mutex
	w   io.Writer
	buf []byte
}

func (p *plainConsole) readLine() (string, error) {
	if p.in.Scan() {
		return p.in.Text(), nil
	}
	if err := p.in.Err(); err != nil {
		return "", err
	}
	return "", io.EOF
}

func (p *plainConsole) println(line []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.buf = append(chat.AppendSafe(p.buf[:0], line), '\n')
	p.w.Write(p.buf)
}

func (p *plainConsole) restore() {}

// termConsole is a line editor (golang.org/x/term) on a terminal in raw mode: a line from the
// room is printed above the prompt, and the prompt and whatever the user has typed so far are
// drawn again below it, so incoming lines never break up a line being typed. Ctrl-C and Ctrl-D
// on an empty line end input.
type termConsole struct {
	t    *term.Terminal
	mu   sync.Mutex
	buf  []byte
	once sync.Once
	undo func()
}

func newTermConsole(rw io.ReadWriter, prompt string) *termConsole {
	return &termConsole{t: term.NewTerminal(rw, prompt), undo: func() {}}
}

func (c *termConsole) readLine() (string, error) { return c.t.ReadLine() }

func (c *termConsole) println(line []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.buf = append(chat.AppendSafe(c.buf[:0], line), '\n')
	c.t.Write(c.buf)
}

// restore takes the prompt off the screen and leaves raw mode, so that what is printed next
// starts on a clean line of a normal terminal.
func (c *termConsole) restore() {
	c.once.Do(func() {
		c.t.SetPrompt("")
		c.t.Write([]byte("\r\x1b[K"))
		c.undo()
	})
}
