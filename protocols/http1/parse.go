package http1

import "bytes"

// parseStatus is the verdict of one parser.parse call.
type parseStatus uint8

const (
	// needMore: the bytes so far are a valid prefix of a request; wait for more.
	needMore parseStatus = iota
	// complete: a whole request (body and trailers included) is in the buffer; req.end is its
	// length.
	complete
	// failed: the bytes can never become a valid request; parser.err says why.
	failed
)

// phase is where the parser stands in the current request.
type phase uint8

const (
	phaseRequestLine phase = iota
	phaseHeaders
	phaseBody      // Content-Length body
	phaseChunkSize // a chunk-size line
	phaseChunkData // chunk data and the CRLF after it
	phaseTrailers  // the trailer section after the last chunk
	phaseDone
)

// methodKind names the methods the routes care about; every other valid token is methodOther.
type methodKind uint8

const (
	methodOther methodKind = iota
	methodGET
	methodHEAD
	methodPOST
	methodPUT
)

// Framing limits that are not configurable: they are far above what honest clients send and
// keep the chunked decoder as strict as net/http's (see the fuzz test).
const (
	// maxChunkLine bounds a chunk-size line, extensions and CRLF included.
	maxChunkLine = 1024
	// maxChunkExcess bounds chunk framing beyond what the data justifies (net/http applies the
	// same accounting: 16 bytes per chunk plus twice its data are free).
	maxChunkExcess = 16 << 10
	// maxContentLengthDigits keeps the Content-Length arithmetic far from overflow.
	maxContentLengthDigits = 18
)

// limits are the configurable bounds, in bytes, with defaults already applied.
type limits struct {
	requestLine int // the request line, CRLF included
	header      int // the header block after the request line (and a trailer section)
	body        int // a body, decoded
}

// request is what the parser learned about the current request. It holds offsets relative to
// the first byte of the request, never slices: the inbound bytes are lent for one OnData call,
// while a request may span several.
type request struct {
	method                 methodKind
	methodEnd              int // the method is [0, methodEnd)
	targetStart, targetEnd int // the request target as sent
	pathStart, pathEnd     int // the path routed on: the target's path, query excluded
	minor                  int // HTTP/1.minor: 0 or 1

	hosts          int   // Host fields seen
	contentLength  int64 // -1 when absent
	clTooLarge     bool  // Content-Length over the body limit (reported after framing checks)
	transferCoding bool  // a Transfer-Encoding field was present
	chunked        bool  // ... and it said exactly "chunked"
	connClose      bool  // Connection: close
	connKeepAlive  bool  // Connection: keep-alive
	expectContinue bool  // Expect: 100-continue on HTTP/1.1
	expectOther    bool  // any other expectation
	ctypeStart     int   // Content-Type value, trimmed; ctypeEnd == 0 when absent
	ctypeEnd       int

	bodyStart int   // first byte after the header block
	bodyLen   int64 // body bytes, decoded
	end       int   // first byte after the whole request
}

// keepAlive reports whether the connection stays open after this request's response.
func (r *request) keepAlive() bool {
	if r.connClose {
		return false
	}
	return r.minor == 1 || r.connKeepAlive
}

// parser reads one request at a time, incrementally: called again with the same bytes plus
// more, it resumes where it stopped, so input that arrives one byte at a time costs O(n)
// overall, not O(n²). It never allocates and never modifies its input.
type parser struct {
	lim limits

	phase     phase
	pos       int   // start of the next unparsed line or chunk
	scan      int   // bytes in [pos, scan) have been searched and hold no '\n'
	methodSP  int   // index of the space ending the method, 0 while not seen
	headerEnd int   // limit on the end of the header block or trailer section
	chunkLeft int64 // data bytes of the current chunk
	wire      int64 // bytes of chunked framing and data so far
	excess    int64 // chunk framing not justified by data (see maxChunkExcess)

	req request
	err *refusal
}

// newParser returns a parser ready for the first request.
func newParser(lim limits) parser {
	p := parser{lim: lim}
	p.reset()
	return p
}

// reset prepares the parser for the next request, whose first byte will be buf[0].
func (p *parser) reset() {
	lim := p.lim
	*p = parser{lim: lim}
	p.req.contentLength = -1
}

// headersDone reports whether the whole header block of the current request has been parsed.
func (p *parser) headersDone() bool {
	return p.phase > phaseHeaders && p.err == nil
}

func (p *parser) fail(e *refusal) parseStatus {
	p.err = e
	return failed
}

