package bus

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// ClusterName is the NATS cluster name every embedded server uses, so that they route to each
// other and to nothing else by mistake.
const ClusterName = "reactor-chat"

// EmbeddedOptions configure an Embedded NATS server. The zero value is a server of its own on
// a free loopback port.
type EmbeddedOptions struct {
	// Client is the host:port the server takes client (reactor serve) connections on.
	// Default 127.0.0.1:0, a free port (see Embedded.URL).
	Client string
	// Listen is the host:port it takes routes from other embedded servers on, the address
	// their Routes name. Default: none (it does not cluster, unless Routes is set, when it
	// listens on a free loopback port).
	Listen string
	// Routes are the Listen addresses of other embedded servers to form a cluster with,
	// host:port each; naming one is enough, the cluster tells the rest.
	Routes []string
}

// Embedded is a NATS server running in this process.
type Embedded struct {
	ns *server.Server
}

// StartEmbedded starts a NATS server in this process and waits until it takes connections.
func StartEmbedded(o EmbeddedOptions) (*Embedded, error) {
	if o.Client == "" {
		o.Client = "127.0.0.1:0"
	}
	opts := &server.Options{NoLog: true, NoSigs: true, ServerName: "reactor-" + strconv.FormatInt(time.Now().UnixNano()%1e9, 36)}
	var err error
	if opts.Host, opts.Port, err = hostPort(o.Client, "client address"); err != nil {
		return nil, err
	}
	if opts.Port == 0 {
		opts.Port = server.RANDOM_PORT
	}
	if o.Listen != "" || len(o.Routes) > 0 {
		listen := o.Listen
		if listen == "" {
			listen = "127.0.0.1:0"
		}
		opts.Cluster.Name = ClusterName
		if opts.Cluster.Host, opts.Cluster.Port, err = hostPort(listen, "--bus-listen"); err != nil {
			return nil, err
		}
		if opts.Cluster.Port == 0 {
			opts.Cluster.Port = server.RANDOM_PORT
		}
		for _, r := range o.Routes {
			if _, _, err := hostPort(r, "--bus-routes"); err != nil {
				return nil, err
			}
			opts.Routes = append(opts.Routes, &url.URL{Scheme: "nats-route", Host: r})
		}
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("bus: embedded NATS server: %w", err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		ns.Shutdown()
		return nil, errors.New("bus: embedded NATS server not ready after 10s (is its port free?)")
	}
	return &Embedded{ns: ns}, nil
}

// hostPort checks a host:port and returns its parts; what names the setting in errors.
func hostPort(addr, what string) (string, int, error) {
	host, port, err := net.SplitHostPort(strings.TrimSpace(addr))
	if err == nil && host == "" {
		err = errors.New("no host")
	}
	var p int
	if err == nil {
		p, err = strconv.Atoi(port)
		if err == nil && (p < 0 || p > 65535) {
			err = errors.New("port out of range")
		}
	}
	if err != nil {
		return "", 0, fmt.Errorf("bus: %s %q: want host:port (%v)", what, addr, err)
	}
	return host, p, nil
}

// URL is where clients connect: nats://host:port.
func (e *Embedded) URL() string { return e.ns.ClientURL() }

// ClusterAddr is where other embedded servers route to, or nil when it does not cluster.
func (e *Embedded) ClusterAddr() net.Addr {
	if a := e.ns.ClusterAddr(); a != nil {
		return a
	}
	return nil
}

// Routes is how many other NATS servers this one has a route to now.
func (e *Embedded) Routes() int { return e.ns.NumRoutes() }

// Close stops the server and waits until it has.
func (e *Embedded) Close() {
	e.ns.Shutdown()
	e.ns.WaitForShutdown()
}
