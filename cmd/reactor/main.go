// Command reactor serves one protocol (http, echo, discard, chat, proxy) on one of several event-loop backends
// and measures the backends side by side.
//
//	reactor serve --backend epoll --proto http --addr 127.0.0.1:8080
//	reactor serve --config reactor.yaml
//	reactor serve --proto proxy --upstream 127.0.0.1:7000 --addr 127.0.0.1:7001
//	reactor backends
//	reactor bench --proto http
//	reactor client chat --name alice --addr 127.0.0.1:8080
//	reactor version
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"sync/atomic"

	"github.com/reactorlab/reactor/adapters/process"
)

const usage = `reactor — one protocol layer, many event loops.

Usage:
  reactor serve    [flags]   serve http, echo, discard, chat or proxy on a backend (reactor serve --help)
  reactor backends [NAME]    list the backends, what each models, and whether it runs here
  reactor bench    [flags]   run backends side by side under load (reactor bench --help)
  reactor client chat [flags]  join a chat server interactively (reactor client chat --help)
  reactor version            the module version, commit and Go version of this build

Examples:
  reactor serve --backend std --proto http --addr 127.0.0.1:8080
  curl http://127.0.0.1:8080/plaintext
  reactor serve --proto chat --addr 127.0.0.1:9000   # then: nc 127.0.0.1 9000
  reactor serve --proto proxy --upstream 127.0.0.1:7000 --addr 127.0.0.1:7001
  reactor serve --config reactor.yaml --backend gnet  # flags beat the file
`

func main() {
	// The process backend's children are this program again: reactor serve with the same
	// command line, serving the one connection handed over as descriptor 3.
	process.SetLauncher(launchChild)
	os.Exit(run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run dispatches a command line and returns the exit status: 0 on success, 1 when the command
// failed, 2 for a usage error.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "serve":
		return runServe(ctx, args[1:], stdout, stderr)
	case "backends":
		return runBackends(args[1:], stdout, stderr)
	case "bench":
		return runBench(ctx, args[1:], stdout, stderr)
	case "client":
		return runClient(ctx, args[1:], stdin, stdout, stderr)
	case "version", "-version", "--version":
		return runVersion(stdout)
	case "native":
		return runNative(ctx, args[1:], stdout, stderr)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "reactor: unknown command %q\n\n%s", args[0], usage)
	return 2
}

// childArgs are flags the process backend's children get after the parent's own: those that
// point them at the chat bus the parent started for them. serve sets it before the backend
// starts; nil for none.
var childArgs atomic.Pointer[[]string]

// launchChild is the process backend's Launcher: this executable, run with this process's own
// arguments (reactor serve and its flags, the flag added last winning), childArgs and --serve-fd.
func launchChild() (*exec.Cmd, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	args := os.Args[1:len(os.Args):len(os.Args)]
	if extra := childArgs.Load(); extra != nil {
		args = append(args, *extra...)
	}
	cmd := exec.Command(self, append(args, "--serve-fd", strconv.Itoa(process.ChildFD))...)
	cmd.Stderr = os.Stderr
	return cmd, nil
}
