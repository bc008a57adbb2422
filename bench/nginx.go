package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// ToolNGINX is nginx from the OS packages, the TLS terminator people deploy: the anchor the
// backends are measured against in `reactor bench --tls` beside net/http + crypto/tls.
const ToolNGINX = "nginx"

// nginxInstall says how to get nginx, for the message that skips it.
const nginxInstall = "bash scripts/install-bench-tools.sh installs it (nginx-light) from the OS packages"

// nginxSbin is where Debian's package puts nginx, often off an unprivileged user's PATH.
var nginxSbin = "/usr/sbin/nginx"

// nginxEcho says why nginx has no echo figure.
const nginxEcho = "nginx serves http only here: it has no echo server (its stream module proxies bytes to an upstream, it does not answer them itself)"

// nginxPath returns the nginx to run: the one on PATH, else nginxSbin; "" when neither is.
func nginxPath() string {
	if p, err := exec.LookPath(ToolNGINX); err == nil {
		return p
	}
	if st, err := os.Stat(nginxSbin); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
		return nginxSbin
	}
	return ""
}

// nginxMissing says why nginx cannot run here ("" when it can).
func nginxMissing() string {
	if nginxPath() == "" {
		return "nginx is not installed (not on PATH nor " + nginxSbin + "); " + nginxInstall
	}
	return ""
}

// nginxBuild is what `nginx -V` says of the nginx at path: its version, the OpenSSL it runs
// with, and its configure arguments.
func nginxBuild(path string) (version, openssl, configure string) {
	out, _ := exec.Command(path, "-V").CombinedOutput() // nginx writes -V to stderr
	for _, line := range strings.Split(string(out), "\n") {
		switch {
		case strings.HasPrefix(line, "nginx version: "):
			// "nginx version: nginx/1.22.1"
			version = strings.TrimPrefix(strings.TrimPrefix(line, "nginx version: "), "nginx/")
		case strings.Contains(line, "running with OpenSSL "):
			// "built with OpenSSL 3.0.x … (running with OpenSSL 3.0.y 27 Jan 2026)"
			if f := strings.Fields(line[strings.Index(line, "running with OpenSSL ")+len("running with "):]); len(f) >= 2 {
				openssl = f[0] + " " + f[1]
			}
		case strings.HasPrefix(line, "built with OpenSSL ") && openssl == "":
			if f := strings.Fields(line[len("built with "):]); len(f) >= 2 {
				openssl = f[0] + " " + f[1]
			}
		case strings.HasPrefix(line, "configure arguments: "):
			configure = line
		}
	}
	return version, openssl, configure
}

// nginxModel describes nginx for the report, with its version when it answers.
func nginxModel() string {
	v := "nginx"
	if p := nginxPath(); p != "" {
		if ver, ssl, _ := nginxBuild(p); ver != "" {
			v += " " + ver
			if ssl != "" {
				v += " (" + ssl + ")"
			}
		}
	}
	return v + " from the OS packages, one process (master_process off, worker_processes 1): one event loop on epoll whose CPU and RSS are all the figures count; " +
		"TLS 1.2–1.3, session cache and tickets off, the same certificate; the TLS terminator people deploy"
}

// nginxTemps are the temporary-file directives of nginx's http modules, each with the
// configure option that leaves its module out. Every module built in creates its directory at
// start-up, /var/lib/nginx/… unless told otherwise, so each is pointed into the run's
// directory; naming one whose module is absent would be an unknown directive.
var nginxTemps = []struct{ directive, without string }{
	{"client_body_temp_path", ""},
	{"proxy_temp_path", "--without-http_proxy_module"},
	{"fastcgi_temp_path", "--without-http_fastcgi_module"},
	{"uwsgi_temp_path", "--without-http_uwsgi_module"},
	{"scgi_temp_path", "--without-http_scgi_module"},
}

