package backendkit

import (
	"bytes"
	"math/rand"
	"testing"
)

func TestOutboundRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	var q Outbound
	var want, got bytes.Buffer
	for i := 0; i < 2000; i++ {
		p := make([]byte, rng.Intn(40000))
		rng.Read(p)
		// Copied or, a third of the time, queued by reference, interleaved in one order.
		if rng.Intn(3) == 0 {
			q.WriteShared(p)
		} else {
			q.Write(p)
		}
		want.Write(p)
		if q.Len() != want.Len()-got.Len() {
			t.Fatalf("Len = %d; want %d", q.Len(), want.Len()-got.Len())
		}
		// Send a random prefix, as a short writev would.
		send := rng.Intn(q.Len() + 1)
		for _, b := range q.Buffers(rng.Intn(4)) {
			if send == 0 {
				break
			}
			k := min(send, len(b))
			got.Write(b[:k])
			send -= k
			q.Discard(k)
		}
	}
	for q.Len() > 0 {
		b := q.Buffers(0)[0]
		got.Write(b)
		q.Discard(len(b))
	}
	if !bytes.Equal(got.Bytes(), want.Bytes()) {
		t.Fatalf("bytes differ after %d bytes", want.Len())
	}
	if len(q.chunks) != 0 {
		t.Fatalf("%d chunks left on an empty queue", len(q.chunks))
	}
}

// TestOutboundAppendBuffers: AppendBuffers gives what Buffers gives, after what dst held,
// and leaves q without a list of its own.
func TestOutboundAppendBuffers(t *testing.T) {
	var q Outbound
	q.Write(make([]byte, 2*chunkSize+5))
	q.Discard(7)
	dst := make([][]byte, 1, 8)
	got := q.AppendBuffers(dst, 2)
	if len(got) != 3 || &got[0] != &dst[0] {
		t.Fatalf("got %d slices; want dst's one and 2 more, in dst", len(got))
	}
	if len(got[1]) != chunkSize-7 || len(got[2]) != chunkSize {
		t.Errorf("got slices of %d and %d bytes; want %d and %d", len(got[1]), len(got[2]), chunkSize-7, chunkSize)
	}
	if q.vec != nil {
		t.Errorf("q keeps a list of %d after AppendBuffers; want none", cap(q.vec))
	}
	if all := q.AppendBuffers(nil, 0); len(all) != 3 {
		t.Errorf("got %d slices with no maximum; want 3", len(all))
	}
}

func TestOutboundReset(t *testing.T) {
	var q Outbound
	q.Write(make([]byte, 3*chunkSize+5))
	q.Reset()
	if q.Len() != 0 || len(q.Buffers(0)) != 0 {
		t.Fatalf("after Reset: Len = %d, %d buffers; want 0, 0", q.Len(), len(q.Buffers(0)))
	}
}

func TestOutboundSteadyStateAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under -race; .ci/run runs this without it")
	}
	var q Outbound
	msg := []byte("HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\nHello, World!")
	cycle := func() {
		for i := 0; i < 16; i++ {
			q.Write(msg)
		}
		for q.Len() > 0 {
			n := 0
			for _, b := range q.Buffers(0) {
				n += len(b)
			}
			q.Discard(n)
		}
	}
	cycle()
	if n := testing.AllocsPerRun(1000, cycle); n != 0 {
		t.Fatalf("write/drain cycle allocates %v times; want 0", n)
	}
}

// TestOutboundWriteShared: a shared slice too big for the last chunk's room is queued by
// reference, not copied, and a later Write never writes into it.
func TestOutboundWriteShared(t *testing.T) {
	var q Outbound
	q.Write(make([]byte, chunkSize-10)) // a chunk with 10 bytes of room
	small, line := []byte("0123456789"), bytes.Repeat([]byte("L"), 400)
	q.WriteShared(small) // fits the room: copied there
	q.WriteShared(line)
	q.Write([]byte("after"))
	bufs := q.Buffers(0)
	if len(bufs) != 3 || &bufs[1][0] != &line[0] || string(bufs[2]) != "after" {
		t.Fatalf("got %d entries; want the full chunk, the shared line itself, a chunk with \"after\"", len(bufs))
	}
	if !bytes.Equal(line, bytes.Repeat([]byte("L"), 400)) || q.Len() != chunkSize+400+5 {
		t.Fatalf("shared line changed, or Len %d", q.Len())
	}
	q.Discard(chunkSize + 100)
	if b := q.Buffers(0); len(b) != 2 || len(b[0]) != 300 || &b[0][0] != &line[100] {
		t.Fatalf("after a partial send of the line: %d entries", len(b))
	}
	q.Discard(q.Len())
	if len(q.chunks) != 0 || q.Len() != 0 {
		t.Fatalf("%d chunks, %d bytes left on a drained queue", len(q.chunks), q.Len())
	}
	// Under shareMin bytes, a slice is copied even where a chunk must be started for it.
	q.WriteShared(line)
	q.WriteShared(small)
	if b := q.Buffers(0); len(b) != 2 || &b[1][0] == &small[0] || string(b[1]) != string(small) {
		t.Fatalf("a short shared slice after a shared entry: %d entries, not copied into a chunk of its own", len(b))
	}
	q.Reset()
}
