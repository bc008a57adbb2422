package main

import (
	"bufio"
	"context"
	"io"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/reactorlab/reactor/protocols/chat/bus"
	"github.com/reactorlab/reactor/reactor/reactortest"
)

func TestServeRefusesBadBusSettings(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"bus for another protocol", []string{"--proto", "echo", "--bus", "embedded"}, "--bus, --bus-listen and --bus-routes are for --proto chat; the protocol is echo"},
		{"listen without embedded", []string{"--proto", "chat", "--bus-listen", "127.0.0.1:6222"}, "need chat.bus (--bus) embedded"},
		{"routes with a URL bus", []string{"--proto", "chat", "--bus", "nats://127.0.0.1:4222", "--bus-routes", "127.0.0.1:6222"}, "need chat.bus (--bus) embedded"},
		{"not a URL", []string{"--proto", "chat", "--bus", "127.0.0.1:4222"}, `chat.bus (--bus) "127.0.0.1:4222": want embedded, or nats://host:port`},
		{"bus not there", []string{"--proto", "chat", "--addr", "127.0.0.1:0", "--bus", "nats://" + reactortest.RefusedAddr(t)}, "bus: cannot reach nats://"},
		{"classic wire", []string{"--proto", "chat", "--chat-wire", "classic", "--bus", "embedded"}, "chat.wire (--chat-wire) classic cannot be shared over chat.bus (--bus)"},
		{"bad route", []string{"--proto", "chat", "--addr", "127.0.0.1:0", "--bus", "embedded", "--bus-routes", "nowhere"}, `--bus-routes "nowhere": want host:port`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stderr lockedBuffer
			if code := run(context.Background(), append([]string{"serve"}, tc.args...), nil, io.Discard, &stderr); code == 0 {
				t.Fatalf("exit 0; want non-zero")
			}
			if !strings.Contains(stderr.String(), tc.want) {
				t.Errorf("stderr lacks %q:\n%s", tc.want, stderr.String())
			}
		})
	}
}

// chatter joins a chat server as name and returns a function that reads lines until one
// contains want.
func chatter(t *testing.T, addr, name string) (net.Conn, func(want string)) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(20 * time.Second))
	br := bufio.NewReader(c)
	expect := func(want string) {
		t.Helper()
		var seen []string
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				t.Fatalf("%s waiting for %q: %v (got %q)", name, want, err, seen)
			}
			if strings.Contains(line, want) {
				return
			}
			seen = append(seen, line)
		}
	}
	io.WriteString(c, "NAME: "+name+"\n")
	expect("CLIENT: ")
	return c, expect
}

// Two serve processes' worth of servers, on two backends, share a room over a NATS bus; a third
// runs the bus in-process and serves on its own.
func TestServeChatOverBus(t *testing.T) {
	emb, err := bus.StartEmbedded(bus.EmbeddedOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer emb.Close()
	_, addr1, _ := startServe(t, "--proto", "chat", "--backend", "std", "--addr", "127.0.0.1:0", "--bus", emb.URL())
	_, addr2, _ := startServe(t, "--proto", "chat", "--backend", "epoll", "--addr", "127.0.0.1:0", "--bus", emb.URL())
	a, expectA := chatter(t, addr1, "alice")
	b, expectB := chatter(t, addr2, "bob")
	expectA("* bob joined")
	io.WriteString(b, "hello over the bus\n")
	expectA("bob: hello over the bus")
	io.WriteString(a, "/who\n")
	expectA("* members (2): alice, bob")
	io.WriteString(a, "/quit\n")
	expectB("* alice left")

	_, addr3, _ := startServe(t, "--proto", "chat", "--backend", "gnet", "--addr", "127.0.0.1:0", "--bus", "embedded")
	c, expectC := chatter(t, addr3, "carol")
	io.WriteString(c, "/who\n")
	expectC("* members (1): carol")
}

func TestBenchChatOverBus(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs three chat servers under load")
	}
	bin := reactorBinary(t)
	out := t.TempDir()
	stdout, stderr, code := runBin(t, bin, "bench", "--quick", "--proto", "chat", "--nodes", "3", "--bus", "embedded", "--backends", "std", "--out", out)
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	rep := readReport(t, filepath.Join(out, "chat.json"))
	if rep.Settings.Nodes != 3 || rep.Settings.Bus != "embedded" {
		t.Errorf("settings %+v; want 3 nodes on the embedded bus", rep.Settings)
	}
	r := rep.Scenarios[0].Results[0]
	if !r.Valid || r.Errors != 0 || float64(r.Throughput.Median) <= 0 || float64(r.Rounds[0].P50) <= 0 {
		t.Errorf("std over the bus: valid %v, errors %d %v, throughput %v, p50 %v; want valid lines and latency",
			r.Valid, r.Errors, r.ErrorSamples, r.Throughput.Median, r.Rounds[0].P50)
	}
	if !strings.Contains(rep.Scenarios[0].Describe, "spread over 3 servers") {
		t.Errorf("caption %q does not say the room is spread", rep.Scenarios[0].Describe)
	}
	_, stderr, code = runBin(t, bin, "bench", "--quick", "--proto", "echo", "--nodes", "3", "--bus", "embedded", "--backends", "std", "--out", out)
	if code == 0 || !strings.Contains(stderr, "--nodes and --bus are for --proto chat") {
		t.Errorf("echo with --nodes: exit %d, %q; want refused", code, stderr)
	}
}
