//go:build linux

package gnetloop

import (
	"time"

	"github.com/panjf2000/ants/v2"
	"github.com/panjf2000/gnet/v2/pkg/logging"
	"github.com/panjf2000/gnet/v2/pkg/pool/goroutine"
)

// enrollIdle is how long a worker of gnet's goroutine pool stays idle before it exits.
const enrollIdle = time.Second

// gnet enrolls every connection the adapter accepts (EventLoop.Enroll) on its process-wide
// goroutine pool, whose idle workers live 10 s. The adapter swaps in the same pool with a
// 1 s idle time, so that a stopped server's workers are gone within about two seconds,
// as Shutdown's promise that no goroutine outlives it wants.
func init() {
	p, err := ants.NewPool(goroutine.DefaultAntsPoolSize,
		ants.WithExpiryDuration(enrollIdle),
		ants.WithNonblocking(goroutine.Nonblocking),
		ants.WithPanicHandler(func(v any) { logging.Errorf("goroutine pool panic: %v", v) }))
	if err != nil {
		return // keep gnet's own pool
	}
	old := goroutine.DefaultWorkerPool
	goroutine.DefaultWorkerPool = p
	old.Release()
}
