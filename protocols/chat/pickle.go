package chat

import (
	"encoding/binary"
	"errors"
	"fmt"
	"unicode/utf8"
)

// The classic wire is the framing of the classic Python select() chat server and client: every
// message is an 8-byte header, struct.pack("L", socket.htonl(len(body))) on a 64-bit
// little-endian machine — the body's length as a big-endian uint32, then four zero bytes — and a
// body that is a pickle of a tuple of strings, of which the receiver takes the first.
// docs/protocols.md describes it byte by byte.

// ClassicHeaderLen is the length of a classic frame's header.
const ClassicHeaderLen = 8

// DefaultMaxClassicFrame bounds a classic frame's body when Config.MaxLine leaves room for it:
// a pickle of a max_line line needs up to 6 bytes per byte of text (protocol 0 writes a
// newline as \u000a), so the bound is max(DefaultMaxClassicFrame, 6×MaxLine+64).
const DefaultMaxClassicFrame = 64 << 10

// Errors of the classic wire. DecodeClassic's errors wrap ErrPickle; ClassicFrameLen's wrap
// ErrClassicHeader or ErrClassicFrameSize.
var (
	ErrClassicHeader    = errors.New("chat: not a classic frame header (want the length as 4 big-endian bytes, then 4 zero bytes)")
	ErrClassicFrameSize = errors.New("chat: classic frame size out of bounds")
	ErrPickle           = errors.New("chat: not a pickled tuple of strings")
)

// ClassicFrameLen reads a classic frame header (at least ClassicHeaderLen bytes of h) and
// returns the length of the body that follows. A header whose upper four bytes are not zero
// (not what htonl packed into a native unsigned long gives) wraps ErrClassicHeader; a body
// longer than max, or empty (no pickle is empty), wraps ErrClassicFrameSize.
func ClassicFrameLen(h []byte, max int) (int, error) {
	if len(h) < ClassicHeaderLen || binary.LittleEndian.Uint32(h[4:8]) != 0 {
		return 0, ErrClassicHeader
	}
	n := int(binary.BigEndian.Uint32(h[:4]))
	if n == 0 {
		return 0, fmt.Errorf("%w: an empty frame holds no pickle", ErrClassicFrameSize)
	}
	if n > max {
		return 0, fmt.Errorf("%w: %d bytes, over the limit of %d", ErrClassicFrameSize, n, max)
	}
	return n, nil
}

// AppendClassic appends to dst a whole classic frame whose body is the pickle of the 1-tuple
// (text,), byte for byte what Python 3's pickle.dumps((text,), 0) writes, and returns the
// extended slice. Protocol 0 is what the classic programs wrote (Python 2's default), and every
// Python unpickles it. Invalid UTF-8 in text is sent as U+FFFD. It allocates nothing when dst
// has room.
func AppendClassic(dst []byte, text []byte) []byte {
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0, 0, 0, 0, 0, '(', 'V')
	const hex = "0123456789abcdef"
	for i := 0; i < len(text); {
		r, size := rune(text[i]), 1
		if r >= utf8.RuneSelf {
			r, size = utf8.DecodeRune(text[i:])
		}
		i += size
		switch {
		case r == '\\' || r == 0 || r == '\n' || r == '\r' || r == 0x1a:
			// pickle escapes these itself before raw-unicode-escape: a backslash would
			// start an escape, the others end lines on some systems.
			dst = append(dst, '\\', 'u', '0', '0', hex[r>>4], hex[r&0xf])
		case r < 0x100:
			dst = append(dst, byte(r)) // raw-unicode-escape: Latin-1 as one byte
		case r < 0x10000:
			dst = append(dst, '\\', 'u', hex[r>>12], hex[r>>8&0xf], hex[r>>4&0xf], hex[r&0xf])
		default:
			dst = append(dst, '\\', 'U', '0', '0', '0', hex[r>>16], hex[r>>12&0xf], hex[r>>8&0xf], hex[r>>4&0xf], hex[r&0xf])
		}
	}
	dst = append(dst, "\np0\ntp1\n."...)
	binary.BigEndian.PutUint32(dst[start:], uint32(len(dst)-start-ClassicHeaderLen))
	return dst
}

