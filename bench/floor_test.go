package bench

import (
	"bytes"
	"context"
	"io"
	"net"
	"os"
	"slices"
	"testing"
	"time"
)

// startFloor builds the C floor and starts it for proto, or skips saying why (fails in CI,
// which must have a compiler).
func startFloor(t *testing.T, proto string) *server {
	t.Helper()
	if why := floorMissing(); why != "" {
		if os.Getenv("CI") == "true" {
			t.Fatal(why)
		}
		t.Skip(why)
	}
	bin, cleanup, err := buildFloor()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cleanup)
	addr, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	cmd, err := floorCommand(bin, proto, addr)
	if err != nil {
		t.Fatal(err)
	}
	s, err := launch(context.Background(), cmd, addr, (&pinning{}).start)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.stop)
	return s
}

// TestFloor: the floor answers every request head, pipelined and split across writes, with a
// response the load generator accepts, and echoes byte for byte.
func TestFloor(t *testing.T) {
	t.Run("http", func(t *testing.T) {
		s := startFloor(t, "http")
		c, err := net.Dial("tcp", s.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		// Three pipelined heads in one write, then one cut inside its "\r\n\r\n".
		req := plaintextRequest
		io.WriteString(c, req+req+req+req[:len(req)-2])
		time.Sleep(20 * time.Millisecond)
		io.WriteString(c, req[len(req)-2:])
		var buf []byte
		for got := 0; got < 4; {
			b := make([]byte, 4096)
			n, err := c.Read(b)
			if err != nil {
				t.Fatalf("after %d answers: %v", got, err)
			}
			buf = append(buf, b[:n]...)
			for {
				n, kind := checkResponse(buf)
				if n == 0 {
					break
				}
				if kind >= 0 || n < 0 {
					t.Fatalf("answer %d wrong (kind %v): %q", got+1, kind, buf)
				}
				buf, got = buf[n:], got+1
			}
		}
	})
	t.Run("echo", func(t *testing.T) {
		s := startFloor(t, "echo")
		c, err := net.Dial("tcp", s.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		msg := bytes.Repeat([]byte("floor-echo "), 20000) // more than one read
		go c.Write(msg)
		got := make([]byte, len(msg))
		if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("echo: %v, equal %v", err, bytes.Equal(got, msg))
		}
	})
}

func TestReferences(t *testing.T) {
	for _, tc := range []struct {
		proto string
		want  []string
	}{
		{"http", []string{FloorName, "native-gnet", "native-nethttp", "native-fasthttp"}},
		{"echo", []string{FloorName, "native-gnet"}},
		{"proxy", []string{"native-iocopy", "haproxy"}},
		{"chat", nil},
	} {
		got, err := References(tc.proto)
		if !slices.Equal(got, tc.want) || (err != nil) != (tc.want == nil) {
			t.Errorf("References(%s) = %v, %v; want %v", tc.proto, got, err, tc.want)
		}
		for _, n := range got {
			c := ParseContender(n)
			if c.Kind == KindNative && !nativeServes(n[len(nativePrefix):], tc.proto) {
				t.Errorf("%s: %s is a reference but does not serve it", tc.proto, n)
			}
		}
	}
}
