package bench

import (
	"fmt"
	"io"
	"os"
	"time"
)

// progress writes one line per finished cell (a contender in a round). On a terminal the line
// of the cell now running is shown too and replaced when it ends.
type progress struct {
	w     io.Writer
	tty   bool
	total int
	n     int
	start time.Time
}

func newProgress(w io.Writer, total int) *progress {
	if w == nil {
		w = io.Discard
	}
	tty := false
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			tty = true
		}
	}
	return &progress{w: w, tty: tty, total: total, start: time.Now()}
}

func (p *progress) begin(round, rounds int, name string) {
	if p.tty {
		fmt.Fprintf(p.w, "\r\033[K[%d/%d %s] round %d/%d %s: measuring…", p.n+1, p.total, p.elapsed(), round, rounds, name)
	}
}

func (p *progress) step(round, rounds int, name, summary string) {
	p.n++
	clear := ""
	if p.tty {
		clear = "\r\033[K"
	}
	fmt.Fprintf(p.w, "%s[%d/%d %s] round %d/%d %s: %s\n", clear, p.n, p.total, p.elapsed(), round, rounds, name, summary)
}

// note writes a line that is not a measurement, such as a contender skipped.
func (p *progress) note(line string) {
	fmt.Fprintf(p.w, "bench: %s\n", line)
}

func (p *progress) done() {
	fmt.Fprintf(p.w, "bench: %d measurements in %s\n", p.n, p.elapsed())
}

func (p *progress) elapsed() string {
	return time.Since(p.start).Round(time.Second).String()
}
