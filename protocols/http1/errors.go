package http1

// refusal is why a request is not served: the status to answer with and a short reason for
// the reply's body. All of them are package-level values, so refusing costs no allocation.
type refusal struct {
	status int
	reason string
}

func (e *refusal) Error() string {
	return "http1: " + statusText(e.status) + ": " + e.reason
}

// The refusals, grouped by status.
var (
	errBareLF             = &refusal{400, "line not ended by CRLF"}
	errMethod             = &refusal{400, "invalid method"}
	errRequestLine        = &refusal{400, "malformed request line"}
	errRequestLineTooLong = &refusal{400, "request line too long"}
	errVersion            = &refusal{400, "malformed HTTP version"}
	errTarget             = &refusal{400, "invalid request target"}
	errTargetForm         = &refusal{400, "request target must be origin-form or absolute-form"}
	errObsFold            = &refusal{400, "folded or indented header line"}
	errFieldLine          = &refusal{400, "malformed header line"}
	errFieldName          = &refusal{400, "invalid header name"}
	errFieldValue         = &refusal{400, "invalid header value"}
	errHost               = &refusal{400, "invalid Host"}
	errNoHost             = &refusal{400, "missing Host header"}
	errManyHosts          = &refusal{400, "more than one Host header"}
	errContentLength      = &refusal{400, "invalid Content-Length"}
	errDuplicateCL        = &refusal{400, "more than one Content-Length"}
	errTransferEncoding   = &refusal{400, "Transfer-Encoding other than a single chunked"}
	errTransferEncoding10 = &refusal{400, "Transfer-Encoding in an HTTP/1.0 request"}
	errCLAndTE            = &refusal{400, "both Content-Length and Transfer-Encoding"}
	errTrailerField       = &refusal{400, "Trailer names a framing field"}
	errChunkSize          = &refusal{400, "invalid chunk size"}
	errChunkExtension     = &refusal{400, "invalid chunk extension"}
	errChunkLineTooLong   = &refusal{400, "chunk size line too long"}
	errChunkNoCRLF        = &refusal{400, "chunk data not followed by CRLF"}
	errChunkOverhead      = &refusal{400, "too much chunk framing for the data"}

	errNotFound         = &refusal{404, "no such path"}
	errRequestTimeout   = &refusal{408, "request not received in time"}
	errMethodNotAllowed = &refusal{405, "method not allowed for this path"}
	errBodyTooLarge     = &refusal{413, "request body too large"}
	errURITooLong       = &refusal{414, "request target too long"}
	errExpectation      = &refusal{417, "only 100-continue can be expected"}
	errHeaderTooLarge   = &refusal{431, "header block too large"}
	errTrailerTooLarge  = &refusal{431, "trailer section too large"}

	errVersionNotSupported = &refusal{505, "only HTTP/1.0 and HTTP/1.1 are served"}
)

// statusText is the reason phrase for the statuses this package sends.
func statusText(code int) string {
	switch code {
	case 100:
		return "Continue"
	case 200:
		return "OK"
	case 400:
		return "Bad Request"
	case 404:
		return "Not Found"
	case 405:
		return "Method Not Allowed"
	case 408:
		return "Request Timeout"
	case 413:
		return "Content Too Large"
	case 414:
		return "URI Too Long"
	case 417:
		return "Expectation Failed"
	case 431:
		return "Request Header Fields Too Large"
	case 505:
		return "HTTP Version Not Supported"
	}
	return "Unknown"
}
