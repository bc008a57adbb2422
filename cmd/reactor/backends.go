package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/reactorlab/reactor/adapters"
	"github.com/reactorlab/reactor/adapters/stdnet"
	"github.com/reactorlab/reactor/reactor"
)

// defaultBackend is the first of the preferred backends that runs here.
func defaultBackend(r *reactor.Registry) string {
	for _, name := range []string{"epoll", stdnet.Name} {
		if info, ok := r.Info(name); ok && info.Available {
			return name
		}
	}
	return stdnet.Name
}

// optionFlags maps the reactor.Config field names that Info.Unsupported lists to the serve
// flags a user types.
var optionFlags = map[string]string{
	"EdgeTriggered":  "--edge",
	"ReusePort":      "--reuseport",
	"ReadBufferSize": "--read-buffer",
	"MaxInbound":     "--max-inbound",
	"MaxOutbound":    "--max-outbound",
	"Loops":          "--loops",
	"Stats":          "--metrics-addr",
}

// backendDesc is one backend as `reactor backends` shows it, in the words and flags of the CLI.
type backendDesc struct {
	Name        string   `json:"name"`
	Available   bool     `json:"available"`
	Reason      string   `json:"reason,omitempty"`
	Model       string   `json:"model"`
	Progression string   `json:"progression"`
	MaxConns    int      `json:"max_conns"` // 0: only the descriptor limit applies
	Unsupported []string `json:"unsupported"`
}

func describe(in reactor.Info) backendDesc {
	d := backendDesc{
		Name:        in.Name,
		Available:   in.Available,
		Model:       in.Model,
		Progression: in.Progression,
		MaxConns:    in.MaxConns,
		Unsupported: []string{},
	}
	if !in.Available {
		d.Reason = in.Reason
	}
	for _, u := range in.Unsupported {
		d.Unsupported = append(d.Unsupported, inFlags(u))
	}
	return d
}

// inFlags words an Info.Unsupported entry as a CLI user knows it: an option as its flag
// ("--edge"), a contract point with the option it fails under as "PauseRead with --edge", and
// a contract point that always fails (a Conn method, "Dial") as it is.
func inFlags(u string) string {
	if f, ok := optionFlags[u]; ok {
		return f
	}
	if point, opt, ok := strings.Cut(u, " with "); ok {
		if f, ok := optionFlags[opt]; ok {
			return point + " with " + f
		}
	}
	return u
}

func (d backendDesc) here() string {
	if d.Available {
		return "yes"
	}
	return "no: " + d.Reason
}

func (d backendDesc) limits() string {
	if d.MaxConns > 0 {
		return fmt.Sprintf("%d connections", d.MaxConns)
	}
	return "descriptor limit"
}

func (d backendDesc) unsupported() string {
	if len(d.Unsupported) == 0 {
		return "-"
	}
	return strings.Join(d.Unsupported, ", ")
}

// narrowWidth is what the default table fits in: a terminal, a README, a code review.
const narrowWidth = 100

func runBackends(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("reactor backends", flag.ContinueOnError)
	fs.SetOutput(stderr)
	asJSON := fs.Bool("json", false, "print a JSON array of backend descriptions (lower-case keys; unsupported lists serve flags)")
	wide := fs.Bool("wide", false, "every column in full: model, progression step, limits, why a backend is not available")
	fs.Usage = func() {
		fmt.Fprintf(stderr, `Usage: reactor backends [--wide | --json] [NAME]

Lists every backend: the name to pass to --backend, whether it runs on this machine, the serve
flags it cannot honour and the concurrency model it stands for. With NAME, everything about
that one backend.

Flags:
`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	reg := adapters.Registry()
	var descs []backendDesc
	switch fs.NArg() {
	case 0:
		for _, in := range reg.Infos() {
			descs = append(descs, describe(in))
		}
	case 1:
		in, ok := reg.Info(fs.Arg(0))
		if !ok {
			fmt.Fprintf(stderr, "reactor backends: unknown backend %q (valid: %s)\n", fs.Arg(0), strings.Join(reg.Names(), ", "))
			return 2
		}
		descs = []backendDesc{describe(in)}
	default:
		fmt.Fprintf(stderr, "reactor backends: want at most one backend name, got %d\n", fs.NArg())
		return 2
	}
	switch {
	case *asJSON:
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(descs); err != nil {
			fmt.Fprintln(stderr, "reactor backends:", err)
			return 1
		}
	case fs.NArg() == 1:
		d := descs[0]
		tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintf(tw, "name:\t%s\nhere:\t%s\nmodel:\t%s\nprogression:\t%s\nlimits:\t%s\nnot supported:\t%s\n",
			d.Name, d.here(), d.Model, d.Progression, d.limits(), d.unsupported())
		tw.Flush()
	case *wide:
		tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tHERE\tMODEL\tPROGRESSION STEP\tLIMITS\tNOT SUPPORTED")
		for _, d := range descs {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", d.Name, d.here(), d.Model, d.Progression, d.limits(), d.unsupported())
		}
		tw.Flush()
	default:
		// Short columns first, then the model cut to what is left of the width.
		var rows [][3]string
		w := [3]int{len("NAME"), len("HERE"), len("NOT SUPPORTED")}
		for _, d := range descs {
			here := "yes"
			if !d.Available {
				here = "no"
			}
			r := [3]string{d.Name, here, d.unsupported()}
			for i := range r {
				w[i] = max(w[i], len(r[i]))
			}
			rows = append(rows, r)
		}
		room := narrowWidth - (w[0] + w[1] + w[2] + 6)
		fmt.Fprintf(stdout, "%-*s  %-*s  %-*s  %s\n", w[0], "NAME", w[1], "HERE", w[2], "NOT SUPPORTED", "MODEL (OR WHY NOT HERE)")
		for i, r := range rows {
			model := descs[i].Model
			if !descs[i].Available {
				model = "not available here: " + descs[i].Reason
			}
			line := fmt.Sprintf("%-*s  %-*s  %-*s  %s", w[0], r[0], w[1], r[1], w[2], r[2], clip(model, room))
			fmt.Fprintln(stdout, strings.TrimRight(line, " "))
		}
		fmt.Fprintln(stdout, "\n(reactor backends NAME or --wide for the whole model, limits and reasons)")
	}
	return 0
}

// clip shortens s to at most n runes, ending at a word with "…" when it cuts.
func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	cut := string(r[:n-1])
	if i := strings.LastIndexByte(cut, ' '); i > 0 {
		cut = cut[:i]
	}
	return strings.TrimRight(cut, " ,;:") + "…"
}
