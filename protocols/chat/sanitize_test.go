package chat

import (
	"testing"
	"unicode/utf8"
)

func TestAppendSafe(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"plain text, tabs\tstay", "plain text, tabs\tstay"},
		{"héllo wörld ✓ 日本", "héllo wörld ✓ 日本"},
		{"hi \x1b[2J\x1b]0;pwned\x07\x1b[31mred", "hi ^[[2J^[]0;pwned^G^[[31mred"},
		{"harmless\r* carol joined", "harmless^M* carol joined"},
		{"bob\b\b\bmallory", "bob^H^H^Hmallory"},
		{"\x00\x01\x1f\x7f", "^@^A^_^?"},
		{"csi \u009b2J nel \u0085 end \u009f", `csi \u009b2J nel \u0085 end \u009f`},
		{"\u00a0 is printable", "\u00a0 is printable"},
		{"bad \xff\xfe utf8 \x9b raw c1 \xe2\x82", "bad \uFFFD\uFFFD utf8 \uFFFD raw c1 \uFFFD\uFFFD"},
		{"\uFFFD itself stays", "\uFFFD itself stays"},
		{"ok \u202egnp.exe \u2066x\u2069 \u200f\u061c", `ok \u202egnp.exe \u2066x\u2069 \u200f\u061c`},
	} {
		if got := string(AppendSafe(nil, []byte(tc.in))); got != tc.want {
			t.Errorf("AppendSafe(%q) = %q; want %q", tc.in, got, tc.want)
		}
		if got := string(AppendSafe([]byte("pre:"), []byte(tc.in))); got != "pre:"+tc.want {
			t.Errorf("AppendSafe(%q) after a prefix = %q; want %q", tc.in, got, "pre:"+tc.want)
		}
	}
}

// checkSafe fails unless out is valid UTF-8 free of controls other than TAB and the newlines
// that end lines.
func checkSafe(t *testing.T, out []byte) {
	t.Helper()
	if !utf8.Valid(out) {
		t.Fatalf("output is not valid UTF-8: %q", out)
	}
	for _, r := range string(out) {
		if r < 0x20 && r != '\t' && r != '\n' || r >= 0x7f && r < 0xa0 || isBidi(r) {
			t.Fatalf("output carries control %U: %q", r, out)
		}
	}
}

func TestBroadcastSanitized(t *testing.T) {
	r := New(Config{})
	a := join(t, r, "alice", "127.0.0.1:1001")
	b := join(t, r, "bob", "127.0.0.1:1002")
	a.C.TakeOutput()
	for _, tc := range []struct{ in, want string }{
		{"hi \x1b[2J\x1b]0;pwned\x07\x1b[31mred\n", "alice: hi ^[[2J^[]0;pwned^G^[[31mred\n"},
		{"harmless\r* carol joined\r\n", "alice: harmless^M* carol joined\n"},
		{"x\b\b\b\b\b\b\bbob: I owe you\n", "alice: x^H^H^H^H^H^H^Hbob: I owe you\n"},
		{"two CRs\r\r\n", "alice: two CRs^M\n"},
		{"latin-1 caf\xe9\n", "alice: latin-1 caf\uFFFD\n"},
		{"\u009b31m\n", `alice: \u009b31m` + "\n"},
	} {
		a.Feed([]byte(tc.in))
		out := b.C.TakeOutput()
		if string(out) != tc.want {
			t.Errorf("sent %q: others got %q; want %q", tc.in, out, tc.want)
		}
		checkSafe(t, out)
	}
}

func TestRepliesDoNotEchoControls(t *testing.T) {
	r := New(Config{})
	a := join(t, r, "alice", "127.0.0.1:1001")
	a.Feed([]byte("/\x1b[2J\xff\n"))
	if got, want := string(a.C.TakeOutput()), "! unknown command /^[[2J\uFFFD (try /help)\n"; got != want {
		t.Errorf("unknown command reply = %q; want %q", got, want)
	}
}

func TestBroadcastAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under -race")
	}
	r := New(Config{})
	from := join(t, r, "sender", "127.0.0.1:1000")
	to := join(t, r, "listener", "127.0.0.1:1001")
	for _, line := range []string{
		"a fairly ordinary chat line of some length\n",
		"ünïcödé and \x1b[31mcolour\x1b[0m and \xff\n",
	} {
		p := []byte(line)
		feed := func() { from.Feed(p) }
		for i := 0; i < 100; i++ {
			feed() // grow the scratch buffers and the recipient's output to their size
		}
		to.C.TakeOutput()
		if n := testing.AllocsPerRun(100, feed); n != 0 {
			t.Errorf("broadcasting %q: %v allocations per line; want 0", line, n)
		}
	}
}
