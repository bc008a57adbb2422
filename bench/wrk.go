package bench

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"time"
)

// wrkScript makes wrk send depth requests per write: the pipelining script the wrk authors
// suggest, written here from its description. depth comes as the script's first argument.
const wrkScript = `init = function(args)
  local depth = tonumber(args[1]) or 1
  local r = {}
  for i = 1, depth do
    r[i] = wrk.format(nil, "/plaintext")
  end
  req = table.concat(r)
end

request = function()
  return req
end
`

// wrkAvailable reports whether wrk can be run.
func wrkAvailable() error {
	if _, err := exec.LookPath("wrk"); err != nil {
		return fmt.Errorf("bench: --loader wrk needs wrk on PATH (Debian: apt-get install wrk): %w", err)
	}
	return nil
}

// runWrk measures the server at addr with wrk instead of the built-in generator: a warm-up run,
// then a measured run with the server's CPU read around it. wrk checks status codes, not
// bodies; non-2xx answers and socket errors are counted as errors. Its durations are whole
// seconds, so warm-up and duration are rounded up.
func runWrk(ctx context.Context, addr string, pid, conns, depth int, warmup, dur time.Duration, errs *tally) (window, error) {
	dir, err := os.MkdirTemp("", "reactor-bench-wrk")
	if err != nil {
		return window{}, err
	}
	defer os.RemoveAll(dir)
	script := filepath.Join(dir, "pipeline.lua")
	if err := os.WriteFile(script, []byte(wrkScript), 0o600); err != nil {
		return window{}, err
	}
	url := "http://" + addr + "/plaintext"
	run := func(d time.Duration) ([]byte, error) {
		secs := int(math.Ceil(d.Seconds()))
		if secs < 1 {
			secs = 1
		}
		cmd := exec.CommandContext(ctx, "wrk", "-t1", "-c"+strconv.Itoa(conns), "-d"+strconv.Itoa(secs)+"s",
			"--timeout", "2s", "-s", script, url, "--", strconv.Itoa(depth))
		// wrk runs where this process runs: on the load CPUs when pinned (it inherits the
		// affinity of the thread that starts it).
		out, err := cmd.Output()
		if err != nil {
			return out, fmt.Errorf("wrk: %w", err)
		}
		return out, nil
	}
	if warmup > 0 {
		if _, err := run(warmup); err != nil {
			return window{}, err
		}
	}
	cpu0 := readCPU(pid)
	out, err := run(dur)
	cpu1 := readCPU(pid)
	if err != nil {
		return window{}, err
	}
	res, err := parseWrk(out)
	if err != nil {
		return window{}, err
	}
	errs.add(errStatus, res.non2xx, "wrk counted non-2xx or 3xx responses")
	errs.add(errConnect, res.connect, "wrk: connect errors")
	errs.add(errIO, res.read+res.write, "wrk: read or write errors")
	errs.add(errTimeout, res.timeout, "wrk: request timeouts")
	// wrk's own CPU time is not read: it is a separate process that has exited by now.
	cpu, exact := cpuBetween(cpu0, cpu1)
	return window{Ops: res.requests - res.non2xx, Seconds: res.seconds, CPU: cpu, CPUExact: exact, LoadCPU: math.NaN()}, nil
}

type wrkResult struct {
	requests                              int64
	seconds                               float64
	non2xx, connect, read, write, timeout int64
}

var (
	wrkTotal  = regexp.MustCompile(`(\d+) requests in ([0-9.]+)(us|ms|s|m)`)
	wrkNon2xx = regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)`)
	wrkSocket = regexp.MustCompile(`Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
)

// parseWrk reads the summary wrk prints.
func parseWrk(out []byte) (wrkResult, error) {
	var r wrkResult
	m := wrkTotal.FindSubmatch(out)
	if m == nil {
		return r, fmt.Errorf("wrk: no request count in its output: %q", shorten(string(bytes.TrimSpace(out)), 200))
	}
	r.requests, _ = strconv.ParseInt(string(m[1]), 10, 64)
	v, _ := strconv.ParseFloat(string(m[2]), 64)
	switch string(m[3]) {
	case "us":
		v /= 1e6
	case "ms":
		v /= 1e3
	case "m":
		v *= 60
	}
	r.seconds = v
	if m := wrkNon2xx.FindSubmatch(out); m != nil {
		r.non2xx, _ = strconv.ParseInt(string(m[1]), 10, 64)
	}
	if m := wrkSocket.FindSubmatch(out); m != nil {
		r.connect, _ = strconv.ParseInt(string(m[1]), 10, 64)
		r.read, _ = strconv.ParseInt(string(m[2]), 10, 64)
		r.write, _ = strconv.ParseInt(string(m[3]), 10, 64)
		r.timeout, _ = strconv.ParseInt(string(m[4]), 10, 64)
	}
	return r, nil
}
