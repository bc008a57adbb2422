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
	"slices"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/reactorlab/reactor/bench/native/evionative"
	"github.com/reactorlab/reactor/bench/native/fasthttpnative"
	"github.com/reactorlab/reactor/bench/native/gnetnative"
	"github.com/reactorlab/reactor/bench/native/iocopynative"
	"github.com/reactorlab/reactor/bench/native/nbionative"
	"github.com/reactorlab/reactor/bench/native/nethttpnative"
	"github.com/reactorlab/reactor/bench/native/netpollnative"
	"github.com/reactorlab/reactor/bench/native/tlsnative"
)

// natives are the baseline servers written straight on each library's API (bench/native), run
// by `reactor bench` as child processes to measure what an adapter costs, and the io.Copy
// proxy the proxy backends are measured against. Hidden from the usage text: it is a
// benchmarking aid, not a way to serve.
var natives = map[string]native{
	"evio":    {protos: []string{"http", "echo"}, serve: serveOnLib(evionative.Serve)},
	"gnet":    {protos: []string{"http", "echo"}, serve: serveOnLib(gnetnative.Serve)},
	"netpoll": {protos: []string{"http", "echo"}, serve: serveOnLib(netpollnative.Serve)},
	"nbio":    {protos: []string{"http", "echo"}, serve: serveOnLib(nbionative.Serve)},
	// What a Go user picks instead of an event loop: the standard library's server, and the
	// fast one.
	"nethttp":  {protos: []string{"http"}, serve: serveOnLib(nethttpnative.Serve)},
	"fasthttp": {protos: []string{"http"}, serve: serveOnLib(fasthttpnative.Serve)},
	"iocopy": {protos: []string{"proxy"}, serve: func(ctx context.Context, o nativeOptions) error {
		return iocopynative.Serve(ctx, o.addr, o.upstreams)
	}},
	// net/http with crypto/tls, and tls.Listen for echo: what reactor bench --tls measures
	// every backend against.
	"nethttp-tls": {protos: []string{"http", "echo"}, serve: func(ctx context.Context, o nativeOptions) error {
		if o.tlsCert == "" || o.tlsKey == "" {
			return errors.New("nethttp-tls needs --tls-cert and --tls-key")
		}
		return tlsnative.Serve(ctx, o.proto, o.addr, o.tlsCert, o.tlsKey)
	}},
}

// native is one baseline: the protocols it serves and how.
type native struct {
	protos []string
	serve  func(ctx context.Context, o nativeOptions) error
}

// nativeOptions are the flags of `reactor native`.
type nativeOptions struct {
	proto, addr string
	loops       int
	upstreams   []string
	// tlsCert and tlsKey are the certificate files of a TLS baseline.
	tlsCert, tlsKey string
}

// serveOnLib adapts the Serve of a baseline on an event-loop library.
func serveOnLib(serve func(ctx context.Context, proto, addr string, loops int) error) func(context.Context, nativeOptions) error {
	return func(ctx context.Context, o nativeOptions) error { return serve(ctx, o.proto, o.addr, o.loops) }
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
	proto := fs.String("proto", "http", "http, echo or proxy (each library serves some: gnet, netpoll and evio http and echo, nethttp and fasthttp http, iocopy proxy)")
	addr := fs.String("addr", "127.0.0.1:8080", "TCP `host:port` to listen on")
	loops := fs.Int("loops", 0, "event loops (0: one per CPU)")
	upstream := fs.String("upstream", "", "proxy: `host:port[,…]` to relay each connection to, taken in turn")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the whole run to this `file`")
	tlsCert := fs.String("tls-cert", "", "nethttp-tls: the PEM certificate `file`")
	tlsKey := fs.String("tls-key", "", "nethttp-tls: the PEM key `file`")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: reactor native --lib LIB [--proto http|echo|proxy] [--addr HOST:PORT] [--loops N] [--upstream HOST:PORT]\n\nA baseline server written directly on LIB's own API, for `reactor bench` to compare an\nadapter with; iocopy is the goroutine-pair io.Copy proxy on the standard library. Serves\nuntil SIGINT or SIGTERM.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	nat, ok := natives[*lib]
	if !ok {
		fmt.Fprintf(stderr, "reactor native: unknown library %q (valid: %s)\n", *lib, strings.Join(libs, ", "))
		return 2
	}
	if !slices.Contains(nat.protos, *proto) {
		fmt.Fprintf(stderr, "reactor native: %s does not serve %q (it serves %s)\n", *lib, *proto, strings.Join(nat.protos, ", "))
		return 2
	}
	o := nativeOptions{proto: *proto, addr: *addr, loops: *loops, upstreams: splitList(*upstream), tlsCert: *tlsCert, tlsKey: *tlsKey}
	if *proto == "proxy" && len(o.upstreams) == 0 {
		fmt.Fprintln(stderr, "reactor native: --proto proxy needs --upstream host:port")
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
	go func() { served <- nat.serve(ctx, o) }()
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
