package bench

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// toolHAProxy is HAProxy from the OS packages, the proxy people deploy: the anchor the
// backends' proxies are measured against in --proto proxy.
const toolHAProxy = "haproxy"

// haproxyInstall says how to get haproxy, for the message that skips it.
const haproxyInstall = "bash scripts/install-bench-tools.sh installs it from the OS packages"

// haproxyMissing says why haproxy cannot run here ("" when it can).
func haproxyMissing() string {
	if _, err := exec.LookPath(toolHAProxy); err != nil {
		return "haproxy is not installed (not on PATH); " + haproxyInstall
	}
	return ""
}

// haproxyModel describes haproxy for the report, with its version when it answers.
func haproxyModel() string {
	v := "HAProxy"
	if out, err := exec.Command(toolHAProxy, "-v").Output(); err == nil {
		// "HAProxy version 2.6.12-1+deb12u4 2026/10/17 - https://haproxy.org/"
		if f := strings.Fields(string(out)); len(f) >= 3 && f[1] == "version" {
			v += " " + f[2]
		}
	}
	return v + " from the OS packages, mode tcp with its defaults, one thread (nbthread) when pinned: one event loop on epoll, the proxy people deploy"
}

// haproxyConfig is the configuration of one round's haproxy: TCP mode, the given number of
// threads, one frontend on addr relaying to the upstream. Its timeouts are long enough never to
// end a connection the benchmark holds idle.
func haproxyConfig(addr, upstream string, threads, maxconn int) string {
	var b strings.Builder
	b.WriteString("# Written by reactor bench for one round: a TCP proxy from addr to the upstream echo server.\n")
	b.WriteString("global\n")
	fmt.Fprintf(&b, "    nbthread %d\n", threads)
	if maxconn > 0 {
		fmt.Fprintf(&b, "    maxconn %d\n", maxconn)
	}
	b.WriteString("defaults\n    mode tcp\n    timeout connect 5s\n    timeout client 1h\n    timeout server 1h\n")
	fmt.Fprintf(&b, "frontend proxy\n    bind %s\n    default_backend upstream\n", addr)
	fmt.Fprintf(&b, "backend upstream\n    server echo %s\n", upstream)
	return b.String()
}

// haproxyCommand writes a configuration for addr and upstream into a new temporary directory
// and returns the command that runs haproxy on it in the foreground, and a function that
// removes the directory.
func haproxyCommand(addr, upstream string, threads int) (*exec.Cmd, func(), error) {
	if why := haproxyMissing(); why != "" {
		return nil, nil, fmt.Errorf("%s", why)
	}
	dir, err := os.MkdirTemp("", "reactor-bench-haproxy-")
	if err != nil {
		return nil, nil, err
	}
	cleanup := func() { os.RemoveAll(dir) }
	// Two descriptors a proxied pair, and some for haproxy's own use.
	maxconn := 0
	if n := fdLimit(); n > 0 {
		maxconn = max(100, (n-200)/2)
	}
	cfg := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(cfg, []byte(haproxyConfig(addr, upstream, max(1, threads), maxconn)), 0o644); err != nil {
		cleanup()
		return nil, nil, err
	}
	// -db: stay in the foreground, one process, so its pid is the one whose CPU is read.
	return exec.Command(toolHAProxy, "-db", "-f", cfg), cleanup, nil
}
