package http1

import "bytes"

// nextElement splits the first element off a comma-separated list, whitespace trimmed.
func nextElement(list []byte) (elem, rest []byte) {
	if i := bytes.IndexByte(list, ','); i >= 0 {
		return trimOWS(list[:i]), list[i+1:]
	}
	return trimOWS(list), nil
}

// offsetIn returns where sub, a subslice of buf, starts within buf.
func offsetIn(buf, sub []byte) int {
	return cap(buf) - cap(sub)
}

func trimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// equalFold reports whether b equals lower, a lower-case ASCII string, ignoring ASCII case.
func equalFold(b []byte, lower string) bool {
	if len(b) != len(lower) {
		return false
	}
	for i := range len(b) {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func isHex(c byte) bool { return isDigit(c) || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' }

func unhex(c byte) byte {
	switch {
	case isDigit(c):
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

// valueByte reports whether c may appear in a field value: visible ASCII, space, tab and
// obs-text; never a control byte, so no CR or LF can be smuggled in.
func valueByte(c byte) bool {
	return c == '\t' || c >= ' ' && c != 0x7f
}

const (
	alnum = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
)

// Byte classes.
var (
	// tchar: the bytes of a token (method, field name), RFC 9110 §5.6.2.
	tchar = byteClass(alnum + "!#$%&'*+-.^_`|~")
	// targetByte: visible ASCII except '#' (a fragment is never sent).
	targetByte = byteRange(0x21, 0x7e, "#")
	// hostByte: what a Host value may hold (reg-name, IP literals, port, escapes).
	hostByte = byteClass(alnum + "-._~!$&'()*+,;=:[]%")
	// hostNameByte: the host of an absolute-form target; deliberately narrower than hostByte.
	hostNameByte = byteClass(alnum + "-.")
)

func byteClass(s string) (t [256]bool) {
	for i := range len(s) {
		t[s[i]] = true
	}
	return t
}

func byteRange(lo, hi byte, except string) (t [256]bool) {
	for c := int(lo); c <= int(hi); c++ {
		t[c] = true
	}
	for i := range len(except) {
		t[except[i]] = false
	}
	return t
}
