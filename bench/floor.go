package bench

import (
	_ "embed"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// FloorName is how --backends names the C floor.
const FloorName = "c-floor"

// floorSource is the C floor, compiled when a run names it: it ships inside the binary so that
// `reactor bench` needs no source tree, only a C compiler.
//
//go:embed floor/floor.c
var floorSource []byte

const floorModel = "the floor: a C server on one level-triggered epoll loop that counts the \\r\\n\\r\\n ending each request head and writes a canned 200 (http) or writes back what it reads (echo); no parser, no limits"

// floorInstall says how to get a C compiler, for the message that skips the floor.
const floorInstall = "bash scripts/install-bench-tools.sh installs gcc from the OS packages, or set CC"

// floorServes reports whether the floor serves proto.
func floorServes(proto string) bool { return proto == "http" || proto == "echo" }

// compiler is the C compiler the floor is built with: $CC, else cc.
func compiler() string {
	if cc := os.Getenv("CC"); cc != "" {
		return cc
	}
	return "cc"
}

// floorMissing says why the floor cannot run here ("" when it can): no C compiler.
func floorMissing() string {
	cc := compiler()
	if _, err := exec.LookPath(cc); err != nil {
		return fmt.Sprintf("no C compiler to build it with (%s is not on PATH); %s", cc, floorInstall)
	}
	return ""
}

// buildFloor compiles the floor into a new temporary directory and returns the executable and a
// function that removes the directory; the error carries the compiler's own words.
func buildFloor() (string, func(), error) {
	dir, err := os.MkdirTemp("", "reactor-bench-floor-")
	if err != nil {
		return "", nil, err
	}
	cleanup := func() { os.RemoveAll(dir) }
	src, bin := filepath.Join(dir, "floor.c"), filepath.Join(dir, "floor")
	if err := os.WriteFile(src, floorSource, 0o644); err != nil {
		cleanup()
		return "", nil, err
	}
	if out, err := exec.Command(compiler(), "-O2", "-o", bin, src).CombinedOutput(); err != nil {
		cleanup()
		return "", nil, fmt.Errorf("%s -O2 floor.c: %v: %s", compiler(), err, strings.TrimSpace(string(out)))
	}
	return bin, cleanup, nil
}

// floorCommand is the command that runs the compiled floor for proto on addr.
func floorCommand(bin, proto, addr string) (*exec.Cmd, error) {
	if bin == "" {
		return nil, fmt.Errorf("%s: not built for this run", FloorName)
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	return exec.Command(bin, proto, host, port), nil
}

// References are the servers `--backends refs` stands for with proto: what each backend is
// measured against — the floor, the gnet baseline, and what a Go user would pick instead.
func References(proto string) ([]string, error) {
	switch proto {
	case "http":
		return []string{FloorName, "native-gnet", "native-nethttp", "native-fasthttp"}, nil
	case "echo":
		return []string{FloorName, "native-gnet"}, nil
	case "proxy":
		return []string{"native-iocopy", toolHAProxy}, nil
	}
	return nil, fmt.Errorf("bench: refs: no reference servers for %s (http, echo and proxy have them)", proto)
}
