//go:build linux

package epoll

import (
	"bytes"
	"io"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/reactorlab/reactor/reactor"
)

// sinkOrEcho serves a connection whose first byte is 'B' as a sink (it consumes everything
// and answers nothing, the case where only the read cap ends a run of reads) and every other
// connection as echo.
type sinkOrEcho struct{ reactor.NopHandler }

func (sinkOrEcho) OnData(c reactor.Conn, in []byte) (int, reactor.Action) {
	if c.Context() == nil {
		c.SetContext(in[0] == 'B')
	}
	if !c.Context().(bool) {
		c.Write(in)
	}
	return len(in), reactor.None
}

// BenchmarkEdgeRearm measures what the edge-triggered loop's cap of edgeReads reads per event
// buys: the round-trip latency of a small echo connection that shares its loop with a
// connection streaming into a sink as fast as the client can write, with the cap (16) and
// without it. docs/progression.md quotes it:
//
//	go test -run '^$' -bench BenchmarkEdgeRearm -benchtime 3000x -count 3 ./adapters/epoll/
func BenchmarkEdgeRearm(b *testing.B) {
	for _, bc := range []struct {
		name  string
		reads int
	}{{"rearm=16", 16}, {"rearm=off", 1 << 30}} {
		b.Run(bc.name, func(b *testing.B) {
			saved := edgeReads
			edgeReads = bc.reads
			defer func() { edgeReads = saved }()
			srv, err := New(reactor.Config{Addr: "127.0.0.1:0", Loops: 1, EdgeTriggered: true})
			if err != nil {
				b.Fatal(err)
			}
			addr, err := srv.Start(sinkOrEcho{})
			if err != nil {
				b.Fatal(err)
			}
			defer srv.Shutdown(b.Context())
			bulk, err := net.Dial("tcp", addr.String())
			if err != nil {
				b.Fatal(err)
			}
			small, err := net.Dial("tcp", addr.String())
			if err != nil {
				b.Fatal(err)
			}
			defer small.Close()
			stop := make(chan struct{})
			streamed := make(chan int64, 1)
			go func() {
				// Exits when the benchmark stops it, closing the connection.
				defer bulk.Close()
				chunk := bytes.Repeat([]byte("B"), 256<<10)
				var n int64
				for {
					select {
					case <-stop:
						streamed <- n
						return
					default:
					}
					k, err := bulk.Write(chunk)
					n += int64(k)
					if err != nil {
						streamed <- n
						return
					}
				}
			}()
			msg, buf := bytes.Repeat([]byte("s"), 64), make([]byte, 64)
			lat := make([]float64, 0, b.N)
			small.SetDeadline(time.Now().Add(time.Minute))
			time.Sleep(50 * time.Millisecond) // the stream under way
			b.ResetTimer()
			began := time.Now()
			for range b.N {
				t0 := time.Now()
				small.Write(msg)
				if _, err := io.ReadFull(small, buf); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, float64(time.Since(t0).Nanoseconds())/1e3)
			}
			b.StopTimer()
			close(stop)
			mib := float64(<-streamed) / (1 << 20)
			slices.Sort(lat)
			b.ReportMetric(lat[len(lat)/2], "p50-µs")
			b.ReportMetric(lat[len(lat)*99/100], "p99-µs")
			b.ReportMetric(mib/time.Since(began).Seconds(), "stream-MiB/s")
		})
	}
}
