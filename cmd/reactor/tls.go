package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/reactorlab/reactor/protocols/tlswrap"
	"github.com/reactorlab/reactor/reactor"
)

// tlsSettings are serve's TLS settings (config key tls).
type tlsSettings struct {
	Cert             string        `yaml:"cert"`
	Key              string        `yaml:"key"`
	SelfSigned       bool          `yaml:"self_signed"`
	HandshakeTimeout time.Duration `yaml:"handshake_timeout"`
	MaxHandshakes    int           `yaml:"max_handshakes"`
}

// enabled reports whether serve speaks TLS.
func (t tlsSettings) enabled() bool { return t.Cert != "" || t.Key != "" || t.SelfSigned }

// validate refuses TLS settings that cannot work.
func (t tlsSettings) validate(procs int) error {
	switch {
	case t.SelfSigned && (t.Cert != "" || t.Key != ""):
		return errors.New("tls.self_signed (--tls-self-signed) and tls.cert/tls.key (--tls-cert/--tls-key) exclude each other")
	case (t.Cert == "") != (t.Key == ""):
		return errors.New("tls.cert (--tls-cert) and tls.key (--tls-key) go together: give both")
	case t.HandshakeTimeout < 0:
		return errors.New("tls.handshake_timeout (--tls-handshake-timeout) is negative; want 0 (the default, 10s) or more")
	case t.MaxHandshakes < 0:
		return errors.New("tls.max_handshakes is negative; want 0 (the default, 1024) or more")
	case t.SelfSigned && procs > 1:
		return errors.New("tls.self_signed (--tls-self-signed) with procs (--procs) > 1: each worker would make a certificate of its own; give --tls-cert and --tls-key")
	}
	return nil
}

// certStore holds the certificate served, replaced whole on reload.
type certStore struct {
	cert atomic.Pointer[tls.Certificate]
}

func (cs *certStore) get(*tls.ClientHelloInfo) (*tls.Certificate, error) { return cs.cert.Load(), nil }

// load reads the certificate and key files into the store.
func (cs *certStore) load(certFile, keyFile string) error {
	c, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return fmt.Errorf("tls: %w", err)
	}
	cs.cert.Store(&c)
	return nil
}

// wrapTLS serves h over TLS as the settings say, and returns the wrapper. With certificate
// files, SIGHUP reloads them (a failed reload keeps the certificate served) until ctx ends;
// with a self-signed certificate, its fingerprint is logged.
func wrapTLS(ctx context.Context, s settings, h reactor.Handler, logger *slog.Logger) (reactor.Handler, error) {
	cs := new(certStore)
	if s.TLS.SelfSigned {
		host, _, err := net.SplitHostPort(s.Addr)
		if err != nil {
			return nil, fmt.Errorf("tls: %w", err)
		}
		c, err := tlswrap.SelfSigned(host)
		if err != nil {
			return nil, fmt.Errorf("tls: self-signed certificate: %w", err)
		}
		cs.cert.Store(&c)
		logger.Info("self-signed certificate (clients must trust it explicitly, e.g. curl -k)",
			"sha256", tlswrap.Fingerprint(c.Certificate[0]), "names", append(c.Leaf.DNSNames, ipStrings(c.Leaf.IPAddresses)...))
	} else {
		if err := cs.load(s.TLS.Cert, s.TLS.Key); err != nil {
			return nil, err
		}
		reloadOnHangup(ctx, cs, s.TLS.Cert, s.TLS.Key, logger)
	}
	cfg := &tls.Config{GetCertificate: cs.get}
	if s.Proto == "http" {
		cfg.NextProtos = []string{"http/1.1"}
	}
	logger.Info("tls", "versions", "1.2-1.3", "alpn", cfg.NextProtos, "handshake_timeout", cmpDuration(s.TLS.HandshakeTimeout, tlswrap.DefaultHandshakeTimeout).String())
	return tlswrap.New(h, tlswrap.Config{
		TLS:              cfg,
		HandshakeTimeout: s.TLS.HandshakeTimeout,
		MaxHandshakes:    s.TLS.MaxHandshakes,
		MaxInbound:       int(s.MaxInbound),
		Logger:           logger,
	})
}

// reloadOnHangup reloads the certificate files into cs on every SIGHUP. Its goroutine exits
// when ctx ends.
func reloadOnHangup(ctx context.Context, cs *certStore, certFile, keyFile string, logger *slog.Logger) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		defer signal.Stop(hup)
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				if err := cs.load(certFile, keyFile); err != nil {
					logger.Error("certificate reload failed; serving the previous one", "err", err)
					continue
				}
				logger.Info("certificate reloaded", "cert", certFile)
			}
		}
	}()
}

func ipStrings(ips []net.IP) []string {
	var out []string
	for _, ip := range ips {
		out = append(out, ip.String())
	}
	return out
}

func cmpDuration(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}
