package chat

import (
	"errors"
	"strings"
	"testing"
)

// pickles are what Python 3.11's pickle.dumps(t, protocol) wrote for the tuples shown (run
// once, pasted as data), and what Python 2's cPickle.dumps(t) writes (protocol 0 with STRING).
var pickles = []struct {
	protocol int
	pickle   string
	first    string
}{
	// ("NAME: alice",)
	{0, "(VNAME: alice\np0\ntp1\n.", "NAME: alice"},
	{1, "(X\x0b\x00\x00\x00NAME: aliceq\x00tq\x01.", "NAME: alice"},
	{2, "\x80\x02X\x0b\x00\x00\x00NAME: aliceq\x00\x85q\x01.", "NAME: alice"},
	{3, "\x80\x03X\x0b\x00\x00\x00NAME: aliceq\x00\x85q\x01.", "NAME: alice"},
	{4, "\x80\x04\x95\x11\x00\x00\x00\x00\x00\x00\x00\x8c\x0bNAME: alice\x94\x85\x94.", "NAME: alice"},
	{5, "\x80\x05\x95\x11\x00\x00\x00\x00\x00\x00\x00\x8c\x0bNAME: alice\x94\x85\x94.", "NAME: alice"},
	// ("hi \\ there\n\r\x00\x1a é€😀",): protocol 0's escapes
	{0, "(Vhi \\u005c there\\u000a\\u000d\\u0000\\u001a \xe9\\u20ac\\U0001f600\np0\ntp1\n.", "hi \\ there\n\r\x00\x1a é€😀"},
	{4, "\x80\x04\x95\x1e\x00\x00\x00\x00\x00\x00\x00\x8c\x18hi \\ there\n\r\x00\x1a \xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\x94\x85\x94.", "hi \\ there\n\r\x00\x1a é€😀"},
	// ("a", "b")
	{0, "(Va\np0\nVb\np1\ntp2\n.", "a"},
	{2, "\x80\x02X\x01\x00\x00\x00aq\x00X\x01\x00\x00\x00bq\x01\x86q\x02.", "a"},
	{4, "\x80\x04\x95\x0b\x00\x00\x00\x00\x00\x00\x00\x8c\x01a\x94\x8c\x01b\x94\x86\x94.", "a"},
	// ("a",)*4: one string object four times, so memo gets
	{0, "(Va\np0\ng0\ng0\ng0\ntp1\n.", "a"},
	{1, "(X\x01\x00\x00\x00aq\x00h\x00h\x00h\x00tq\x01.", "a"},
	{4, "\x80\x04\x95\x0e\x00\x00\x00\x00\x00\x00\x00(\x8c\x01a\x94h\x00h\x00h\x00t\x94.", "a"},
	// ("first", "second", "third", "fourth")
	{0, "(Vfirst\np0\nVsecond\np1\nVthird\np2\nVfourth\np3\ntp4\n.", "first"},
	{2, "\x80\x02(X\x05\x00\x00\x00firstq\x00X\x06\x00\x00\x00secondq\x01X\x05\x00\x00\x00thirdq\x02X\x06\x00\x00\x00fourthq\x03tq\x04.", "first"},
	{5, "\x80\x05\x95&\x00\x00\x00\x00\x00\x00\x00(\x8c\x05first\x94\x8c\x06second\x94\x8c\x05third\x94\x8c\x06fourth\x94t\x94.", "first"},
	// Python 2's cPickle: byte strings as quoted literals, memo from 1
	{0, "(S'NAME: alice'\np1\ntp2\n.", "NAME: alice"},
	{0, "(S\"it's \\\\ \\x41\\n\\t\\303\\251\"\np1\ntp2\n.", "it's \\ A\n\té"},
	// raw-unicode-escape details: an even run of backslashes escapes nothing
	{0, "(Va\\\\u0041\\\\\\u0041\np0\ntp1\n.", "a\\\\u0041\\\\A"},
}

func TestDecodeClassicPythonPickles(t *testing.T) {
	for _, p := range pickles {
		got, err := DecodeClassic([]byte("keep:"), []byte(p.pickle))
		if err != nil || string(got) != "keep:"+p.first {
			t.Errorf("protocol %d %q: got %q, %v; want %q", p.protocol, p.pickle, got, err, "keep:"+p.first)
		}
	}
}

