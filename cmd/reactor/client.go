package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"strings"
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
		fmt.Fprintf(stderr, "Usage: reactor client chat --name NAME [--addr HOST:PORT]\n\nJoins a reactor chat server: lines typed on standard input go to everyone else,\nwhat the room says is printed. /who lists members, /quit leaves (so does end of input).\n\n")
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
	// The reader prints the room until the server closes; it exits with the connection.
	fromServer := make(chan error, 1)
	go func() {
		r := bufio.NewScanner(conn)
		for r.Scan() {
			line := r.Text()
			if strings.HasPrefix(line, "CLIENT: ") {
				line = "* joined as " + *name + " (you are " + strings.TrimPrefix(line, "CLIENT: ") + ")"
			}
			fmt.Fprintln(stdout, line)
		}
		fromServer <- r.Err()
	}()
	// Standard input goes to the server until it ends; then leave politely. A goroutine blocked
	// reading the terminal ends with the process.
	go func() {
		in := bufio.NewScanner(stdin)
		for in.Scan() {
			if _, err := fmt.Fprintf(conn, "%s\n", in.Text()); err != nil {
				return
			}
		}
		fmt.Fprintf(conn, "/quit\n")
	}()
	select {
	case err := <-fromServer:
		if err != nil {
			fmt.Fprintf(stderr, "reactor client chat: %v\n", err)
			return 1
		}
		return 0
	case <-ctx.Done():
		return 0
	}
}