// Pickle opcodes DecodeClassic accepts; every other byte where an opcode is due is refused.
const (
	opMark        = '('    // protocol 0: MARK
	opStop        = '.'    // STOP
	opUnicode     = 'V'    // protocol 0: UNICODE, raw-unicode-escape text up to a newline
	opString      = 'S'    // protocol 0: STRING, a quoted Python 2 str literal up to a newline
	opPut         = 'p'    // protocol 0: PUT, decimal memo index up to a newline
	opGet         = 'g'    // protocol 0: GET
	opTuple       = 't'    // protocol 0: TUPLE of everything above the mark
	opBinUnicode  = 'X'    // protocol 1: BINUNICODE, 4-byte little-endian length, UTF-8
	opBinPut      = 'q'    // protocol 1: BINPUT, 1-byte memo index
	opLongBinPut  = 'r'    // protocol 1: LONG_BINPUT, 4-byte memo index
	opBinGet      = 'h'    // protocol 1: BINGET
	opLongBinGet  = 'j'    // protocol 1: LONG_BINGET
	opProto       = '\x80' // protocol 2: PROTO, the version
	opTuple1      = '\x85' // protocol 2: TUPLE1
	opTuple2      = '\x86' // protocol 2: TUPLE2
	opTuple3      = '\x87' // protocol 2: TUPLE3
	opShortBinUni = '\x8c' // protocol 4: SHORT_BINUNICODE, 1-byte length, UTF-8
	opMemoize     = '\x94' // protocol 4: MEMOIZE, memo index = entries so far
	opFrame       = '\x95' // protocol 4: FRAME, 8-byte length of what follows
)

// maxMemo bounds memo indexes: the classic programs pickle a 1-tuple, which uses two.
const maxMemo = 256

// DecodeClassic decodes body, a pickle, and appends the first element of the tuple it holds to
// dst as UTF-8, returning the extended slice. Only a tuple of one or more strings is accepted,
// pickled in any protocol from 0 to 5 with the opcodes Python's pickle uses for it (the list
// is in docs/protocols.md); anything else — other types, other opcodes, a truncated or
// malformed pickle, bytes after STOP — is refused with an error wrapping ErrPickle, and dst
// comes back as it was. Nothing is ever executed or constructed: this is a parser for one
// shape, not an unpickler. It allocates nothing when dst has room for the text of every
// string in body.
func DecodeClassic(dst, body []byte) ([]byte, error) {
	d := pickleDecoder{body: body, base: len(dst)}
	out, err := d.run(dst)
	if err != nil {
		return dst[:d.base], err
	}
	return out, nil
}

type pickleDecoder struct {
	body []byte
	pos  int
	base int // len(dst) at the start: the first string goes from here

	marked bool // a MARK is on the stack (it must be the bottom item)
	tupled bool // the tuple has been built: only memo puts and STOP may follow
	strs   int  // strings on the stack
	first  int  // end of the first string in dst, once haveFirst

	haveFirst bool

	memoStr  [maxMemo / 64]uint64 // memo indexes holding a string
	memoSet  [maxMemo / 64]uint64 // memo indexes holding anything
	memoUsed int                  // distinct memo indexes set (MEMOIZE's next index)
}

func (d *pickleDecoder) fail(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrPickle}, args...)...)
}

