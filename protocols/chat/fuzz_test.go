package chat

import (
	"bytes"
	"testing"

	"github.com/reactorlab/reactor/reactor/conntest"
)

// FuzzLines feeds arbitrary bytes, split at arbitrary points, to one member of a room with a
// listener. Whatever arrives, the room never holds more than a line's worth of input, every
// line it sends ends in a newline, the listener only hears well-formed lines, and nothing either
// of them is sent could drive a terminal: valid UTF-8 with no control but TAB and newline.
func FuzzLines(f *testing.F) {
	for _, seed := range []string{
		"NAME: alice\nhello\n",
		"NAME: alice\r\nhello\r\n/who\r\n",
		"hello before name\nNAME: a\n/name b\n/quit\n",
		"NAME: x\n" + string(bytes.Repeat([]byte("z"), 100)) + "\nok\n",
		"NAME:\nNAME: bad name\nNAME: listener\n/nope\n\n\n",
		"\x00\xff\r\r\n\n",
		"NAME: a\nhi \x1b[2J\x1b]0;pwned\x07\r* b joined\r\n\xc2\x9b\xff\b\x7f\n/\x1b\n",
	} {
		f.Add([]byte(seed), uint8(3))
	}
	f.Fuzz(func(t *testing.T, data []byte, split uint8) {
		const maxLine = 64
		// Past a few KiB an input only repeats what the 64-byte line limit has seen, and
		// feeding megabytes a byte at a time would spend the fuzzing time on one input.
		if len(data) > 4096 {
			data = data[:4096]
		}
		r := New(Config{MaxLine: maxLine})
		listener := conntest.Open(r, "127.0.0.1:1")
		listener.Feed([]byte("NAME: listener\n"))
		d := conntest.Open(r, "127.0.0.1:2")
		step := int(split%16) + 1
		for off := 0; off < len(data) && !d.C.Closed(); off += step {
			d.Feed(data[off:min(off+step, len(data))])
			if len(d.Tail) > maxLine+1+step {
				t.Fatalf("room holds %d unconsumed bytes; want at most a line (%d) plus one read", len(d.Tail), maxLine+1)
			}
		}
		for _, out := range [][]byte{d.C.Output(), listener.C.Output()} {
			if len(out) > 0 && out[len(out)-1] != '\n' {
				t.Fatalf("output does not end with a newline: %q", out)
			}
			checkSafe(t, out)
		}
		for _, line := range bytes.SplitAfter(listener.C.Output(), []byte("\n")) {
			if len(line) == 0 {
				continue
			}
			if !bytes.HasPrefix(line, []byte("* ")) && !bytes.HasPrefix(line, []byte("CLIENT: ")) && !bytes.Contains(line, []byte(": ")) {
				t.Fatalf("listener got a malformed line %q", line)
			}
			// Making a byte visible takes at most three (an invalid byte becomes U+FFFD).
			if len(line) > 3*maxLine+2*DefaultMaxName+64 {
				t.Fatalf("listener got a %d-byte line; lines are bounded by 3×max_line", len(line))
			}
		}
	})
}
