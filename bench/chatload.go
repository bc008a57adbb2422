package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// chatLoad is the built-in chat load generator. members connections join the room as m0, m1, …;
// the first senders of them send numbered, time-stamped lines, and every member checks that it
// receives every other sender's lines, each exactly once and in order. Throughput is lines
// delivered per second (one line sent reaches members-1 readers); latency runs from the moment
// a line was written to the moment a member read it.
//
// Senders are flow-controlled: a sender waits while more than window×(members−1) deliveries
// of its lines are outstanding (window lines ahead of the room on average; one slow member can
// lag at most that many of its lines), so the room is measured at the rate it can deliver
// instead of piling up output until members are dropped for falling behind.
type chatLoad struct {
	addr    string
	members int
	senders int
	window  int
	errs    *tally
	epoch   time.Time
	// lineLimit > 0: each sender stops after that many lines. lineSize > 0: lines are padded
	// to about that many bytes as delivered. The last silent members never read.
	lineLimit int64
	lineSize  int
	silent    int

	conns     []net.Conn
	readers   []*bufio.Reader
	next      [][]int64 // next[r][s]: the sequence number member r expects from sender s
	hists     []Histogram
	sent      []counter // lines each sender has written
	delivered []counter // deliveries of each sender's lines, over all members
	target    []counter // the delivery count a blocked sender waits for
	wake      []chan struct{}

	// For the audit, by member: bytes written and read, and lines received once named — what
	// the room broadcast to it (announcements and other members' lines), not the server's
	// own answers to it (its welcome, CLIENT). Read while the receivers still run, hence
	// atomic.
	wrote []counter
	in    []countingReader
	lines []counter

	stopping  atomic.Bool
	measuring atomic.Bool
	wgSend    sync.WaitGroup
	wgRecv    sync.WaitGroup
	drained   sync.Once
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n counter
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.n.Add(int64(n))
	return n, err
}

func newChatLoad(addr string, members, senders, window int, errs *tally) *chatLoad {
	if members < 2 {
		members = 2
	}
	if senders < 1 {
		senders = 1
	}
	if senders > members {
		senders = members
	}
	if window < 1 {
		window = 1
	}
	return &chatLoad{addr: addr, members: members, senders: senders, window: window, errs: errs, epoch: time.Now()}
}

// joinTimeout bounds the join handshake of one member.
const joinTimeout = 5 * time.Second

func (l *chatLoad) begin(ctx context.Context, deadline time.Time) error {
	l.conns = make([]net.Conn, l.members)
	l.readers = make([]*bufio.Reader, l.members)
	l.next = make([][]int64, l.members)
	l.hists = make([]Histogram, l.members)
	l.sent = make([]counter, l.senders)
	l.delivered = make([]counter, l.senders)
	l.target = make([]counter, l.senders)
	l.wake = make([]chan struct{}, l.senders)
	l.wrote = make([]counter, l.members)
	l.in = make([]countingReader, l.members)
	l.lines = make([]counter, l.members)
	for s := range l.wake {
		l.wake[s] = make(chan struct{}, 1)
	}
	// Join one at a time: the joins are not what is measured, and a room that answers them
	// in order is easier to diagnose when one fails.
	for i := 0; i < l.members; i++ {
		if err := l.join(ctx, i); err != nil {
			l.errs.add(errConnect, 1, err.Error())
			return err
		}
		_ = l.conns[i].SetDeadline(deadline)
		next := make([]int64, l.senders)
		for s := range next {
			next[s] = 1
		}
		l.next[i] = next
	}
	if strings.Contains(l.addr, ",") {
		if err := l.waitForRoom(ctx, deadline); err != nil {
			l.errs.add(errConnect, 1, err.Error())
			return err
		}
	}
	for i := 0; i < l.readingMembers(); i++ {
		l.wgRecv.Add(1)
		go func(i int) {
			defer l.wgRecv.Done()
			l.receive(i)
		}(i)
	}
	for s := 0; s < l.senders; s++ {
		l.wgSend.Add(1)
		go func(s int) {
			defer l.wgSend.Done()
			l.send(s)
		}(s)
	}
	return nil
}

