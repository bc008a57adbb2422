package bench

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
)

// testServer runs serve for every connection accepted on a loopback port until the test ends;
// cleanup closes the listener and every connection and waits for the goroutines.
func testServer(t *testing.T, serve func(c net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
		wg    sync.WaitGroup
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				serve(c)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

const okResponse = "HTTP/1.1 200 OK\r\nServer: t\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, World!"

// httpServer answers every request (counted by its blank line) with answer(i), i counting from
// 0 on each connection; an empty answer means no answer at all.
func httpServer(t *testing.T, answer func(i int) string) string {
	return testServer(t, func(c net.Conn) {
		buf := make([]byte, 64<<10)
		have, i := 0, 0
		for {
			n, err := c.Read(buf[have:])
			have += n
			var out []byte
			for {
				j := bytes.Index(buf[:have], []byte("\r\n\r\n"))
				if j < 0 {
					break
				}
				out = append(out, answer(i)...)
				i++
				have = copy(buf, buf[j+4:have])
			}
			if len(out) > 0 {
				if _, err := c.Write(out); err != nil {
					return
				}
			}
			if err != nil {
				return
			}
		}
	})
}

// echoServer echoes, passing every chunk through mangle first.
func echoServer(t *testing.T, mangle func([]byte)) string {
	return testServer(t, func(c net.Conn) {
		buf := make([]byte, 32<<10)
		for {
			n, err := c.Read(buf)
			if n > 0 {
				mangle(buf[:n])
				if _, werr := c.Write(buf[:n]); werr != nil {
					return
				}
			}
			if err != nil {
				return
			}
		}
	})
}

// chatRoom is a small chat server speaking the wire format of docs/protocols.md; drop, when
// set, decides to lose a broadcast line (a deliberately broken room).
type chatRoom struct {
	mu      sync.Mutex
	members map[net.Conn]string
	sent    int
	drop    func(n int) bool
}

func chatServer(t *testing.T, drop func(n int) bool) string {
	room := &chatRoom{members: map[net.Conn]string{}, drop: drop}
	return testServer(t, func(c net.Conn) {
		defer func() {
			room.mu.Lock()
			delete(room.members, c)
			room.mu.Unlock()
		}()
		io.WriteString(c, "* welcome to the test room\n")
		r := bufio.NewReader(c)
		name := ""
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			line = strings.TrimRight(line, "\r\n")
			if name == "" {
				n, ok := strings.CutPrefix(line, "NAME: ")
				if !ok {
					io.WriteString(c, "! name yourself first\n")
					continue
				}
				name = n
				room.mu.Lock()
				for m := range room.members {
					io.WriteString(m, "* "+name+" joined\n")
				}
				room.members[c] = name
				room.mu.Unlock()
				io.WriteString(c, "CLIENT: "+c.RemoteAddr().String()+"\n")
				continue
			}
			room.mu.Lock()
			room.sent++
			for m := range room.members {
				if m == c || room.drop != nil && room.drop(room.sent) {
					continue
				}
				io.WriteString(m, name+": "+line+"\n")
			}
			room.mu.Unlock()
		}
	})
}
