package reactortest

import (
	"bufio"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/reactorlab/reactor/protocols/chat"
	"github.com/reactorlab/reactor/reactor"
)

// testChatChurn: members join and leave constantly while others talk. The members present
// throughout get every line exactly once, in order per sender; a member that came and went got,
// from each sender, a run of consecutive lines — none lost in the middle, none twice.
func (s *suite) testChatChurn(t *testing.T) {
	const talkers, lines, churners = 4, 300, 6
	srv := s.start(t, reactor.Config{}, chat.New(chat.Config{}))
	ts := make([]*chatter, talkers)
	for i := range ts {
		m, err := joinChat(t, srv, "t"+strconv.Itoa(i))
		if err != nil {
			t.Fatal(err)
		}
		ts[i] = m
	}
	var stop atomic.Bool
	var churnWG sync.WaitGroup
	joins := atomic.Int64{}
	for k := 0; k < churners; k++ {
		churnWG.Add(1)
		go func() {
			defer churnWG.Done()
			// Bounded: at most 200 visits each; stops when the talk is over.
			for visit := 0; visit < 200 && !stop.Load(); visit++ {
				m, err := joinChat(t, srv, fmt.Sprintf("c%d-%d", k, visit))
				if err != nil {
					t.Errorf("churner %d: %v", k, err)
					return
				}
				joins.Add(1)
				m.c.SetReadDeadline(time.Now().Add(time.Duration(5+visit%20) * time.Millisecond))
				last := map[int]int{}
				for {
					line, err := m.r.ReadString('\n')
					if err != nil {
						break // the visit's time is up
					}
					sender, seq, ok := parseTalk(line)
					if !ok {
						continue
					}
					if prev, seen := last[sender]; seen && seq != prev+1 {
						t.Errorf("%s: from t%d line %d after line %d; want consecutive lines while a member", m.name, sender, seq, prev)
					}
					last[sender] = seq
				}
				m.c.Close()
			}
		}()
	}
	var talkWG sync.WaitGroup
	for i, m := range ts {
		talkWG.Add(2)
		go func() {
			defer talkWG.Done()
			w := bufio.NewWriter(m.c)
			for k := 0; k < lines; k++ {
				fmt.Fprintf(w, "talk %d %d\n", i, k)
				if k%10 == 0 {
					w.Flush()
					time.Sleep(time.Millisecond) // spread the talk over the churn
				}
			}
			w.Flush()
		}()
		go func() {
			defer talkWG.Done()
			next := make([]int, talkers)
			for got := 0; got < (talkers-1)*lines; {
				line, err := m.r.ReadString('\n')
				if err != nil {
					t.Errorf("%s: after %d of %d lines: %v", m.name, got, (talkers-1)*lines, err)
					return
				}
				sender, seq, ok := parseTalk(line)
				if !ok {
					continue // joins and leaves of the churners
				}
				if sender == i || seq != next[sender] {
					t.Errorf("%s: line %d from t%d; want line %d (lost, repeated, reordered or own)", m.name, seq, sender, next[sender])
					return
				}
				next[sender]++
				got++
			}
		}()
	}
	talkWG.Wait()
	stop.Store(true)
	churnWG.Wait()
	if joins.Load() < churners {
		t.Errorf("only %d churner visits; the churn did not happen", joins.Load())
	}
}

// parseTalk reads "tN: talk N K" lines.
func parseTalk(line string) (sender, seq int, ok bool) {
	rest, found := strings.CutPrefix(line, "t")
	if !found {
		return 0, 0, false
	}
	var from int
	if _, err := fmt.Sscanf(rest, "%d: talk %d %d\n", &sender, &from, &seq); err != nil || from != sender {
		return 0, 0, false
	}
	return sender, seq, true
}