func (d *pickleDecoder) run(dst []byte) ([]byte, error) {
	for d.pos < len(d.body) {
		at := d.pos
		op := d.body[at]
		d.pos++
		var err error
		switch op {
		case opProto:
			if at != 0 {
				return nil, d.fail("PROTO at offset %d; it may only come first", at)
			}
			var v []byte
			if v, err = d.take(1); err == nil && v[0] > 5 {
				return nil, d.fail("pickle protocol %d; this reader knows 0 to 5", v[0])
			}
		case opFrame:
			var v []byte
			if v, err = d.take(8); err == nil && binary.LittleEndian.Uint64(v) > uint64(len(d.body)-d.pos) {
				return nil, d.fail("FRAME of %d bytes where %d remain", binary.LittleEndian.Uint64(v), len(d.body)-d.pos)
			}
		case opMark:
			if d.marked || d.strs > 0 || d.tupled {
				return nil, d.fail("MARK at offset %d: only one, before the strings", at)
			}
			d.marked = true
		case opUnicode, opString, opBinUnicode, opShortBinUni:
			if d.tupled {
				return nil, d.fail("a string after the tuple at offset %d", at)
			}
			if dst, err = d.str(op, dst); err == nil {
				d.strs++
				if !d.haveFirst {
					d.first, d.haveFirst = len(dst), true
				} else {
					dst = dst[:d.first] // checked; only the first is kept
				}
			}
		case opGet, opBinGet, opLongBinGet:
			var i int
			if i, err = d.memoIndex(op); err == nil {
				if d.tupled || !d.isMemo(&d.memoStr, i) {
					return nil, d.fail("GET of memo %d at offset %d, which holds no string of the tuple", i, at)
				}
				d.strs++
			}
		case opPut, opBinPut, opLongBinPut, opMemoize:
			i := d.memoUsed
			if op != opMemoize {
				if i, err = d.memoIndex(op); err != nil {
					break
				}
			}
			if d.strs == 0 && !d.tupled {
				return nil, d.fail("memo put at offset %d with no string or tuple on top", at)
			}
			d.memoize(i, !d.tupled)
		case opTuple:
			if !d.marked || d.tupled {
				return nil, d.fail("TUPLE at offset %d without its MARK", at)
			}
			d.tupled = true
		case opTuple1, opTuple2, opTuple3:
			if n := int(op-opTuple1) + 1; d.marked || d.tupled || d.strs != n {
				return nil, d.fail("TUPLE%d at offset %d over %d strings", n, at, d.strs)
			}
			d.tupled = true
		case opStop:
			switch {
			case !d.tupled:
				return nil, d.fail("STOP at offset %d before a tuple", at)
			case d.strs == 0:
				return nil, d.fail("an empty tuple: no message")
			case d.pos != len(d.body):
				return nil, d.fail("%d bytes after STOP", len(d.body)-d.pos)
			}
			return dst[:d.first], nil
		default:
			return nil, d.fail("opcode %s at offset %d is not one a tuple of strings is pickled with", opName(op), at)
		}
		if err != nil {
			return nil, err
		}
	}
	return nil, d.fail("truncated: no STOP")
}

// take consumes n bytes of argument.
func (d *pickleDecoder) take(n int) ([]byte, error) {
	if n < 0 || len(d.body)-d.pos < n {
		return nil, d.fail("truncated at offset %d", d.pos)
	}
	v := d.body[d.pos : d.pos+n]
	d.pos += n
	return v, nil
}

// line consumes an argument that runs to a newline, and returns it without the newline.
func (d *pickleDecoder) line() ([]byte, error) {
	for i := d.pos; i < len(d.body); i++ {
		if d.body[i] == '\n' {
			v := d.body[d.pos:i]
			d.pos = i + 1
			return v, nil
		}
	}
	return nil, d.fail("truncated at offset %d: no newline ends the argument", d.pos)
}

// memoIndex reads the index argument of a put or get.
func (d *pickleDecoder) memoIndex(op byte) (int, error) {
	var i uint64
	switch op {
	case opPut, opGet:
		v, err := d.line()
		if err != nil {
			return 0, err
		}
		if len(v) == 0 || len(v) > 3 {
			return 0, d.fail("memo index %q: want 1 to 3 decimal digits", v)
		}
		for _, c := range v {
			if c < '0' || c > '9' {
				return 0, d.fail("memo index %q: want 1 to 3 decimal digits", v)
			}
			i = i*10 + uint64(c-'0')
		}
	case opBinPut, opBinGet:
		v, err := d.take(1)
		if err != nil {
			return 0, err
		}
		i = uint64(v[0])
	default: // opLongBinPut, opLongBinGet
		v, err := d.take(4)
		if err != nil {
			return 0, err
		}
		i = uint64(binary.LittleEndian.Uint32(v))
	}
	if i >= maxMemo {
		return 0, d.fail("memo index %d; this reader keeps %d", i, maxMemo)
	}
	return int(i), nil
}

func (d *pickleDecoder) isMemo(set *[maxMemo / 64]uint64, i int) bool {
	return set[i/64]&(1<<(i%64)) != 0
}

func (d *pickleDecoder) memoize(i int, str bool) {
	bit := uint64(1) << (i % 64)
	if d.memoSet[i/64]&bit == 0 {
		d.memoUsed++
	}
	d.memoSet[i/64] |= bit
	if str {
		d.memoStr[i/64] |= bit
	} else {
		d.memoStr[i/64] &^= bit
	}
}

