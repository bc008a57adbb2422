package bench

import (
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
// careless server might), then echoes until SIGTERM; "crash" writes a complaint and exits 3.
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
				_, _ = io.Copy(c, c)
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
