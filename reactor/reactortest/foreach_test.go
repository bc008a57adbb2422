package reactortest_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/reactorlab/reactor/adapters"
	"github.com/reactorlab/reactor/reactor"
	"github.com/reactorlab/reactor/reactor/reactortest"
)

// upper is a protocol of a library user's: every line comes back in upper case.
type upper struct{ reactor.NopHandler }

func (upper) OnData(c reactor.Conn, in []byte) (int, reactor.Action) {
	end := bytes.LastIndexByte(in, '\n') + 1 // a partial line waits for the rest
	c.Write(bytes.ToUpper(in[:end]))
	return end, reactor.None
}

// TestUpperOnEveryBackend is how a protocol's author tests it on every backend: the protocol's
// own test, once per backend, with the callback order checked.
func TestUpperOnEveryBackend(t *testing.T) {
	reactortest.ForEachBackend(t, adapters.Registry(), func(t *testing.T, newBackend reactor.Constructor) {
		oc := reactortest.NewOrderChecker(upper{})
		b, addr := reactortest.Start(t, newBackend, reactor.Config{Loops: 1}, oc)
		c := reactortest.Dial(t, addr)
		// One line split across two writes: the protocol sees it whole.
		io.WriteString(c, "hello, ")
		io.WriteString(c, "world\nbye\n")
		r := bufio.NewReader(c)
		for _, want := range []string{"HELLO, WORLD\n", "BYE\n"} {
			if got, err := r.ReadString('\n'); got != want || err != nil {
				t.Fatalf("read %q, %v; want %q", got, err, want)
			}
		}
		c.Close()
		// Once Shutdown has returned every OnClose has run, so the story is complete.
		reactortest.Stop(t, b)
		if opened, closed := oc.Counts(); opened != 1 || closed != 1 {
			t.Errorf("%d opened, %d closed; want 1 and 1", opened, closed)
		}
		oc.Check(t)
	})
}

func TestForEachBackendSkipsWhatDoesNotRunHere(t *testing.T) {
	var reg reactor.Registry
	reg.Register(reactor.Info{Name: "here", Available: true}, func(cfg reactor.Config) (reactor.Backend, error) {
		return nil, fmt.Errorf("constructed here for %s", cfg.Addr)
	})
	reg.Register(reactor.Info{Name: "elsewhere", Reason: "needs Plan 9"}, nil)
	var ran []string
	reactortest.ForEachBackend(t, &reg, func(t *testing.T, newBackend reactor.Constructor) {
		ran = append(ran, t.Name())
		if _, err := newBackend(reactor.Config{Addr: "x:1"}); err == nil || err.Error() != "constructed here for x:1" {
			t.Errorf("newBackend = %v; want the registered constructor's own answer", err)
		}
	})
	if want := []string{t.Name() + "/here"}; !slices.Equal(ran, want) {
		t.Errorf("fn ran for %v; want only %v", ran, want)
	}
}

// recorder stands in for a test to catch what Check reports.
type recorder struct {
	testing.TB
	errs []string
}

func (r *recorder) Helper() {}

func (r *recorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

// conn is a stand-in connection; the checker only tells connections apart.
type conn struct {
	reactor.Conn
	id int
}

func TestOrderCheckerReportsViolations(t *testing.T) {
	for _, tc := range []struct {
		name  string
		calls func(h reactor.Handler)
		want  string // in the one violation reported; "" for none
	}{
		{"in order", func(h reactor.Handler) {
			c := &conn{id: 1}
			h.OnOpen(c)
			h.OnData(c, []byte("x"))
			h.OnClose(c, nil)
		}, ""},
		{"data before open", func(h reactor.Handler) { h.OnData(&conn{}, []byte("x")) }, "OnData before OnOpen"},
		{"data after close", func(h reactor.Handler) {
			c := &conn{}
			h.OnOpen(c)
			h.OnClose(c, nil)
			h.OnData(c, []byte("x"))
		}, "after OnClose"},
		{"empty data", func(h reactor.Handler) {
			c := &conn{}
			h.OnOpen(c)
			h.OnData(c, nil)
			h.OnClose(c, nil)
		}, "no bytes"},
		{"open twice", func(h reactor.Handler) {
			c := &conn{}
			h.OnOpen(c)
			h.OnOpen(c)
			h.OnClose(c, nil)
		}, "OnOpen called twice"},
		{"close twice", func(h reactor.Handler) {
			c := &conn{}
			h.OnOpen(c)
			h.OnClose(c, nil)
			h.OnClose(c, nil)
		}, "OnClose called twice"},
		{"close without open", func(h reactor.Handler) { h.OnClose(&conn{}, nil) }, "OnClose without OnOpen"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			oc := reactortest.NewOrderChecker(reactor.NopHandler{})
			tc.calls(oc)
			var r recorder
			oc.Check(&r)
			switch {
			case tc.want == "" && len(r.errs) > 0:
				t.Errorf("Check reported %q; want nothing", r.errs)
			case tc.want != "" && (len(r.errs) != 1 || !strings.Contains(r.errs[0], tc.want)):
				t.Errorf("Check reported %q; want one violation mentioning %q", r.errs, tc.want)
			}
		})
	}
}

// blocker holds OnData until told, so that a second callback can arrive meanwhile.
type blocker struct {
	reactor.NopHandler
	entered, release chan struct{}
}

func (b blocker) OnData(c reactor.Conn, in []byte) (int, reactor.Action) {
	b.entered <- struct{}{}
	<-b.release
	return len(in), reactor.None
}

func TestOrderCheckerReportsConcurrentCallbacks(t *testing.T) {
	h := blocker{entered: make(chan struct{}), release: make(chan struct{})}
	oc := reactortest.NewOrderChecker(h)
	c := &conn{}
	oc.OnOpen(c)
	done := make(chan struct{})
	go func() { oc.OnData(c, []byte("x")); close(done) }()
	<-h.entered
	oc.OnClose(c, nil) // while OnData is still running
	close(h.release)
	<-done
	var r recorder
	oc.Check(&r)
	if len(r.errs) == 0 || !strings.Contains(strings.Join(r.errs, "\n"), "while another callback") {
		t.Errorf("Check reported %q; want the overlap", r.errs)
	}
}
