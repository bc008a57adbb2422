package bench

import (
	"context"
	"fmt"
	"os/exec"
	"strconv"
)

// defaultUpstream is the upstream's backend when Options.UpstreamBackend is empty: std runs
// everywhere.
const defaultUpstream = "std"

// startUpstream starts the echo server the proxies of one round relay to:
// `self serve --backend B --proto echo`, a process of its own, so that its CPU time is not
// counted as any proxy's. It is part of the load, not of what is measured: it runs where the
// load generators do (with pinning, on the load CPUs with GOMAXPROCS=1 and one loop), leaving
// the server's CPU to the proxy alone. Every contender of the round relays to the same one.
func startUpstream(ctx context.Context, spec childSpec, backend string) (*server, error) {
	if backend == "" {
		backend = defaultUpstream
	}
	addr, err := freePort()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(spec.self, "serve", "--backend", backend, "--proto", "echo", "--addr", addr, "--loops", strconv.Itoa(spec.loops))
	cmd.Env = spec.pin.childEnv()
	// Started from a thread of this process, on the load CPUs: affinity is inherited.
	s, err := launch(ctx, cmd, addr, (*exec.Cmd).Start)
	if err != nil {
		return nil, fmt.Errorf("bench: the upstream echo server (%s) did not start: %w", backend, err)
	}
	s.cpus = cpuAllowedList(s.pid)
	return s, nil
}

// upstreamDesc says, for the report, what the proxies relayed to.
func upstreamDesc(o Options, pin *pinning, loops int) string {
	backend := o.UpstreamBackend
	if backend == "" {
		backend = defaultUpstream
	}
	where := "sharing the CPUs with the load generator and the proxy"
	if pin.on {
		where = "on the load generator's CPUs (GOMAXPROCS=1), not the proxy's"
	}
	return fmt.Sprintf("reactor serve --backend %s --proto echo --loops %d, one per round, the same for every proxy in it: its own process, %s; its CPU time and memory are not counted as the proxy's", backend, loops, where)
}
