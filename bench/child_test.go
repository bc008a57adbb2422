package bench

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"
)

// helperEnv makes the test binary play a server child: started by the bench as
// `<self> serve --backend B --proto P --addr A --loops N`, it behaves as the variable says.
const helperEnv = "BENCH_TEST_CHILD"

func TestMain(m *testing.M) {
	if mode := os.Getenv(helperEnv); mode != "" {
		os.Exit(helperChild(mode, os.Args[1:]))
	}
	os.Exit(m.Run())
}

// helperChild is a stand-in server: "late" announces itself 300 ms before it listens (as a
// careless server might), then echoes until SIGTERM; "crash" writes a complaint and exits 3;
// "http" refuses to start unless told --proto http, then answers every request (counted by its
// empty line) with okResponse. Flags other than serve's four make it exit 2.
func helperChild(mode string, args []string) int {
	if len(args) == 0 || args[0] != "serve" {
		fmt.Fprintln(os.Stderr, "helper: want serve …")
		return 2
	}
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	backend := fs.String("backend", "", "")
	proto := fs.String("proto", "", "")
	addr := fs.String("addr", "", "")
	fs.Int("loops", 0, "")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	if mode == "crash" {
		fmt.Fprintln(os.Stderr, "helper: boom, cannot serve")
		return 3
	}
	if mode == "http" && *proto != "http" {
		fmt.Fprintf(os.Stderr, "helper: told to serve %q; want http\n", *proto)
		return 3
	}
	fmt.Fprintf(os.Stderr, "level=INFO msg=serving proto=%s addr=%s backend=%s\n", *proto, *addr, *backend)
	time.Sleep(300 * time.Millisecond)
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		return 1
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				if mode != "http" {
					_, _ = io.Copy(c, c)
					return
				}
				r := bufio.NewReader(c)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					if line == "\r\n" {
						if _, err := io.WriteString(c, okResponse); err != nil {
							return
						}
					}
				}
			}()
		}
	}()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM)
	<-sig
	ln.Close()
	return 0
}

func TestChildAnnouncedEarlyIsNotCountedAgainst(t *testing.T) {
	t.Setenv(helperEnv, "late")
	o := Defaults("echo", true)
	o.Pin = true
	o.Self = os.Args[0]
	o.Contenders = []Contender{{Name: "late", Kind: KindBackend}}
	rep, err := Run(context.Background(), o, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := rep.Scenarios[0].Results[0]
	if !r.Valid || r.Errors != 0 || float64(r.CPUPerOp.Median) <= 0 {
		t.Fatalf("valid %v, errors %v %v, failed %q, CPU %v; want a clean measurement", r.Valid, r.ErrorKinds, r.ErrorSamples, r.Failed, r.CPUPerOp.Median)
	}
	if rep.Settings.Pinned {
		if cpus := r.Rounds[0].ServerCPUs; cpus == "" || strings.ContainsAny(cpus, "-,") {
			t.Errorf("pinned, yet the child may run on CPUs %q", cpus)
		}
	}
	if left := helperChildren(); len(left) > 0 {
		t.Errorf("children left running: %v", left)
	}
}

func TestChildThatCannotServeIsReported(t *testing.T) {
	t.Setenv(helperEnv, "crash")
	o := Defaults("echo", true)
	o.Pin = false
	o.Rounds = 2
	o.Self = os.Args[0]
	o.Contenders = []Contender{{Name: "crashy", Kind: KindBackend}}
	rep, err := Run(context.Background(), o, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := rep.Scenarios[0].Results[0]
	if r.Valid || !strings.Contains(r.Failed, "boom") || len(r.Rounds) != 2 {
		t.Errorf("valid %v, failed %q, %d rounds; want invalid, the child's complaint, 2 rounds", r.Valid, r.Failed, len(r.Rounds))
	}
}

// TestChildIdleHTTP: with IdleProto http the children serve http, with no flag but serve's
// four (so http1's idle timeout stays at its default, and older builds take the command line),
// and every idle connection makes a validated GET before it rests.
func TestChildIdleHTTP(t *testing.T) {
	t.Setenv(helperEnv, "http")
	o := Defaults("idle", true)
	o.Pin = false
	o.IdleProto = "http"
	o.Self = os.Args[0]
	o.Contenders = []Contender{{Name: "h", Kind: KindBackend}}
	rep, err := Run(context.Background(), o, nil)
	if err != nil {
		t.Fatal(err)
	}
	sc := rep.Scenarios[0]
	r := sc.Results[0]
	if !r.Valid || r.Errors != 0 || r.Failed != "" || len(r.Rounds[0].Idle) != len(o.IdleSweep) {
		t.Fatalf("valid %v, errors %v %v, failed %q, %d points; want every count measured cleanly",
			r.Valid, r.ErrorKinds, r.ErrorSamples, r.Failed, len(r.Rounds[0].Idle))
	}
	if rep.Settings.IdleProto != "http" || !strings.Contains(sc.Describe, "HTTP keep-alive") {
		t.Errorf("report says idle proto %q, %q; want http", rep.Settings.IdleProto, sc.Describe)
	}

	// The same children as echo servers: they refuse to start.
	o.IdleProto = ""
	rep, err = Run(context.Background(), o, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r := rep.Scenarios[0].Results[0]; r.Valid || !strings.Contains(r.Failed, "want http") {
		t.Errorf("echo idle against the http-only helper: valid %v, failed %q; want it refused", r.Valid, r.Failed)
	}
	if rep.Settings.IdleProto != "echo" {
		t.Errorf("report says idle proto %q; want echo, the default", rep.Settings.IdleProto)
	}
}

// helperChildren lists running processes of this test binary started as children.
func helperChildren() []string {
	var out []string
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil {
			continue
		}
		args := strings.Split(string(b), "\x00")
		if len(args) > 1 && args[0] == os.Args[0] && args[1] == "serve" {
			out = append(out, e.Name())
		}
	}
	return out
}
