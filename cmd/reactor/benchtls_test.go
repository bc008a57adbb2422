package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/reactorlab/reactor/bench"
)

// TestBenchTLSQuick: reactor bench --tls --quick measures epoll and the net/http + crypto/tls
// contender without an error, and writes every figure it reports.
func TestBenchTLSQuick(t *testing.T) {
	bin := reactorBinary(t)
	out := t.TempDir()
	stdout, stderr, code := runBin(t, bin, "bench", "--tls", "--quick", "--backends", "epoll", "--duration", "200ms", "--out", out)
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	for _, want := range []string{"CPU per handshake", "memory per idle TLS conn", "storm p99", "| epoll |", "| " + bench.NativeTLS + " |"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("report lacks %q:\n%s", want, stdout)
		}
	}
	data, err := os.ReadFile(filepath.Join(out, "tls.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rep bench.TLSReport
	if err := json.Unmarshal(data, &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Rounds) != 1 || len(rep.Rounds[0]) != 2 {
		t.Fatalf("rounds %v; want one round of epoll and %s", rep.Rounds, bench.NativeTLS)
	}
	for _, r := range rep.Rounds[0] {
		if r.Errors != 0 || !(r.HandshakeCPU > 0) || !(r.Handshakes > 0) || !(r.RequestCPU > 0) || !(r.EchoCPU > 0) || r.StormP99 <= 0 {
			t.Errorf("%s: %+v; want every figure taken and no error", r.Contender, r)
		}
	}
}

// TestBenchTLSUsage: an unknown name in --backends is a usage error that lists what --tls
// takes, nginx and refs among them.
func TestBenchTLSUsage(t *testing.T) {
	var stdout, stderr strings.Builder
	code := runBench(context.Background(), []string{"--tls", "--backends", "epoll,haproxy"}, &stdout, &stderr)
	if code != 2 || !strings.Contains(stderr.String(), `backend "haproxy" is unknown`) || !strings.Contains(stderr.String(), "nginx, refs") {
		t.Errorf("exit %d, stderr %q; want 2 and the names --tls takes", code, stderr.String())
	}
}