func TestDecodeClassicRefuses(t *testing.T) {
	for _, c := range []struct{ pickle, why string }{
		{"", "truncated"},
		{"(t.", "empty tuple"},
		{"\x80\x02).", "opcode 0x29 (')')"},
		{"(Va\np0\nt", "truncated"},
		{"(Va\np0\ntp1\n.x", "after STOP"},
		{"(Va\np0\n.", "before a tuple"},
		{"Va\n.", "before a tuple"},
		{"cos\nsystem\n(Vls\ntR.", "opcode 0x63 ('c')"}, // the classic unpickling attack: a global call
		{"\x80\x04\x95\x0e\x00\x00\x00\x00\x00\x00\x00\x8c\x02os\x8c\x06system\x93.", "opcode 0x93"},
		{"(I1\ntp0\n.", "opcode 0x49 ('I')"},
		{"(lp0\nVa\na.", "opcode 0x6c ('l')"},
		{"\x80\x03C\x01a\x85q\x00.", "opcode 0x43 ('C')"},
		{"\x80\x06X\x01\x00\x00\x00a\x85.", "protocol 6"},
		{"(\x80\x02Va\nt.", "PROTO at offset 1"},
		{"(Va\\u12\nt.", "truncated \\u"},
		{"(Va\\uzzzz\nt.", "bad escape"},
		{"(Va\\U00110000\nt.", "bad escape"},
		{"(Sabc\nt.", "not quoted"},
		{"(S'a\\q'\nt.", "escape \\q"},
		{"(S'a\\'\nt.", "ends in a backslash"},
		{"(X\x02\x00\x00\x00\xff\xfet.", "not UTF-8"},
		{"(X\xff\xff\xff\x7fabc", "truncated"},
		{"(g0\nt.", "GET of memo 0"},
		{"((Vat.", "MARK at offset 1"},
		{"(Va\npx\nt.", "memo index \"x\""},
		{"(Va\np1234\nt.", "1 to 3 decimal digits"},
		{"(Va\nr\x00\x01\x00\x00t.", "memo index 256"},
		{"p0\n(Vat.", "memo put at offset 0"},
		{"(p0\nVa\nt.", "memo put at offset 1"},
		{"Va\nVb\n\x85.", "TUPLE1 at offset 6 over 2 strings"},
		{"(Va\n\x85.", "TUPLE1"},
		{"(Va\ntVb\n.", "a string after the tuple"},
		{"(Va\ntg0\n.", "GET of memo 0"},
		{"(Va\np0\ntp1\ng1\n.", "GET of memo 1"},
		{"\x80\x04\x95\xff\x00\x00\x00\x00\x00\x00\x00\x8c\x01a\x85.", "FRAME of 255"},
	} {
		dst := []byte("keep")
		got, err := DecodeClassic(dst, []byte(c.pickle))
		if !errors.Is(err, ErrPickle) || !strings.Contains(err.Error(), c.why) {
			t.Errorf("%q: error %v; want ErrPickle saying %q", c.pickle, err, c.why)
		}
		if string(got) != "keep" {
			t.Errorf("%q: dst came back %q; want it as it was", c.pickle, got)
		}
	}
}

func TestAppendClassicIsPythonsProtocol0(t *testing.T) {
	for _, c := range []struct{ text, pickle string }{
		{"NAME: alice", "(VNAME: alice\np0\ntp1\n."},
		{"hi \\ there\n\r\x00\x1a é€😀", "(Vhi \\u005c there\\u000a\\u000d\\u0000\\u001a \xe9\\u20ac\\U0001f600\np0\ntp1\n."},
		{"", "(V\np0\ntp1\n."},
		{"bad \xff", "(Vbad \\ufffd\np0\ntp1\n."},
	} {
		got := AppendClassic([]byte("x"), []byte(c.text))
		n := len(c.pickle)
		want := "x" + string([]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n), 0, 0, 0, 0}) + c.pickle
		if string(got) != want {
			t.Errorf("AppendClassic(%q) = %q; want %q", c.text, got, want)
		}
	}
}

func TestClassicFrameLen(t *testing.T) {
	for _, c := range []struct {
		h    string
		n    int
		want error
	}{
		{"\x00\x00\x00\x14\x00\x00\x00\x00", 20, nil},
		{"\x00\x01\x00\x00\x00\x00\x00\x00", 65536, nil},
		{"\x00\x01\x00\x01\x00\x00\x00\x00", 0, ErrClassicFrameSize},
		{"\x00\x00\x00\x00\x00\x00\x00\x00", 0, ErrClassicFrameSize},
		{"* welcom", 0, ErrClassicHeader}, // a line-wire greeting read as a header
		{"\x14\x00\x00\x00\x00\x00\x00\x00", 0, ErrClassicFrameSize},
		{"\x00\x00\x00\x14\x00\x00\x00", 0, ErrClassicHeader},
	} {
		n, err := ClassicFrameLen([]byte(c.h), 65536)
		if n != c.n || !errors.Is(err, c.want) {
			t.Errorf("ClassicFrameLen(%q) = %d, %v; want %d, %v", c.h, n, err, c.n, c.want)
		}
	}
}

func TestClassicCodecAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts mean nothing under -race; CI checks them in a pass without it")
	}
	text := []byte("hello, world: é€😀 \\ \n")
	frame := AppendClassic(nil, text)
	buf := make([]byte, 0, 256)
	dec := make([]byte, 0, 256)
	var bodies [][]byte
	for _, p := range pickles {
		bodies = append(bodies, []byte(p.pickle))
	}
	allocs := testing.AllocsPerRun(100, func() {
		buf = AppendClassic(buf[:0], text)
		var err error
		if dec, err = DecodeClassic(dec[:0], buf[ClassicHeaderLen:]); err != nil {
			t.Fatal(err)
		}
		for _, b := range bodies {
			if dec, err = DecodeClassic(dec[:0], b); err != nil {
				t.Fatal(err)
			}
		}
	})
	if allocs != 0 {
		t.Errorf("encode + decode allocated %.1f times a round; want 0", allocs)
	}
	if string(frame) != string(buf) {
		t.Errorf("encoding changed between calls")
	}
}