// waitForRoom asks /who of the first member on each server until each sees every member: the
// servers share the room over a bus, and a line sent before they know of each other would not
// reach everyone.
func (l *chatLoad) waitForRoom(ctx context.Context, deadline time.Time) error {
	want := "* members (" + strconv.Itoa(l.members) + "): "
	until := time.Now().Add(20 * time.Second)
	for i := 0; i < min(l.members, strings.Count(l.addr, ",")+1); i++ {
		c, r := l.conns[i], l.readers[i]
		for {
			if time.Now().After(until) || ctx.Err() != nil {
				return fmt.Errorf("chat member m%d: the servers did not all see the room's %d members within 20s", i, l.members)
			}
			n, err := io.WriteString(c, "/who\n")
			l.wrote[i].n.Add(int64(n))
			_ = c.SetDeadline(time.Now().Add(5 * time.Second))
			var line []byte
			for err == nil && !bytes.HasPrefix(line, []byte("* members (")) {
				line, err = r.ReadSlice('\n')
			}
			_ = c.SetDeadline(deadline)
			if err != nil {
				return fmt.Errorf("chat member m%d: /who: %w", i, err)
			}
			if bytes.HasPrefix(line, []byte(want)) {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	return nil
}

// join connects member i, names it and waits for the server's CLIENT answer, skipping the
// announcements ("* …") that may come first.
func (l *chatLoad) join(ctx context.Context, i int) error {
	addrs := strings.Split(l.addr, ",")
	c, err := dialer.DialContext(ctx, "tcp", addrs[i%len(addrs)])
	if err != nil {
		return err
	}
	l.conns[i] = c
	_ = c.SetDeadline(time.Now().Add(joinTimeout))
	n, err := fmt.Fprintf(c, "NAME: m%d\n", i)
	l.wrote[i].n.Add(int64(n))
	if err != nil {
		return fmt.Errorf("chat member m%d: %w", i, err)
	}
	l.in[i].r = c
	r := bufio.NewReaderSize(&l.in[i], 64<<10)
	l.readers[i] = r
	for {
		line, err := r.ReadSlice('\n')
		if err != nil {
			return fmt.Errorf("chat member m%d: no CLIENT answer to NAME: %w", i, err)
		}
		switch {
		case bytes.HasPrefix(line, []byte("CLIENT: ")):
			return nil
		case bytes.HasPrefix(line, []byte("* ")):
		default:
			return fmt.Errorf("chat member m%d: unexpected answer to NAME: %q", i, line)
		}
	}
}

// send writes sender s's lines until the run stops, keeping at most window×(members−1) of
// their deliveries outstanding. One shared counter per sender keeps the receivers' side to an
// atomic add per line.
func (l *chatLoad) send(s int) {
	c := l.conns[s]
	others := int64(l.readingMembers() - 1)
	buf := make([]byte, 0, sendBatch+64+l.lineSize)
	// The server prefixes "m<s>: " to what is sent.
	prefix := len("m: ") + len(strconv.Itoa(s))
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for seq := int64(1); !l.stopping.Load() && (l.lineLimit == 0 || seq <= l.lineLimit); seq++ {
		need := (seq - 1 - int64(l.window)) * others
		if l.window == 0 {
			need = 0
		}
		l.target[s].n.Store(need)
		for l.delivered[s].n.Load() < need {
			if l.stopping.Load() {
				return
			}
			timer.Reset(50 * time.Millisecond)
			select {
			case <-l.wake[s]:
			case <-timer.C:
			}
		}
		// Without a window nothing holds a sender back: its lines go out in writes of up to
		// sendBatch bytes, as a client with a backlog would send them.
		start := len(buf)
		buf = strconv.AppendInt(buf, seq, 10)
		buf = append(buf, ' ')
		buf = strconv.AppendInt(buf, int64(time.Since(l.epoch)), 10)
		if pad := l.lineSize - prefix - (len(buf) - start) - 2; pad > 0 {
			buf = append(buf, ' ')
			for ; pad > 0; pad-- {
				buf = append(buf, 'x')
			}
		}
		buf = append(buf, '\n')
		if l.window == 0 && len(buf) < sendBatch && seq != l.lineLimit {
			continue
		}
		n, err := c.Write(buf)
		l.wrote[s].n.Add(int64(n))
		buf = buf[:0]
		if err != nil {
			if !l.stopping.Load() {
				l.errs.add(errDropped, 1, fmt.Sprintf("sender m%d: %v", s, err))
			}
			return
		}
		l.sent[s].n.Store(seq)
	}
}

// sendBatch is the most a sender without a window writes at once.
const sendBatch = 32 << 10

// receive reads member r's lines until its connection ends, checking every sender's sequence.
func (l *chatLoad) receive(r int) {
	rd := l.readers[r]
	next := l.next[r]
	h := &l.hists[r]
	for {
		line, err := rd.ReadSlice('\n')
		if err != nil {
			if !l.stopping.Load() {
				l.memberLost(r, err)
			}
			return
		}
		l.lines[r].n.Add(1)
		if bytes.HasPrefix(line, []byte("* ")) {
			continue
		}
		s, seq, ts, ok := parseChatLine(line)
		if !ok || s >= l.senders || s == r {
			l.errs.add(errMalformed, 1, fmt.Sprintf("member m%d: unexpected line %s", r, quote(line)))
			continue
		}
		if seq != next[s] {
			n := seq - next[s]
			if n <= 0 {
				n = 1
			}
			l.errs.add(errMissed, n, fmt.Sprintf("member m%d: from m%d got line %d, want %d", r, s, seq, next[s]))
		}
		next[s] = seq + 1
		if l.measuring.Load() {
			h.Record(time.Since(l.epoch) - time.Duration(ts))
		}
		if v := l.delivered[s].n.Add(1); v >= l.target[s].n.Load() {
			select {
			case l.wake[s] <- struct{}{}:
			default:
			}
		}
	}
}

func (l *chatLoad) memberLost(r int, err error) {
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		l.errs.add(errTimeout, 1, fmt.Sprintf("member m%d: lines still missing at the run's deadline", r))
	case errors.Is(err, io.EOF):
		l.errs.add(errDropped, 1, fmt.Sprintf("member m%d: server closed the connection", r))
	default:
		l.errs.add(errDropped, 1, fmt.Sprintf("member m%d: %v", r, err))
	}
}

// parseChatLine parses "m<sender>: <seq> <ts>\n" without allocating.
func parseChatLine(line []byte) (sender int, seq, ts int64, ok bool) {
	if len(line) < 2 || line[0] != 'm' {
		return 0, 0, 0, false
	}
	i := 1
	v, i, ok := parseDigits(line, i)
	if !ok || i+1 >= len(line) || line[i] != ':' || line[i+1] != ' ' {
		return 0, 0, 0, false
	}
	sender = int(v)
	seq, i, ok = parseDigits(line, i+2)
	if !ok || i >= len(line) || line[i] != ' ' {
		return 0, 0, 0, false
	}
	ts, i, ok = parseDigits(line, i+1)
	if ok && i < len(line) && line[i] == ' ' {
		// Padding (--line-size): filler 'x' to the end of the line.
		for i++; i < len(line) && line[i] == 'x'; i++ {
		}
		return sender, seq, ts, i == len(line)-1 && line[i] == '\n'
	}
	if !ok || i >= len(line) || line[i] != '\n' && line[i] != '\r' {
		return 0, 0, 0, false
	}
	return sender, seq, ts, true
}

func parseDigits(b []byte, i int) (v int64, end int, ok bool) {
	start := i
	for i < len(b) && b[i] >= '0' && b[i] <= '9' && i-start < 18 {
		v = v*10 + int64(b[i]-'0')
		i++
	}
	return v, i, i > start
}

func (l *chatLoad) snapshot() (int64, int64) {
	var n int64
	for s := range l.delivered {
		n += l.delivered[s].n.Load()
	}
	return n, 0
}

func (l *chatLoad) measure(on bool) { l.measuring.Store(on) }

func (l *chatLoad) latency() *Histogram {
	h := new(Histogram)
	for i := range l.hists {
		h.Merge(&l.hists[i])
	}
	return h
}

func (l *chatLoad) traffic() Traffic {
	var t Traffic
	for i := range l.wrote {
		t.BytesIn += l.wrote[i].n.Load()
		t.BytesOut += l.in[i].n.n.Load()
		t.Lines += l.lines[i].n.Load()
	}
	return t
}

// drain stops the senders and waits (within the grace period) until every line sent has
// reached every other member. The members stay in the room: were they to leave, the server
// would announce it to members no longer reading.
func (l *chatLoad) drain() {
	l.drained.Do(func() {
		if l.lineLimit == 0 {
			l.stopping.Store(true)
		}
		// A fixed fan-out is sent in full (bounded by the connections' deadline).
		l.wgSend.Wait()
		l.stopping.Store(true)
		others := int64(l.readingMembers() - 1)
		wait := time.Now().Add(graceAfterRun)
		for time.Now().Before(wait) && !l.allDelivered(others) {
			time.Sleep(5 * time.Millisecond)
		}
	})
}

// end drains, closes the room and counts the lines that never arrived.
func (l *chatLoad) end() {
	l.drain()
	for _, c := range l.conns {
		if c != nil {
			c.Close()
		}
	}
	l.wgRecv.Wait()
	for r, next := range l.next[:l.readingMembers()] {
		if next == nil {
			continue
		}
		for s := 0; s < l.senders; s++ {
			if s == r {
				continue
			}
			if miss := l.sent[s].n.Load() - (next[s] - 1); miss > 0 {
				l.errs.add(errMissed, miss, fmt.Sprintf("member m%d never got %d line(s) of m%d", r, miss, s))
			}
		}
	}
}

// readingMembers is how many members read: all but the silent ones, which are the last.
func (l *chatLoad) readingMembers() int { return l.members - l.silent }

func (l *chatLoad) allDelivered(others int64) bool {
	for s := range l.sent {
		if l.delivered[s].n.Load() < l.sent[s].n.Load()*others {
			return false
		}
	}
	return true
}