// parse examines buf, which starts at the first byte of the current request and holds every
// byte received since (possibly more than one request). It returns needMore, complete (the
// request is buf[:p.req.end]) or failed (p.err).
func (p *parser) parse(buf []byte) parseStatus {
	if p.err != nil {
		return failed
	}
	for {
		switch p.phase {
		case phaseRequestLine:
			nl := p.requestLineEnd(buf)
			if p.err != nil {
				return failed
			}
			if nl < 0 {
				if len(buf) > p.lim.requestLine {
					return p.fail(lineTooLong(buf[:p.lim.requestLine], p.lim.requestLine))
				}
				return needMore
			}
			if nl == 0 || buf[nl-1] != '\r' {
				return p.fail(errBareLF)
			}
			if e := p.requestLine(buf[:nl-1]); e != nil {
				return p.fail(e)
			}
			p.advance(nl + 1)
			p.headerEnd = p.pos + p.lim.header
			p.phase = phaseHeaders

		case phaseHeaders:
			nl := p.lineEnd(buf)
			if nl < 0 || nl >= p.headerEnd {
				if nl >= 0 || len(buf) > p.headerEnd {
					return p.fail(errHeaderTooLarge)
				}
				return needMore
			}
			if nl == p.pos || buf[nl-1] != '\r' {
				return p.fail(errBareLF)
			}
			line := buf[p.pos : nl-1]
			p.advance(nl + 1)
			if len(line) == 0 {
				if e := p.endOfHeaders(); e != nil {
					return p.fail(e)
				}
				continue
			}
			name, value, e := fieldLine(line)
			if e != nil {
				return p.fail(e)
			}
			if e := p.header(name, value, buf); e != nil {
				return p.fail(e)
			}

		case phaseBody:
			end := p.req.bodyStart + int(p.req.contentLength)
			if len(buf) < end {
				return needMore
			}
			p.req.bodyLen = p.req.contentLength
			p.req.end = end
			p.phase = phaseDone

		case phaseChunkSize:
			nl := p.lineEnd(buf)
			if nl < 0 || nl+1-p.pos > maxChunkLine {
				if nl >= 0 || len(buf)-p.pos > maxChunkLine {
					return p.fail(errChunkLineTooLong)
				}
				return needMore
			}
			if nl == p.pos || buf[nl-1] != '\r' {
				return p.fail(errBareLF)
			}
			line := buf[p.pos : nl-1]
			size, e := chunkSize(line)
			if e != nil {
				return p.fail(e)
			}
			// The same overhead accounting as net/http, so that a stream of tiny chunks with
			// long extensions cannot pass here while net/http refuses it.
			p.excess += int64(len(line)) + 2 - 16 - 2*size
			p.excess = max(p.excess, 0)
			if p.excess > maxChunkExcess {
				return p.fail(errChunkOverhead)
			}
			if size > int64(p.lim.body)-p.req.bodyLen {
				return p.fail(errBodyTooLarge)
			}
			p.wire += int64(nl+1-p.pos) + size + 2
			if p.wire > 2*int64(p.lim.body)+maxChunkExcess {
				return p.fail(errBodyTooLarge)
			}
			p.advance(nl + 1)
			if size == 0 {
				p.headerEnd = p.pos + p.lim.header
				p.phase = phaseTrailers
				continue
			}
			p.chunkLeft = size
			p.phase = phaseChunkData

		case phaseChunkData:
			end := p.pos + int(p.chunkLeft)
			if len(buf) < end+2 {
				// Fail early on a wrong terminator rather than wait for bytes that cannot help.
				if len(buf) > end && buf[end] != '\r' {
					return p.fail(errChunkNoCRLF)
				}
				return needMore
			}
			if buf[end] != '\r' || buf[end+1] != '\n' {
				return p.fail(errChunkNoCRLF)
			}
			p.req.bodyLen += p.chunkLeft
			p.chunkLeft = 0
			p.advance(end + 2)
			p.phase = phaseChunkSize

		case phaseTrailers:
			nl := p.lineEnd(buf)
			if nl < 0 || nl >= p.headerEnd {
				if nl >= 0 || len(buf) > p.headerEnd {
					return p.fail(errTrailerTooLarge)
				}
				return needMore
			}
			if nl == p.pos || buf[nl-1] != '\r' {
				return p.fail(errBareLF)
			}
			line := buf[p.pos : nl-1]
			p.advance(nl + 1)
			if len(line) == 0 {
				p.req.end = p.pos
				p.phase = phaseDone
				continue
			}
			// Trailer fields are checked like header fields, then ignored: none of them may
			// change how the request is framed or routed.
			if _, _, e := fieldLine(line); e != nil {
				return p.fail(e)
			}

		case phaseDone:
			return complete
		}
	}
}

// advance moves past a parsed element ending at buf[i-1].
func (p *parser) advance(i int) {
	p.pos, p.scan = i, i
}

