package http1

import "bytes"

// DetectLimit is the most bytes Detect waits for: a prefix still
// consistent with a request line after this many bytes is decided then.
const DetectLimit = 1024

// Detect classifies the first bytes of a stream. It returns HTTPRequest for
// "METHOD SP target SP HTTP/1." with METHOD 1 to 20 upper-case letters, '_'
// or '-' (leading blank lines allowed; once the line is complete, the
// parser's tolerant request-line rule decides, so "GET /HTTP/1.1" and
// "OPTIONS HTTP/1.1" are requests too), HTTPResponse for "HTTP/1.d SP",
// NeedMore while b is a consistent but short prefix of either, and NotHTTP
// otherwise (TLS, SSH, HTTP/2's preface, binary). From DetectLimit bytes on
// it never returns NeedMore: a request line whose target is that long is
// accepted only when its method is a well-known one.
func Detect(b []byte) Verdict {
	if len(b) > DetectLimit {
		b = b[:DetectLimit]
	}
	full := len(b) == DetectLimit
	i := 0
	for i < len(b) && (b[i] == '\r' || b[i] == '\n') && i < 8 {
		i++
	}
	b = b[i:]
	if len(b) == 0 {
		if full || i >= 8 {
			return NotHTTP
		}
		return NeedMore
	}
	if b[0] == 'H' {
		if v := detectStatus(b); v != NotHTTP {
			return v
		}
	}
	return detectRequest(b, full)
}

func detectStatus(b []byte) Verdict {
	const lit = "HTTP/1."
	for i := 0; i < len(b) && i < 9; i++ {
		switch {
		case i < 7:
			if b[i] != lit[i] {
				return NotHTTP
			}
		case i == 7:
			if b[i] < '0' || b[i] > '9' {
				return NotHTTP
			}
		case i == 8:
			if b[i] != ' ' {
				return NotHTTP
			}
			return HTTPResponse
		}
	}
	return NeedMore
}

func detectRequest(b []byte, full bool) Verdict {
	m := 0
	for m < len(b) && b[m] != ' ' {
		if !isMethodByte(b[m]) || m == maxResyncMethod {
			return NotHTTP
		}
		m++
	}
	if m == len(b) {
		return NeedMore
	}
	if m == 0 {
		return NotHTTP
	}
	if eol := bytes.IndexByte(b, '\n'); eol >= 0 {
		// A complete line: the parser's own (tolerant) rule decides.
		if _, _, _, _, ok := splitRequestLine(trimEOL(b[:eol+1])); ok {
			return HTTPRequest
		}
		return NotHTTP
	}
	t := m + 1
	for t < len(b) && b[t] != ' ' {
		if !isTargetByte(b[t]) && b[t] != '\r' {
			return NotHTTP
		}
		t++
	}
	if t == len(b) {
		if full && t > m+1 && isKnownMethod(b[:m]) {
			return HTTPRequest
		}
		if full {
			return NotHTTP
		}
		return NeedMore
	}
	if t == m+1 {
		return NotHTTP
	}
	const lit = " HTTP/1."
	rest := b[t:]
	for i := 0; i < len(rest) && i < len(lit); i++ {
		if rest[i] != lit[i] {
			return NotHTTP
		}
	}
	if len(rest) >= len(lit) {
		return HTTPRequest
	}
	if full {
		return NotHTTP
	}
	return NeedMore
}
