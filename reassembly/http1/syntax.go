package http1

import (
	"encoding/binary"
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
	if !targetOK(line[tStart:tEnd]) {
		return 0, 0, 0, 0, false
	}
	return mEnd, tStart, tEnd, vStart, true
}

// targetOK reports whether t holds no control character but tab and no
// DEL. Sixteen bytes at a time, words without any byte below 0x20 or
// equal to 0x7f are passed whole, and the last bytes within the target's
// last eight (some already passed); from the first other word on, the
// bytes are checked one by one.
func targetOK(t []byte) bool {
	n := len(t)
	if n < 8 {
		return targetBytesOK(t)
	}
	u := t
	for len(u) >= 16 {
		if oddBytes(binary.LittleEndian.Uint64(u))|oddBytes(binary.LittleEndian.Uint64(u[8:])) != 0 {
			return targetBytesOK(u)
		}
		u = u[16:]
	}
	if len(u) >= 8 {
		if oddBytes(binary.LittleEndian.Uint64(u)) != 0 {
			return targetBytesOK(u)
		}
		u = u[8:]
	}
	if len(u) > 0 && oddBytes(binary.LittleEndian.Uint64(t[n-8:])) != 0 {
		return targetBytesOK(u)
	}
	return true
}

// oddBytes returns x's high bits set in some byte exactly when some byte
// of x is below 0x20 or equal to 0x7f: the high bit of a byte is set in
// (v - k*ones) &^ v for some byte exactly when some byte of v is below k
// (k <= 0x80).
func oddBytes(x uint64) uint64 {
	const (
		ones  = 0x0101010101010101
		highs = 0x8080808080808080
	)
	del := x ^ 0x7f*ones
	return ((x-0x20*ones)&^x | (del-ones)&^del) & highs
}

// targetBytesOK is targetOK byte by byte.
func targetBytesOK(t []byte) bool {
	for _, c := range t {
		if c < 0x20 && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
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

// framing is a header field headDone reads.
type framing uint8

const (
	fieldOther framing = iota
	fieldContentLength
	fieldTransferEncoding
	fieldContentEncoding
	fieldContentType
	fieldUpgrade
)

// framingField names the field headDone reads that name is (compared as
// asciiEqualFold does), or fieldOther. The length and the first letter
// rule out nearly every other field; a candidate is compared a word at a
// time (foldKey).
func framingField(name string) framing {
	if len(name) < 7 {
		return fieldOther
	}
	switch name[0] | 0x20 {
	case 'c':
		switch len(name) {
		case 12:
			if keyContentType.equal(name) {
				return fieldContentType
			}
		case 14:
			if keyContentLength.equal(name) {
				return fieldContentLength
			}
		case 16:
			if keyContentEncoding.equal(name) {
				return fieldContentEncoding
			}
		}
	case 't':
		if len(name) == 17 && keyTransferEncoding.equal(name) {
			return fieldTransferEncoding
		}
	case 'u':
		if len(name) == 7 && keyUpgrade.equal(name) {
			return fieldUpgrade
		}
	}
	return fieldOther
}

// foldKey compares strings of its length with a canonical field name as
// asciiEqualFold does, eight bytes at a time (four for names under eight
// bytes), in words at offsets 0, len-w and, past 2w bytes, w: a byte
// matches a letter of the name when equal to it with bit 0x20 set (mask),
// any other byte of the name only when equal.
type foldKey struct {
	n, w  int
	off   [3]int
	words int
	mask  [3]uint64
	want  [3]uint64
}

// Read-only after initialisation.
var (
	keyContentType      = newFoldKey("Content-Type")
	keyContentLength    = newFoldKey("Content-Length")
	keyContentEncoding  = newFoldKey("Content-Encoding")
	keyTransferEncoding = newFoldKey("Transfer-Encoding")
	keyUpgrade          = newFoldKey("Upgrade")
)

// newFoldKey returns the key of canon, of 4 to 24 bytes.
func newFoldKey(canon string) foldKey {
	k := foldKey{n: len(canon), w: 8}
	if k.n < 8 {
		k.w = 4
	}
	k.off[0], k.off[1], k.words = 0, k.n-k.w, 2
	if k.n > 2*k.w {
		k.off[2], k.words = k.w, 3
	}
	for i := 0; i < k.words; i++ {
		for j := 0; j < k.w; j++ {
			c := canon[k.off[i]+j]
			var m byte
			if c|0x20 >= 'a' && c|0x20 <= 'z' {
				m, c = 0x20, c|0x20
			}
			k.mask[i] |= uint64(m) << (8 * j)
			k.want[i] |= uint64(c) << (8 * j)
		}
	}
	return k
}

// equal reports whether s (of k's length) is k's name, ignoring ASCII
// case. The words are compared without a loop (two, or three past 16
// bytes).
func (k *foldKey) equal(s string) bool {
	if len(s) != k.n {
		return false
	}
	if k.w == 4 {
		return le32(s)|k.mask[0] == k.want[0] && le32(s[k.off[1]:])|k.mask[1] == k.want[1]
	}
	if le64(s)|k.mask[0] != k.want[0] || le64(s[k.off[1]:])|k.mask[1] != k.want[1] {
		return false
	}
	return k.words == 2 || le64(s[8:])|k.mask[2] == k.want[2]
}

// le64 returns s's first eight bytes as a little-endian word.
func le64(s string) uint64 {
	_ = s[7]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

// le32 returns s's first four bytes as a little-endian word.
func le32(s string) uint64 {
	_ = s[3]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24
}

// parseContentLength parses a Content-Length value; a list of identical
// values ("10, 10") is accepted.
func parseContentLength(v string) (int64, bool) {
	// The usual value: digits alone, what the general case below
	// makes of it without cutting it into tokens.
	if len(v) > 0 && len(v) <= 18 {
		var n int64
		i := 0
		for ; i < len(v) && v[i] >= '0' && v[i] <= '9'; i++ {
			n = n*10 + int64(v[i]-'0')
		}
		if i == len(v) {
			return n, true
		}
	}
	return parseContentLengthList(v)
}

// parseContentLengthList is parseContentLength's general case: the value
// cut into comma-separated tokens, each trimmed and parsed, all equal.
func parseContentLengthList(v string) (int64, bool) {
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
