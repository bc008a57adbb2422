package tlswrap_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log"

	"github.com/reactorlab/reactor/adapters/stdnet"
	"github.com/reactorlab/reactor/protocols/echo"
	"github.com/reactorlab/reactor/protocols/tlswrap"
	"github.com/reactorlab/reactor/reactor"
)

// Serve echo over TLS, and talk to it with crypto/tls.
func ExampleNew() {
	cert, err := tlswrap.SelfSigned("localhost")
	if err != nil {
		log.Fatal(err)
	}
	h, err := tlswrap.New(echo.Handler{}, tlswrap.Config{TLS: &tls.Config{Certificates: []tls.Certificate{cert}}})
	if err != nil {
		log.Fatal(err)
	}
	b, err := stdnet.New(reactor.Config{Addr: "127.0.0.1:0"})
	if err != nil {
		log.Fatal(err)
	}
	addr, err := b.Start(h)
	if err != nil {
		log.Fatal(err)
	}
	defer b.Shutdown(context.Background())

	roots := x509.NewCertPool()
	roots.AddCert(cert.Leaf)
	c, err := tls.Dial("tcp", addr.String(), &tls.Config{RootCAs: roots, ServerName: "localhost"})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "hello over TLS")
	buf := make([]byte, len("hello over TLS"))
	io.ReadFull(c, buf)
	fmt.Printf("%s (TLS 1.3: %v)\n", buf, c.ConnectionState().Version == tls.VersionTLS13)
	// Output: hello over TLS (TLS 1.3: true)
}

// stateRecorder is an inner handler that keeps what State reports at OnOpen.
type stateRecorder struct {
	reactor.NopHandler
	got chan tls.ConnectionState
}

func (s stateRecorder) OnOpen(c reactor.Conn) {
	st, ok := tlswrap.State(c)
	if ok {
		s.got <- st
	}
}
