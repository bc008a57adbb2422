package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/reactorlab/reactor/adapters/epoll"
	"github.com/reactorlab/reactor/adapters/evioloop"
	"github.com/reactorlab/reactor/adapters/gnetloop"
	"github.com/reactorlab/reactor/adapters/netpoller"
	"github.com/reactorlab/reactor/adapters/stdnet"
	"github.com/reactorlab/reactor/reactor"
)

// backends is every backend the CLI knows, by the name users type.
func backends() *reactor.Registry {
	var r reactor.Registry
	r.Register(epoll.Info(), epoll.New)
	r.Register(epoll.PollInfo(), epoll.NewPoll)
	r.Register(epoll.SelectInfo(), epoll.NewSelect)
	r.Register(stdnet.Info(), stdnet.New)
	r.Register(gnetloop.Info(), gnetloop.New)
	r.Register(netpoller.Info(), netpoller.New)
	r.Register(evioloop.Info(), evioloop.New)
	return &r
}

// defaultBackend is the first of the preferred backends that runs here.
func defaultBackend(r *reactor.Registry) string {
	for _, name := range []string{"epoll", stdnet.Name} {
		if info, ok := r.Info(name); ok && info.Available {
			return name
		}
	}
	return stdnet.Name
}

func runBackends(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("reactor backends", flag.ContinueOnError)
	fs.SetOutput(stderr)
	asJSON := fs.Bool("json", false, "print a JSON array of backend descriptions")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: reactor backends [--json]\n\nLists every backend: the name to pass to --backend, whether it runs on this machine,\nthe concurrency model it stands for and its limits.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	infos := backends().Infos()
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(infos); err != nil {
			fmt.Fprintln(stderr, "reactor backends:", err)
			return 1
		}
		return 0
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tHERE\tMODEL\tPROGRESSION STEP\tLIMITS\tNOT SUPPORTED")
	for _, in := range infos {
		here := "yes"
		if !in.Available {
			here = "no: " + in.Reason
		}
		limits := "descriptor limit"
		if in.MaxConns > 0 {
			limits = fmt.Sprintf("%d connections", in.MaxConns)
		}
		unsupported := "-"
		if len(in.Unsupported) > 0 {
			unsupported = strings.Join(in.Unsupported, ", ")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", in.Name, here, in.Model, in.Progression, limits, unsupported)
	}
	tw.Flush()
	return 0
}
