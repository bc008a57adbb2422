package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/reactorlab/reactor/adapters"
	"github.com/reactorlab/reactor/bench"
	"github.com/reactorlab/reactor/protocols/tlswrap"
)

// runBenchTLS is `reactor bench --tls`: o carries the common flags (rounds, duration, conns,
// rate, size, sweep, quick's defaults), set says which were given.
func runBenchTLS(ctx context.Context, o bench.Options, backendList string, set map[string]bool, out string, stdout, stderr io.Writer) int {
	reg := adapters.Registry()
	var backends, tools []string
	names := splitList(backendList)
	if len(names) == 0 {
		// The anchor belongs to the default run, as haproxy to the proxy's: skipped, and
		// said, where it is not installed.
		names = []string{"all", bench.ToolNGINX}
	}
	for _, b := range names {
		switch b {
		case "all":
			for _, info := range reg.Infos() {
				if info.Available && !slices.Contains(backends, info.Name) {
					backends = append(backends, info.Name)
				}
			}
		case bench.ToolNGINX, "refs":
			// refs: the reference servers of --tls beside nethttp-tls, always measured.
			if !slices.Contains(tools, bench.ToolNGINX) {
				tools = append(tools, bench.ToolNGINX)
			}
		default:
			if info, ok := reg.Info(b); !ok || !info.Available {
				fmt.Fprintf(stderr, "reactor bench --tls: backend %q is unknown or not available here (valid: %s, all, %s, refs)\n", b, strings.Join(reg.Names(), ", "), bench.ToolNGINX)
				return 2
			}
			if !slices.Contains(backends, b) {
				backends = append(backends, b)
			}
		}
	}
	quick := o.Rounds == 1 && !set["rounds"] // bench.Defaults(--quick) sets one round
	to := bench.TLSOptions{Self: o.Self, Backends: backends, Tools: tools, Rounds: o.Rounds, Duration: 2 * time.Second,
		Conns: 8, Idle: 2000, Rate: 400, StallConns: 4, EchoSize: 512}
	to.IdleCap = map[string]int{}
	for _, b := range backends {
		if info, _ := reg.Info(b); info.MaxConns > 0 {
			// Room for the load's own connections and the listener.
			to.IdleCap[b] = info.MaxConns * 3 / 4
		}
	}
	if quick {
		to.Duration, to.Idle, to.Rate = 300*time.Millisecond, 50, 200
	}
	if set["duration"] {
		to.Duration = o.Duration
	}
	if set["conns"] {
		to.Conns = o.Conns
	}
	if set["rate"] {
		to.Rate = o.Rate
	}
	if set["size"] {
		to.EchoSize = o.MsgSize
	}
	if set["sweep"] && len(o.IdleSweep) > 0 {
		to.Idle = slices.Max(o.IdleSweep)
	}
	if out == "" {
		var err error
		if out, err = os.MkdirTemp("", "reactor-bench-tls-"+time.Now().Format("20060102-150405")+"-*"); err != nil {
			fmt.Fprintf(stderr, "reactor bench --tls: %v\n", err)
			return 1
		}
	} else if err := os.MkdirAll(out, 0o755); err != nil {
		fmt.Fprintf(stderr, "reactor bench --tls: %v\n", err)
		return 1
	}
	var err error
	to.CertFile, to.KeyFile, err = writeBenchCert(out)
	if err != nil {
		fmt.Fprintf(stderr, "reactor bench --tls: %v\n", err)
		return 1
	}
	rep, err := bench.RunTLS(ctx, to, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "reactor bench --tls: %v\n", err)
		return 1
	}
	var md strings.Builder
	rep.Markdown(&md, o.Command)
	fmt.Fprint(stdout, md.String())
	js, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		fmt.Fprintf(stderr, "reactor bench --tls: %v\n", err)
		return 1
	}
	if err := os.WriteFile(filepath.Join(out, "tls.md"), []byte(md.String()), 0o644); err != nil {
		fmt.Fprintf(stderr, "reactor bench --tls: %v\n", err)
		return 1
	}
	if err := os.WriteFile(filepath.Join(out, "tls.json"), js, 0o644); err != nil {
		fmt.Fprintf(stderr, "reactor bench --tls: %v\n", err)
		return 1
	}
	fmt.Fprintf(stderr, "reactor bench --tls: wrote %s\n", filepath.Join(out, "tls.md"))
	for _, round := range rep.Rounds {
		for _, r := range round {
			if r.Errors > 0 {
				fmt.Fprintf(stderr, "reactor bench --tls: %s had %d errors\n", r.Contender, r.Errors)
				return 1
			}
		}
	}
	return 0
}

// writeBenchCert writes a self-signed ECDSA P-256 certificate for the run into dir.
func writeBenchCert(dir string) (certFile, keyFile string, err error) {
	cert, err := tlswrap.SelfSigned()
	if err != nil {
		return "", "", err
	}
	der, err := x509.MarshalECPrivateKey(cert.PrivateKey.(*ecdsa.PrivateKey))
	if err != nil {
		return "", "", err
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]}), 0o644); err != nil {
		return "", "", err
	}
	return certFile, keyFile, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), 0o600)
}