// lineEnd returns the index of the '\n' that ends the line starting at p.pos, or -1, searching
// only bytes not searched before.
func (p *parser) lineEnd(buf []byte) int {
	if i := bytes.IndexByte(buf[p.scan:], '\n'); i >= 0 {
		return p.scan + i
	}
	p.scan = len(buf)
	return -1
}

// requestLineEnd is lineEnd for the request line; on the way it checks the method's bytes as
// they arrive, so that a peer speaking something else (TLS, binary garbage) gets its 400 at
// once instead of after MaxRequestLine bytes. It looks no further than the limit, so the
// verdict on a long line does not depend on how its bytes were split into reads.
func (p *parser) requestLineEnd(buf []byte) int {
	end := min(len(buf), p.lim.requestLine)
	if p.scan >= end {
		return -1
	}
	// The '\n' by IndexByte, then the method's few bytes before it: the same checks, in the
	// same order, as one loop over every byte would make, at a fraction of the cost.
	nl := bytes.IndexByte(buf[p.scan:end], '\n')
	stop := end
	if nl >= 0 {
		nl += p.scan
		stop = nl
	}
	for i := p.scan; i < stop && p.methodSP == 0; i++ {
		switch c := buf[i]; {
		case c == ' ' && i > 0:
			p.methodSP = i
		case !tchar[c]:
			p.err = errMethod
			return -1
		}
	}
	p.scan = stop
	return nl
}

// lineTooLong tells a request line over the limit whose target is to blame (414) from one
// whose method or version is (400). line is the request line's first bytes, at most limit.
func lineTooLong(line []byte, limit int) *refusal {
	sp1 := bytes.IndexByte(line, ' ')
	if sp1 < 0 {
		return errRequestLineTooLong
	}
	sp2 := bytes.IndexByte(line[sp1+1:], ' ')
	// With an ordinary version after it, would the target alone push the line past the limit?
	if sp2 < 0 || sp1+1+sp2+len(" HTTP/1.1\r\n") > limit {
		return errURITooLong
	}
	return errRequestLineTooLong
}

// requestLine parses method SP request-target SP HTTP-version (CRLF removed).
func (p *parser) requestLine(line []byte) *refusal {
	sp1 := p.methodSP
	if sp1 == 0 {
		return errRequestLine
	}
	sp2 := bytes.IndexByte(line[sp1+1:], ' ')
	if sp2 < 0 {
		return errRequestLine
	}
	sp2 += sp1 + 1
	r := &p.req
	r.methodEnd = sp1
	r.method = methodOf(line[:sp1])
	r.targetStart, r.targetEnd = sp1+1, sp2

	// The version first: a request that is not HTTP/1.x gets 505 whatever its target.
	v := line[sp2+1:]
	if len(v) != len("HTTP/1.1") || string(v[:5]) != "HTTP/" || !isDigit(v[5]) || v[6] != '.' || !isDigit(v[7]) {
		return errVersion
	}
	if v[5] != '1' || v[7] > '1' {
		return errVersionNotSupported
	}
	r.minor = int(v[7] - '0')

	start, end, e := targetPath(line[sp1+1 : sp2])
	if e != nil {
		return e
	}
	r.pathStart, r.pathEnd = sp1+1+start, sp1+1+end
	return nil
}

// methodOf classifies a method token (case-sensitive, as the RFC says).
func methodOf(m []byte) methodKind {
	switch string(m) {
	case "GET":
		return methodGET
	case "HEAD":
		return methodHEAD
	case "POST":
		return methodPOST
	case "PUT":
		return methodPUT
	}
	return methodOther
}

// targetPath checks a request target and returns where its path lies within it. Accepted:
// origin-form ("/path?query") and absolute-form ("http://host[:port]/path?query"), made of
// visible ASCII without '#', with every '%' starting a valid escape. The path of an
// absolute-form target without one is empty (routed as "/").
func targetPath(t []byte) (start, end int, e *refusal) {
	if len(t) == 0 {
		return 0, 0, errTarget
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		if !targetByte[c] {
			return 0, 0, errTarget
		}
		if c == '%' {
			if i+2 >= len(t) || !isHex(t[i+1]) || !isHex(t[i+2]) {
				return 0, 0, errTarget
			}
			i += 2
		}
	}
	if t[0] == '/' {
		start = 0
	} else {
		// Absolute-form: a scheme we serve, then a plain host name or IPv4 address.
		var rest []byte
		switch {
		case len(t) >= 7 && equalFold(t[:7], "http://"):
			start = 7
		case len(t) >= 8 && equalFold(t[:8], "https://"):
			start = 8
		default:
			return 0, 0, errTargetForm
		}
		rest = t[start:]
		i := 0
		for i < len(rest) && hostNameByte[rest[i]] {
			i++
		}
		if i == 0 {
			return 0, 0, errTarget
		}
		if i < len(rest) && rest[i] == ':' {
			i++
			for i < len(rest) && isDigit(rest[i]) {
				i++
			}
		}
		if i < len(rest) && rest[i] != '/' && rest[i] != '?' {
			return 0, 0, errTarget
		}
		start += i
	}
	end = start
	for end < len(t) && t[end] != '?' {
		end++
	}
	return start, end, nil
}

