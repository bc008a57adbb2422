package reactor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"
)

func TestCloseCause(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{nil, CauseLocal},
		{ErrConnClosed, CauseLocal},
		{io.EOF, CauseEOF},
		{fmt.Errorf("read: %w", syscall.ECONNRESET), CauseReset},
		{&net.OpError{Op: "write", Err: os.NewSyscallError("write", syscall.EPIPE)}, CauseReset},
		{os.ErrDeadlineExceeded, CauseTimeout},
		{context.DeadlineExceeded, CauseTimeout},
		{fmt.Errorf("epoll: %w", ErrOutboundFull), CauseOutboundFull},
		{ErrInboundFull, CauseInboundFull},
		{ErrServerClosed, CauseServerClosed},
		{fmt.Errorf("%w: boom", ErrHandlerPanic), CauseHandlerPanic},
		{syscall.EHOSTUNREACH, CauseError},
	} {
		if got := CloseCause(tc.err); got != tc.want {
			t.Errorf("CloseCause(%v) = %q; want %q", tc.err, got, tc.want)
		}
	}
}

func TestStatsSumShards(t *testing.T) {
	s := new(Stats)
	for i := range 40 { // more loops than shards: they share
		sh := s.Shard(i)
		sh.Accepted()
		sh.Received(100)
		sh.Sent(50)
		sh.Buffer(10)
	}
	s.Shard(3).Dialed()
	s.Shard(3).DialFailed()
	s.Shard(5).Closed(io.EOF, 2*time.Millisecond)    // bucket 0.01
	s.Shard(6).Closed(nil, 90*time.Second)           // bucket 600
	s.Shard(7).Closed(ErrServerClosed, 48*time.Hour) // past every bucket
	s.Shard(8).Closed(ErrServerClosed, time.Duration(0))
	s.Shard(9).Buffer(-400)
	s.Shard(1).AcceptError()
	s.Shard(2).HandlerPanic()
	got := s.Snapshot()
	if got.Accepted != 40 || got.Dialed != 1 || got.DialFailed != 1 || got.Received != 4000 || got.Sent != 2000 || got.Buffered != 0 || got.AcceptErrors != 1 || got.HandlerPanics != 1 {
		t.Errorf("snapshot %+v: want 40 accepted, 1 dialed, 1 failed, 4000 in, 2000 out, 0 buffered, 1 accept error, 1 panic", got)
	}
	if got.ClosedBy(CauseEOF) != 1 || got.ClosedBy(CauseLocal) != 1 || got.ClosedBy(CauseServerClosed) != 2 || got.Active() != 37 {
		t.Errorf("closes %v, active %d; want eof 1, local 1, server_closed 2, active 37", got.Closed, got.Active())
	}
	want := [len(DurationBuckets) + 1]uint64{1, 1, 0, 0, 0, 0, 1, 0, 0, 1}
	if got.Lifetimes != want {
		t.Errorf("lifetimes %v; want %v", got.Lifetimes, want)
	}
	if sum := 0.002 + 90 + 48*3600; got.LifetimeSum < sum-1e-6 || got.LifetimeSum > sum+1e-6 {
		t.Errorf("lifetime sum %v; want %v", got.LifetimeSum, sum)
	}
}

func TestStatsNilCountsNothing(t *testing.T) {
	var s *Stats
	sh := s.Shard(0)
	sh.Accepted()
	sh.Closed(io.EOF, time.Second)
	sh.Received(5)
	if got := s.Snapshot(); got != (StatsSnapshot{}) {
		t.Errorf("nil Stats snapshot = %+v; want zeros", got)
	}
}

func TestStatsCountWithoutAllocating(t *testing.T) {
	sh := new(Stats).Shard(0)
	err := errors.New("some I/O error")
	if n := testing.AllocsPerRun(1000, func() {
		sh.Received(512)
		sh.Sent(512)
		sh.Buffer(512)
		sh.Buffer(-512)
		sh.Accepted()
		sh.Closed(err, time.Millisecond)
		sh.Closed(io.EOF, time.Second)
	}); n != 0 {
		t.Errorf("counting allocates %v times a round; want 0", n)
	}
}

func TestStatsPanicsCountedOnce(t *testing.T) {
	s := new(Stats)
	s.Shard(0).Closed(fmt.Errorf("%w: in OnData", ErrHandlerPanic), time.Second) // a panic that cost its connection
	s.Shard(1).HandlerPanic()                                                    // a panic in OnClose
	if got := s.Snapshot(); got.HandlerPanics != 2 || got.ClosedBy(CauseHandlerPanic) != 1 {
		t.Errorf("handler panics %d, closes by panic %d; want 2 and 1", got.HandlerPanics, got.ClosedBy(CauseHandlerPanic))
	}
}
