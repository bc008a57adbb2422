package chat

import "unicode/utf8"

// AppendSafe appends text to dst with everything that could drive a terminal made visible, and
// returns the extended slice. C0 controls other than TAB, and DEL, become caret notation (ESC is
// "^[", CR "^M", DEL "^?"); C1 controls (U+0080–U+009F) and the bidirectional formatting
// characters (U+061C, U+200E–U+200F, U+202A–U+202E, U+2066–U+2069, which can make a line read
// in another order than it was sent) become "\u009b"-style escapes; each byte of invalid UTF-8
// becomes U+FFFD. Everything else, TAB and printable Unicode included, is copied
// as is. The result is valid UTF-8 and at most three times as long as text.
//
// It allocates nothing when dst has room. The room applies it to every piece of member text it
// sends; clients apply it to what they print, since a server may be hostile too.
func AppendSafe(dst, text []byte) []byte {
	for i := 0; i < len(text); {
		// Printable ASCII and TAB, the common case, are copied a run at a time.
		start := i
		for i < len(text) && (text[i] >= ' ' && text[i] < 0x7f || text[i] == '\t') {
			i++
		}
		dst = append(dst, text[start:i]...)
		if i == len(text) {
			break
		}
		if b := text[i]; b < 0x80 {
			dst = append(dst, '^', b^0x40) // 0x00 → '@', 0x1b → '[', 0x7f → '?'
			i++
			continue
		}
		r, size := utf8.DecodeRune(text[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = utf8.AppendRune(dst, utf8.RuneError)
		case r < 0xa0 || isBidi(r):
			const hex = "0123456789abcdef"
			dst = append(dst, '\\', 'u', hex[r>>12], hex[r>>8&0xf], hex[r>>4&0xf], hex[r&0xf])
		default:
			dst = append(dst, text[i:i+size]...)
		}
		i += size
	}
	return dst
}

// isBidi reports whether r is a bidirectional formatting character: an embedding, override,
// isolate or mark.
func isBidi(r rune) bool {
	return r == 0x061c || r == 0x200e || r == 0x200f ||
		r >= 0x202a && r <= 0x202e || r >= 0x2066 && r <= 0x2069
}
