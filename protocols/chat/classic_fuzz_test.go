package chat

import (
	"bytes"
	"errors"
	"testing"
	"unicode/utf8"

	"github.com/reactorlab/reactor/reactor/conntest"
)

// FuzzClassicDecode feeds arbitrary bytes to the pickle decoder as a frame body. It never
// panics; it either refuses with ErrPickle, leaving dst as it was, or returns a text no more
// than twice the body's length (a Latin-1 byte of protocol 0 becomes two bytes of UTF-8). And
// any text the fuzzer makes, encoded by AppendClassic, decodes back to itself.
func FuzzClassicDecode(f *testing.F) {
	for _, p := range pickles {
		f.Add([]byte(p.pickle))
	}
	for _, s := range []string{
		"cos\nsystem\n(Vls\ntR.",
		"(Va\\u12\nt.",
		"(S'a\\x4",
		"\x80\x04\x95\xff\x00\x00\x00\x00\x00\x00\x00\x8c\x01a\x85.",
		"(Va\np0\ntp1\ng1\n.",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		dst := []byte("pre")
		out, err := DecodeClassic(dst, body)
		if err != nil {
			if !errors.Is(err, ErrPickle) || string(out) != "pre" {
				t.Fatalf("refusal %v with dst %q; want ErrPickle and dst as it was", err, out)
			}
		} else if len(out)-3 > 2*len(body) {
			t.Fatalf("%d bytes of text from a %d-byte pickle", len(out)-3, len(body))
		}
		if !utf8.Valid(body) {
			return
		}
		frame := AppendClassic(nil, body)
		n, err := ClassicFrameLen(frame, len(frame))
		if err != nil || n != len(frame)-ClassicHeaderLen {
			t.Fatalf("header of AppendClassic(%q): %d, %v", body, n, err)
		}
		back, err := DecodeClassic(nil, frame[ClassicHeaderLen:])
		if err != nil || !bytes.Equal(back, body) {
			t.Fatalf("AppendClassic(%q) decodes to %q, %v", body, back, err)
		}
	})
}

// FuzzClassicRoom feeds arbitrary bytes, split at arbitrary points, to a member of a classic
// room with a listener: the room holds no more than a frame's worth of input, and everything
// either of them is sent is whole frames of protocol-0 pickles whose texts could not drive a
// terminal (no control but the newline the room's own notices begin with).
func FuzzClassicRoom(f *testing.F) {
	f.Add([]byte(frames("NAME: alice", "hello", "/quit")), uint8(3))
	f.Add(append(framed("\x80\x04\x95\x0f\x00\x00\x00\x00\x00\x00\x00\x8c\x09NAME: bob\x94\x85\x94."), frames("hi \x1b[2J\u009b")...), uint8(0))
	f.Add([]byte(frames("NAME: x", "NAME: y")+"NAME: z\n"), uint8(7))
	f.Add(append([]byte(frames("NAME: a")), framed("(Va\\u0000\np0\ntp1\n.")...), uint8(1))
	f.Fuzz(func(t *testing.T, data []byte, split uint8) {
		if len(data) > 8192 {
			data = data[:8192]
		}
		r := New(Config{Wire: Classic, MaxLine: 64})
		listener := conntest.Open(r, "127.0.0.1:1")
		listener.Feed([]byte(frames("NAME: listener")))
		d := conntest.Open(r, "127.0.0.1:2")
		step := int(split%16) + 1
		for off := 0; off < len(data) && !d.C.Closed(); off += step {
			d.Feed(data[off:min(off+step, len(data))])
			if len(d.Tail) > ClassicHeaderLen+r.maxFrame+step {
				t.Fatalf("room holds %d unconsumed bytes; want at most a frame (%d) plus one read", len(d.Tail), ClassicHeaderLen+r.maxFrame)
			}
		}
		for _, out := range [][]byte{d.C.Output(), listener.C.Output()} {
			for len(out) > 0 {
				n, err := ClassicFrameLen(out, 1<<20)
				if err != nil || len(out) < ClassicHeaderLen+n {
					t.Fatalf("output is not whole frames: %q (%v)", out, err)
				}
				text, err := DecodeClassic(nil, out[ClassicHeaderLen:ClassicHeaderLen+n])
				if err != nil {
					t.Fatalf("the room sent a pickle it cannot read back: %v", err)
				}
				checkSafe(t, bytes.TrimLeft(text, "\n"))
				out = out[ClassicHeaderLen+n:]
			}
		}
	})
}
