package reactortest

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/reactorlab/reactor/protocols/http1"
	"github.com/reactorlab/reactor/reactor"
)

// testShutdownUnderLoad: Shutdown while 200 clients are mid-stream. Every response a client
// receives is complete; each client then sees the end of the stream; Shutdown returns within
// its grace period; nothing of the backend is left.
func (s *suite) testShutdownUnderLoad(t *testing.T) {
	base := snapshot()
	h := http1.New(http1.Config{})
	defer h.Close()
	b, err := s.newBackend(reactor.Config{Addr: "127.0.0.1:0", Loops: 2})
	if err != nil {
		t.Fatal(err)
	}
	addr, err := b.Start(h)
	if err != nil {
		t.Fatal(err)
	}
	const clients, depth = 200, 16
	batch := strings.Repeat(getPlaintext, depth)
	var wg sync.WaitGroup
	var mu sync.Mutex
	served, broken := 0, 0
	started := make(chan struct{}, clients)
	for i := 0; i < clients; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.DialTimeout("tcp", addr.String(), ioTimeout)
			if err != nil {
				t.Errorf("dial: %v", err)
				started <- struct{}{}
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(ioTimeout))
			r := bufio.NewReader(c)
			n, signalled := 0, false
			// Bounded: at most 1,000 batches; shutdown ends it long before.
			for round := 0; round < 1000; round++ {
				if _, err := io.WriteString(c, batch); err != nil {
					break
				}
				k := 0
				for ; k < depth; k++ {
					// The end of the stream at a response boundary is the clean close.
					if _, err := r.Peek(1); err != nil {
						if !cleanEnd(err) {
							t.Errorf("after %d responses: %v; want a clean end", n, err)
						}
						break
					}
					resp, err := http.ReadResponse(r, &http.Request{Method: "GET"})
					if err != nil {
						mu.Lock()
						broken++
						mu.Unlock()
						t.Errorf("after %d responses, one cut short: %v", n, err)
						break
					}
					body, err := io.ReadAll(resp.Body)
					if err != nil || string(body) != "Hello, World!" {
						mu.Lock()
						broken++
						mu.Unlock()
						t.Errorf("a response cut short or wrong: %q, %v", body, err)
						break
					}
					n++
				}
				if !signalled {
					signalled = true
					started <- struct{}{}
				}
				if k < depth {
					break
				}
			}
			mu.Lock()
			served += n
			mu.Unlock()
		}()
	}
	for i := 0; i < clients; i++ {
		<-started
	}
	const grace = 10 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	begin := time.Now()
	if err := b.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown under load: %v after %v; want nil within %v", err, time.Since(begin), grace)
	}
	wg.Wait()
	if served == 0 {
		t.Errorf("no response was served before the shutdown")
	}
	if err := b.Wait(); !errors.Is(err, reactor.ErrServerClosed) {
		t.Errorf("Wait = %v; want ErrServerClosed", err)
	}
	h.Close()
	checkReturnsTo(t, base, "ShutdownUnderLoad")
}

// cleanEnd reports whether a read error at a response boundary is an orderly end of the
// stream, or a reset (the server closed with requests of ours it never read in its buffer).
func cleanEnd(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET)
}