// nginxConfig is the configuration of one nginx for one measurement: one process in the
// foreground, everything it writes in dir, TLS on addr with certFile and keyFile, and
// GET /plaintext answered as the backends answer it. conns is the most connections it must
// hold at once, nofile the descriptor limit it asks for, configure what `nginx -V` said.
func nginxConfig(dir, addr, certFile, keyFile string, conns, nofile int, configure string) string {
	var b strings.Builder
	b.WriteString("# Written by reactor bench --tls for one measurement: nginx serving GET /plaintext over TLS.\n")
	// One process: the pid the bench starts is the one serving, so /proc/<pid>/stat and its
	// RSS are all of nginx.
	b.WriteString("daemon off;\nmaster_process off;\nworker_processes 1;\n")
	fmt.Fprintf(&b, "pid %s;\n", filepath.Join(dir, "nginx.pid"))
	b.WriteString("error_log stderr error;\n")
	if nofile > 0 {
		fmt.Fprintf(&b, "worker_rlimit_nofile %d;\n", nofile)
	}
	fmt.Fprintf(&b, "events {\n    worker_connections %d;\n}\n", conns)
	b.WriteString("http {\n    access_log off;\n")
	for _, t := range nginxTemps {
		if t.without == "" || !strings.Contains(configure, t.without) {
			fmt.Fprintf(&b, "    %s %s;\n", t.directive, filepath.Join(dir, strings.TrimSuffix(t.directive, "_temp_path")))
		}
	}
	// Idle connections stay open through the whole memory measure, and the load's
	// connections serve requests for as long as it runs.
	b.WriteString("    keepalive_timeout 1h;\n    keepalive_requests 1000000000;\n")
	fmt.Fprintf(&b, "    server {\n        listen %s ssl;\n", addr)
	fmt.Fprintf(&b, "        ssl_certificate %s;\n        ssl_certificate_key %s;\n", certFile, keyFile)
	// Every handshake a full one, and no ticket sent, as for the other contenders: the
	// bench's client keeps no session and offers no PSK mode, and crypto/tls then issues no
	// ticket. nginx's own switches leave OpenSSL sending two TLS 1.3 tickets after each
	// handshake, whatever the client offers; NumTickets 0 stops that.
	b.WriteString("        ssl_protocols TLSv1.2 TLSv1.3;\n        ssl_session_cache off;\n        ssl_session_tickets off;\n        ssl_conf_command NumTickets 0;\n")
	b.WriteString("        location = /plaintext {\n            default_type text/plain;\n            return 200 \"Hello, World!\";\n        }\n")
	b.WriteString("    }\n}\n")
	return b.String()
}

// nginxCommand writes a configuration into a new temporary directory and returns the command
// that runs nginx on it in the foreground until ctx ends, and a function that removes the
// directory. conns is the most connections it must hold at once.
func nginxCommand(ctx context.Context, addr, certFile, keyFile string, conns int) (*exec.Cmd, func(), error) {
	path := nginxPath()
	if path == "" {
		return nil, nil, fmt.Errorf("%s", nginxMissing())
	}
	_, _, configure := nginxBuild(path)
	dir, err := os.MkdirTemp("", "reactor-bench-nginx-")
	if err != nil {
		return nil, nil, err
	}
	cleanup := func() { os.RemoveAll(dir) }
	// A descriptor a connection, and some for the listener, the log and the files it opens;
	// never more than this process may give it (a raise beyond the hard limit is refused).
	nofile := conns + nginxSpareFDs
	if n := fdLimit(); n > 0 {
		nofile = min(nofile, n)
	}
	cfg := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(cfg, []byte(nginxConfig(dir, addr, certFile, keyFile, conns, nofile, configure)), 0o644); err != nil {
		cleanup()
		return nil, nil, err
	}
	// -p: the prefix, so that nothing is looked for under the package's; -e: errors to
	// stderr before the configuration is read. ctx ending kills it, as it does the bench's
	// own children.
	return exec.CommandContext(ctx, path, "-p", dir, "-c", cfg, "-e", "stderr"), cleanup, nil
}

// nginxSpareFDs are the descriptors nginx needs beside its connections.
const nginxSpareFDs = 64

// nginxMaxConns is the most connections one nginx can hold here: what the descriptor limit
// leaves beside its own (0: no limit known).
func nginxMaxConns() int {
	if n := fdLimit(); n > 0 {
		return max(1, n-nginxSpareFDs)
	}
	return 0
}
