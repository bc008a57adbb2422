package http1

import "bytes"

// chunkSize parses a chunk-size line (CRLF removed): 1 to 16 hex digits, then optional
// whitespace and/or ";" and extensions, which are checked for control bytes and ignored.
func chunkSize(line []byte) (int64, *refusal) {
	var n int64
	i := 0
	for i < len(line) && isHex(line[i]) {
		if i == 16 {
			return 0, errChunkSize
		}
		n = n<<4 | int64(unhex(line[i]))
		i++
	}
	if i == 0 || n < 0 {
		return 0, errChunkSize
	}
	rest := line[i:]
	if len(rest) == 0 {
		return n, nil
	}
	if rest[0] == ';' {
		for _, c := range rest[1:] {
			if !valueByte(c) {
				return 0, errChunkExtension
			}
		}
		return n, nil
	}
	// net/http allows trailing whitespace after the size, but not whitespace before ';'.
	for _, c := range rest {
		if c != ' ' && c != '\t' {
			return 0, errChunkSize
		}
	}
	return n, nil
}

// chunkIter walks the data of a chunked body that parse has already validated.
type chunkIter struct {
	buf []byte // the request, from its first byte
	pos int
}

// next returns the next chunk's data, or nil after the last chunk.
func (it *chunkIter) next() []byte {
	var n int
	i := it.pos
	for ; isHex(it.buf[i]); i++ {
		n = n<<4 | int(unhex(it.buf[i]))
	}
	if n == 0 {
		return nil
	}
	i += bytes.IndexByte(it.buf[i:], '\n') + 1
	it.pos = i + n + 2
	return it.buf[i : i+n]
}
