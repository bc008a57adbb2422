package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/reactorlab/reactor/bench/native/evionative"
	"github.com/reactorlab/reactor/bench/native/gnetnative"
	"github.com/reactorlab/reactor/bench/native/netpollnative"
)

// natives are the baseline servers written straight on each library's API (bench/native), run
// by `reactor bench` as child processes to measure what an adapter costs. Hidden from the usage
// text: it is a benchmarking aid, not a way to serve.
var natives = map[string]func(ctx context.Context, proto, addr string, loops int) error{
	"evio":    evionative.Serve,
	"gnet":    gnetnative.Serve,
	"netpoll": netpollnative.Serve,
}

func runNative(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	libs := make([]string, 0, len(natives))
	for l := range natives {
		libs = append(libs, l)
	}
	sort.Strings(libs)
	fs := flag.NewFlagSet("reactor native", flag.ContinueOnError)
	fs.SetOutput(stderr)
	lib := fs.String("lib", "", "library: "+strings.Join(libs, ", "))
	proto := fs.String("proto", "http", "http or echo")
	addr := fs.String("addr", "127.0.0.1:8080", "TCP `host:port` to listen on")
	loops := fs.Int("loops", 0, "event loops (0: one per CPU)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the whole run to this `file`")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: reactor native --lib LIB [--proto http|echo] [--addr HOST:PORT] [--loops N]\n\nA baseline server written directly on LIB's own API, for `reactor bench` to compare an\nadapter with. Serves until SIGINT or SIGTERM.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	serve, ok := natives[*lib]
	if !ok {
		fmt.Fprintf(stderr, "reactor native: unknown library %q (valid: %s)\n", *lib, strings.Join(libs, ", "))
		return 2
	}
	if *proto != "http" && *proto != "echo" {
		fmt.Fprintf(stderr, "reactor native: unknown protocol %q (valid: http, echo)\n", *proto)
		return 2
	}
	if *cpuProfile != "" {
		stopProfile, err := startCPUProfile(*cpuProfile)
		if err != nil {
			fmt.Fprintf(stderr, "reactor native: %v\n", err)
			return 1
		}
		defer stopProfile()
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	served := make(chan error, 1)
	go func() { served <- serve(ctx, *proto, *addr, *loops) }()
	// The baselines' Serve blocks without saying when it listens, so the line that tells a
	// harness "ready" waits until the port takes a connection.
	for ready := false; !ready; {
		select {
		case err := <-served:
			if err != nil {
				fmt.Fprintf(stderr, "reactor native: %v\n", err)
				return 1
			}
			return 0
		case <-time.After(10 * time.Millisecond):
			if c, err := net.DialTimeout("tcp", *addr, time.Second); err == nil {
				c.Close()
				ready = true
			}
		}
	}
	// The same record as serve's, which reactor bench watches for.
	slog.New(slog.NewTextHandler(stderr, nil)).Info("serving", "proto", *proto, "addr", *addr, "native", *lib)
	if err := <-served; err != nil {
		fmt.Fprintf(stderr, "reactor native: %v\n", err)
		return 1
	}
	return 0
}