// fieldLine splits a header or trailer line into name and value (optional whitespace
// trimmed) and checks both.
func fieldLine(line []byte) (name, value []byte, e *refusal) {
	if line[0] == ' ' || line[0] == '\t' {
		// obs-fold, or whitespace before the first field: both are ambiguous between parsers.
		return nil, nil, errObsFold
	}
	// One pass finds the colon and checks the name: ':' is not a tchar, so the first byte
	// that is not one either ends a valid name or is an error.
	colon := 0
	for colon < len(line) && tchar[line[colon]] {
		colon++
	}
	if colon == len(line) || line[colon] != ':' {
		// No colon at all, or a byte that may not be in a name before it.
		if bytes.IndexByte(line, ':') <= 0 {
			return nil, nil, errFieldLine
		}
		return nil, nil, errFieldName
	}
	if colon == 0 {
		return nil, nil, errFieldLine
	}
	name = line[:colon]
	value = line[colon+1:]
	for _, c := range value {
		if !valueByte(c) {
			return nil, nil, errFieldValue
		}
	}
	return name, trimOWS(value), nil
}

// header records what a header field means for framing, routing and the reply.
func (p *parser) header(name, value, buf []byte) *refusal {
	r := &p.req
	switch len(name) {
	case 4:
		if equalFold(name, "host") {
			r.hosts++
			for _, c := range value {
				if !hostByte[c] {
					return errHost
				}
			}
		}
	case 6:
		if equalFold(name, "expect") {
			switch {
			case !equalFold(value, "100-continue"):
				r.expectOther = true
			case r.minor == 1:
				// HTTP/1.0 clients do not know 100 Continue; RFC 9110 says to ignore it.
				r.expectContinue = true
			}
		}
	case 7:
		if equalFold(name, "trailer") {
			for rest := value; len(rest) > 0; {
				var tok []byte
				tok, rest = nextElement(rest)
				if equalFold(tok, "content-length") || equalFold(tok, "transfer-encoding") || equalFold(tok, "trailer") {
					return errTrailerField
				}
			}
		}
	case 10:
		if equalFold(name, "connection") {
			for rest := value; len(rest) > 0; {
				var tok []byte
				tok, rest = nextElement(rest)
				switch {
				case equalFold(tok, "close"):
					r.connClose = true
				case equalFold(tok, "keep-alive"):
					r.connKeepAlive = true
				}
			}
		}
	case 12:
		if equalFold(name, "content-type") && r.ctypeEnd == 0 && len(value) > 0 {
			r.ctypeStart = offsetIn(buf, value)
			r.ctypeEnd = r.ctypeStart + len(value)
		}
	case 14:
		if equalFold(name, "content-length") {
			if r.contentLength >= 0 {
				// Even two equal values are refused: a message that says its length twice
				// invites parsers to disagree on it.
				return errDuplicateCL
			}
			if len(value) == 0 {
				return errContentLength
			}
			var n int64
			for _, c := range value {
				if !isDigit(c) {
					return errContentLength
				}
			}
			digits := bytes.TrimLeft(value, "0")
			if len(digits) > maxContentLengthDigits {
				r.clTooLarge = true
				n = 0
			} else {
				for _, c := range digits {
					n = n*10 + int64(c-'0')
				}
				r.clTooLarge = n > int64(p.lim.body)
			}
			r.contentLength = n
		}
	case 17:
		if equalFold(name, "transfer-encoding") {
			if r.transferCoding {
				return errTransferEncoding
			}
			r.transferCoding = true
			if !equalFold(value, "chunked") {
				return errTransferEncoding
			}
			r.chunked = true
		}
	}
	return nil
}

// endOfHeaders checks the header block as a whole and picks how the body is framed.
func (p *parser) endOfHeaders() *refusal {
	r := &p.req
	switch {
	case r.hosts == 0 && r.minor == 1:
		return errNoHost
	case r.hosts > 1:
		return errManyHosts
	case r.transferCoding && r.minor == 0:
		return errTransferEncoding10
	case r.chunked && r.contentLength >= 0:
		return errCLAndTE
	case r.clTooLarge:
		return errBodyTooLarge
	}
	r.bodyStart = p.pos
	switch {
	case r.chunked:
		p.phase = phaseChunkSize
	case r.contentLength > 0:
		p.phase = phaseBody
	default:
		r.contentLength = max(r.contentLength, 0)
		r.end = r.bodyStart
		p.phase = phaseDone
	}
	return nil
}
