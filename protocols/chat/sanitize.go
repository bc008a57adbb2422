package chat

import "unicode/utf8"

// AppendSafe appends text to dst with everything that could drive a terminal made visible, and
// returns the extended slice. C0 controls other than TAB, and DEL, become caret notation (ESC is
// "^[", CR "^M", DEL "^?"); C1 controls (U+0080–U+009F) become "\u009b"-style escapes; each byte
// of invalid UTF-8 becomes U+FFFD. Everything else, TAB and printable Unicode included, is copied
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
		case r < 0xa0:
			const hex = "0123456789abcdef"
			dst = append(dst, '\\', 'u', '0', '0', hex[r>>4], hex[r&0xf])
		default:
			dst = append(dst, text[i:i+size]...)
		}
		i += size
	}
	return dst
}