// str decodes the argument of a string opcode and appends its text to dst.
func (d *pickleDecoder) str(op byte, dst []byte) ([]byte, error) {
	switch op {
	case opUnicode:
		v, err := d.line()
		if err != nil {
			return dst, err
		}
		return d.rawUnicodeEscape(dst, v)
	case opString:
		v, err := d.line()
		if err != nil {
			return dst, err
		}
		return d.quoted(dst, v)
	}
	var n int
	if op == opShortBinUni {
		v, err := d.take(1)
		if err != nil {
			return dst, err
		}
		n = int(v[0])
	} else {
		v, err := d.take(4)
		if err != nil {
			return dst, err
		}
		n = int(binary.LittleEndian.Uint32(v))
	}
	v, err := d.take(n)
	if err != nil {
		return dst, err
	}
	if !utf8.Valid(v) {
		return dst, d.fail("a string that is not UTF-8 at offset %d", d.pos-n)
	}
	return append(dst, v...), nil
}

// rawUnicodeEscape decodes Python's raw-unicode-escape: every byte is the code point of its
// value (Latin-1), except that \uXXXX and \UXXXXXXXX, after an odd number of backslashes, are
// the code point they spell. A surrogate, which UTF-8 cannot carry, becomes U+FFFD.
func (d *pickleDecoder) rawUnicodeEscape(dst, v []byte) ([]byte, error) {
	for i := 0; i < len(v); {
		c := v[i]
		if c != '\\' {
			dst = utf8.AppendRune(dst, rune(c))
			i++
			continue
		}
		run := i
		for i < len(v) && v[i] == '\\' {
			i++
		}
		n := i - run
		if n%2 == 0 || i == len(v) || v[i] != 'u' && v[i] != 'U' {
			dst = append(dst, v[run:i]...)
			continue
		}
		dst = append(dst, v[run:i-1]...) // all but the escaping backslash
		digits := 4
		if v[i] == 'U' {
			digits = 8
		}
		i++
		if len(v)-i < digits {
			return dst, d.fail("truncated \\u escape")
		}
		r, ok := parseHex(v[i : i+digits])
		if !ok || r > utf8.MaxRune {
			return dst, d.fail("bad escape %q", v[i-2:i+digits])
		}
		i += digits
		dst = utf8.AppendRune(dst, rune(r)) // a surrogate comes out as U+FFFD
	}
	return dst, nil
}

// quoted decodes the argument of STRING: a Python 2 str literal as repr() writes it, in single
// or double quotes, with the escapes \\ \' \" \n \r \t \a \b \f \v, \xHH and octal \OOO. Its
// bytes are taken as they are (Python 2 programs wrote UTF-8); other escapes are refused.
func (d *pickleDecoder) quoted(dst, v []byte) ([]byte, error) {
	if len(v) < 2 || v[0] != v[len(v)-1] || v[0] != '\'' && v[0] != '"' {
		return dst, d.fail("STRING argument %q is not quoted", v)
	}
	v = v[1 : len(v)-1]
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c != '\\' {
			dst = append(dst, c)
			continue
		}
		i++
		if i == len(v) {
			return dst, d.fail("STRING ends in a backslash")
		}
		switch e := v[i]; e {
		case '\\', '\'', '"':
			dst = append(dst, e)
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'a':
			dst = append(dst, '\a')
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'v':
			dst = append(dst, '\v')
		case 'x':
			if len(v)-i < 3 {
				return dst, d.fail("truncated \\x escape in STRING")
			}
			b, ok := parseHex(v[i+1 : i+3])
			if !ok {
				return dst, d.fail("bad \\x escape %q in STRING", v[i-1:i+3])
			}
			dst = append(dst, byte(b))
			i += 2
		default:
			if e < '0' || e > '7' {
				return dst, d.fail("escape \\%c in STRING is not one repr() writes", e)
			}
			b := 0
			for k := 0; k < 3 && i < len(v) && v[i] >= '0' && v[i] <= '7'; k++ {
				b = b*8 + int(v[i]-'0')
				i++
			}
			i--
			dst = append(dst, byte(b)) // as Python 2: \777 is taken modulo 256
		}
	}
	return dst, nil
}

// parseHex reads hexadecimal digits, as many as fit in 32 bits.
func parseHex(v []byte) (uint32, bool) {
	var r uint32
	for _, c := range v {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | uint32(c)
	}
	return r, true
}

// opName shows an opcode as Python's pickletools does in its tables: the byte, and its
// character when printable.
func opName(op byte) string {
	if op >= ' ' && op < 0x7f {
		return fmt.Sprintf("0x%02x (%q)", op, op)
	}
	return fmt.Sprintf("0x%02x", op)
}
