package http1

import (
	"strings"
)

// tcharTab marks RFC 9110 token characters.
var tcharTab = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

func isTchar(c byte) bool { return tcharTab[c] }

// isMethodByte: the characters of a method as the resync scanner and Detect
// accept them (real methods are upper case: GET, M-SEARCH, CCM_POST).
func isMethodByte(c byte) bool { return c >= 'A' && c <= 'Z' || c == '_' || c == '-' }

// isTargetByte: a request-target byte (no space, no control character).
func isTargetByte(c byte) bool { return c > 0x20 && c != 0x7f }

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func hexVal(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

func isEmptyLine(line []byte) bool {
	return len(line) == 1 && line[0] == '\n' || len(line) == 2 && line[0] == '\r' && line[1] == '\n'
}

// trimEOL removes a trailing LF and then a trailing CR.
func trimEOL(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
	}
	if n := len(b); n > 0 && b[n-1] == '\r' {
		b = b[:n-1]
	}
	return b
}

func isHTTP1Version(b []byte) bool {
	return len(b) == 8 && string(b[:7]) == "HTTP/1." && b[7] >= '0' && b[7] <= '9'
}

// splitRequestLine checks a request line (without its line ending) and
// returns the method end, the target bounds and where the version starts.
// Besides "METHOD SP target SP HTTP/1.d" it accepts, as seen in real
// traffic and as servers answer them, a version missing its digit
// ("HTTP/1."), a missing target ("OPTIONS HTTP/1.1") and a target glued to
// the version ("GET /HTTP/1.1"). The target is everything between the
// method and the version, so a target with a stray space is kept as sent.
func splitRequestLine(line []byte) (mEnd, tStart, tEnd, vStart int, ok bool) {
	n := len(line)
	for mEnd < n && line[mEnd] != ' ' {
		if !isTchar(line[mEnd]) || mEnd == maxMethod {
			return 0, 0, 0, 0, false
		}
		mEnd++
	}
	if mEnd == 0 || mEnd == n {
		return 0, 0, 0, 0, false
	}
	tStart = mEnd
	for tStart < n && line[tStart] == ' ' {
		tStart++
	}
	// The version is the last "HTTP/1." after the method, followed by at
	// most one byte (a digit): it starts 7 or 8 bytes before the end, or
	// the line is not a request line.
	switch {
	case n-7 >= tStart && string(line[n-7:]) == "HTTP/1.":
		vStart = n - 7
	case n-8 >= tStart && string(line[n-8:n-1]) == "HTTP/1." && line[n-1] >= '0' && line[n-1] <= '9':
		vStart = n - 8
	default:
		return 0, 0, 0, 0, false
	}
	tEnd = vStart
	for tEnd > tStart && line[tEnd-1] == ' ' {
		tEnd--
	}
	for _, c := range line[tStart:tEnd] {
		if c < 0x20 && c != '\t' || c == 0x7f {
			return 0, 0, 0, 0, false
		}
	}
	return mEnd, tStart, tEnd, vStart, true
}

// splitStatusLine checks "HTTP/1.d SP DDD [SP reason]" (line without its
// line ending) and returns where the reason starts.
func splitStatusLine(line []byte) (rStart int, ok bool) {
	if len(line) < 12 || !statusPrefixOK(line) {
		return 0, false
	}
	if len(line) == 12 {
		return 12, true
	}
	if line[12] != ' ' {
		return 0, false
	}
	return 13, true
}

func trimOWS(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

func indexByteStr(s string, c byte) int { return strings.IndexByte(s, c) }

func countByteStr(s string, c byte) int {
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			n++
		}
	}
	return n
}

// asciiEqualFold compares s with the canonical field name t, ignoring ASCII
// case.
func asciiEqualFold(s, t string) bool {
	if len(s) != len(t) {
		return false
	}
	for i := 0; i < len(s); i++ {
		a, b := s[i], t[i]
		if a|0x20 >= 'a' && a|0x20 <= 'z' {
			a |= 0x20
			b |= 0x20
		}
		if a != b {
			return false
		}
	}
	return true
}

// parseContentLength parses a Content-Length value; a list of identical
// values ("10, 10") is accepted.
func parseContentLength(v string) (int64, bool) {
	var out int64 = -1
	for v != "" {
		var tok string
		tok, v = cutToken(v)
		tok = trimOWS(tok)
		if tok == "" || len(tok) > 18 {
			return 0, false
		}
		var n int64
		for i := 0; i < len(tok); i++ {
			c := tok[i]
			if c < '0' || c > '9' {
				return 0, false
			}
			n = n*10 + int64(c-'0')
		}
		if out >= 0 && n != out {
			return 0, false
		}
		out = n
	}
	return out, out >= 0
}

// cutToken splits a comma-separated list at its first comma.
func cutToken(v string) (tok, rest string) {
	if i := strings.IndexByte(v, ','); i >= 0 {
		return v[:i], v[i+1:]
	}
	return v, ""
}

// lastTokenIs reports whether the last comma-separated token of v is tok
// (case-insensitive).
func lastTokenIs(v, tok string) bool {
	if i := strings.LastIndexByte(v, ','); i >= 0 {
		v = v[i+1:]
	}
	if i := strings.IndexByte(v, ';'); i >= 0 {
		v = v[:i]
	}
	return asciiEqualFold(trimOWS(v), tok)
}

// encoded reports whether Content-Encoding values ce or Transfer-Encoding
// values te name a coding besides identity and chunked.
func encoded(ce, te []string) bool {
	for _, vs := range [2][]string{ce, te} {
		for _, v := range vs {
			for v != "" {
				var tok string
				tok, v = cutToken(v)
				if i := strings.IndexByte(tok, ';'); i >= 0 {
					tok = tok[:i]
				}
				if tok = trimOWS(tok); tok != "" && !asciiEqualFold(tok, "identity") && !asciiEqualFold(tok, "chunked") {
					return true
				}
			}
		}
	}
	return false
}

// binaryType reports whether the Content-Type value v is a media type no
// inspection reads: images, audio, video, fonts, opaque bytes, archives
// and compressed files.
func binaryType(v string) bool {
	if i := strings.IndexByte(v, ';'); i >= 0 {
		v = v[:i]
	}
	v = trimOWS(v)
	typ, sub, ok := strings.Cut(v, "/")
	if !ok {
		return false
	}
	switch {
	case asciiEqualFold(typ, "image"), asciiEqualFold(typ, "audio"), asciiEqualFold(typ, "video"), asciiEqualFold(typ, "font"):
		// image/svg+xml is text that may carry anything.
		return !asciiEqualFold(sub, "svg+xml")
	case asciiEqualFold(typ, "application"):
		for _, s := range binarySubtypes {
			if asciiEqualFold(sub, s) {
				return true
			}
		}
	}
	return false
}

// binarySubtypes are application/ subtypes of opaque, archive and
// compressed content.
var binarySubtypes = [...]string{
	"octet-stream", "zip", "gzip", "x-gzip", "x-tar", "x-bzip2", "x-xz", "x-7z-compressed",
	"x-rar-compressed", "vnd.rar", "zstd", "java-archive", "vnd.android.package-archive",
	"x-msdownload", "pdf", "wasm", "font-woff", "font-woff2", "vnd.ms-fontobject",
}
