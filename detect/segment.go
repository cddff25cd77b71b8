package detect

import "strings"

// Segment classes found by the explainable rules; classLiteral means the
// segment looks like a fixed word.
type segClass uint8

const (
	classLiteral segClass = iota
	classInt
	classUUID
	classHex
	classEmail
	classDate
	classPrefixedID
	classToken
	classMixed
)

// knownExts may follow a parameter inside one segment (/orders/{id}.json).
var knownExts = []string{".json", ".xml", ".csv", ".pdf", ".html", ".txt", ".png", ".jpg", ".zip"}

// classify applies the segment rules to one path segment. It returns the
// class of the variable part and the literal suffix that stays (".json").
func classify(seg string) (segClass, string) {
	if seg == "" {
		return classLiteral, ""
	}
	// Every known extension is a dot and three or four characters: a
	// segment without a dot there has none of them.
	n := len(seg)
	if n > 4 && seg[n-4] == '.' || n > 5 && seg[n-5] == '.' {
		for _, ext := range knownExts {
			if len(seg) <= len(ext) || !hasSuffixFold(seg, ext) {
				continue
			}
			stem := seg[:len(seg)-len(ext)]
			if c := classifyWhole(stem); c != classLiteral {
				return c, seg[len(stem):]
			}
		}
	}
	if len(seg) > maxLiteralLen {
		return classToken, ""
	}
	return classifyWhole(seg), ""
}

func hasSuffixFold(s, suffix string) bool {
	return len(s) >= len(suffix) && strings.EqualFold(s[len(s)-len(suffix):], suffix)
}

func classifyWhole(s string) segClass {
	n := len(s)
	// One counter per byte kind (segByteKinds), then the counts the rules
	// read.
	var counts [16]int
	for i := 0; i < n; i++ {
		counts[segByteKinds[s[i]]&15]++
	}
	digits := counts[skDigit]
	lower := counts[skLowerHex] + counts[skLower]
	upper := counts[skUpperHex] + counts[skUpper]
	hexLetters := counts[skLowerHex] + counts[skUpperHex]
	dashes, unders := counts[skDash], counts[skUnder]
	other := counts[skOther] + counts[skBrace]
	braces := counts[skBrace] > 0
	// The rules looking for a character class the counts say is absent
	// ('@' and '%' are other, '_' an underscore, '-' a dash) are skipped.
	switch {
	case braces:
		// Braces are not legal in a path (RFC 3986) and would read as a
		// template parameter if kept: such a segment is a value.
		return classToken
	case digits == n:
		return classInt
	case isVersion(s):
		return classLiteral
	case other > 0 && strings.IndexByte(s, '@') > 0 && strings.IndexByte(s[strings.IndexByte(s, '@'):], '.') > 0:
		return classEmail
	case other > 0 && strings.Contains(s, "%40"):
		return classEmail
	case n == 36 && dashes == 4 && s[8] == '-' && s[13] == '-' && s[18] == '-' && s[23] == '-' && digits+hexLetters == 32:
		return classUUID
	case isDate(s):
		return classDate
	case n >= 8 && digits > 0 && digits+hexLetters == n:
		return classHex // hashes, ObjectIds
	case unders > 0 && isPrefixedID(s):
		return classPrefixedID
	case n >= 16 && other == 0 && digits > 0 && (lower > 0 || upper > 0):
		return classToken // base62/base64url ids, long random tokens
	case n >= 20 && other <= 2 && lower > 0 && upper > 0 && digits > 0:
		return classToken
	case dashes > 0 && isSlugNumber(s):
		return classMixed // coffee-83, my-post-2024
	case other == 0 && digitRun(s) >= 4 && lower+upper > 0 && lower+upper <= 12:
		return classMixed // SKU-00042, INV-2024-0001, order12345
	case n >= 4 && other == 0 && digits >= 2 && (lower+upper) > 0 && dashes+unders <= 2 && ((n >= 10 && digits >= 3) || alnumSwitches(s) >= 2):
		return classMixed
	}
	return classLiteral
}

// The kinds of bytes classifyWhole counts.
const (
	skOther    = iota
	skDigit    // 0-9
	skLowerHex // a-f
	skLower    // g-z
	skUpperHex // A-F
	skUpper    // G-Z
	skDash     // -
	skUnder    // _
	skBrace    // { or } (other too)
)

// segByteKinds is the kind of each byte value; it never changes.
var segByteKinds = func() (k [256]uint8) {
	for c := range 256 {
		switch {
		case c >= '0' && c <= '9':
			k[c] = skDigit
		case c >= 'a' && c <= 'f':
			k[c] = skLowerHex
		case c >= 'g' && c <= 'z':
			k[c] = skLower
		case c >= 'A' && c <= 'F':
			k[c] = skUpperHex
		case c >= 'G' && c <= 'Z':
			k[c] = skUpper
		case c == '-':
			k[c] = skDash
		case c == '_':
			k[c] = skUnder
		case c == '{' || c == '}':
			k[c] = skBrace
		}
	}
	return k
}()

// isSlugNumber reports word(s) followed by a dash and a number
// (coffee-83, summer-sale-2): slugs of objects. The words need three
// letters and must not name a standard (utf-8, sha-256, iso-8859).
func isSlugNumber(s string) bool {
	i := strings.LastIndexByte(s, '-')
	if i < 3 || i == len(s)-1 || !allDigits(s[i+1:]) {
		return false
	}
	for j := 0; j < i; j++ {
		c := s[j]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-' && j > 0) {
			return false
		}
	}
	// s[:i] is ASCII letters and dashes: lower-cased on the stack when it
	// is short enough to name a standard.
	var buf [maxStandardName]byte
	ln, ok := lowerASCII(buf[:0], s[:i])
	return !ok || !standardNames[string(ln)]
}

// maxStandardName is the length of the longest standardNames key.
const maxStandardName = 8

// standardNames precede a dash and a number in names of standards, not ids.
var standardNames = map[string]bool{"utf": true, "ucs": true, "iso": true, "sha": true, "rfc": true, "win": true, "ipv": true, "http": true, "iso-8859": true, "windows": true}

// digitRun is the length of the longest run of digits in s.
func digitRun(s string) int {
	best, run := 0, 0
	for i := 0; i < len(s); i++ {
		if s[i] >= '0' && s[i] <= '9' {
			run++
			best = max(best, run)
		} else {
			run = 0
		}
	}
	return best
}

// alnumSwitches counts the changes between letters and digits along s, so
// that words with a number suffix (base64, sha256, oauth2) stay literal while
// interleaved ids (a1b2c3, 12ab34) do not.
func alnumSwitches(s string) int {
	n, prev := 0, byte(0)
	for i := 0; i < len(s); i++ {
		var k byte
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			k = 'd'
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
			k = 'l'
		default:
			continue
		}
		if prev != 0 && k != prev {
			n++
		}
		prev = k
	}
	return n
}

// isVersion reports segments like v1, v2, V10, v1.2, v2beta1.
func isVersion(s string) bool {
	if len(s) < 2 || len(s) > 8 || (s[0] != 'v' && s[0] != 'V') || s[1] < '0' || s[1] > '9' {
		return false
	}
	return true
}

// isDate reports YYYY-MM-DD and YYYYMMDD dates.
func isDate(s string) bool {
	if len(s) == 10 && s[4] == '-' && s[7] == '-' {
		return allDigits(s[:4]) && allDigits(s[5:7]) && allDigits(s[8:])
	}
	return false
}

// isPrefixedID reports ids like cus_9s8d7f6g, ord_Ab12Cd34, pi_3Mtw….
func isPrefixedID(s string) bool {
	i := strings.IndexByte(s, '_')
	if i < 2 || i > 6 || len(s)-i-1 < 6 {
		return false
	}
	for _, c := range s[:i] {
		if c < 'a' || c > 'z' {
			return false
		}
	}
	var digits, lower, upper int
	for _, c := range s[i+1:] {
		switch {
		case c >= '0' && c <= '9':
			digits++
		case c >= 'a' && c <= 'z':
			lower++
		case c >= 'A' && c <= 'Z':
			upper++
		default:
			return false
		}
	}
	// Without a digit, only mixed case reads as base62 (a snake_case
	// action such as mark_uncollectible is a word).
	return digits > 0 || lower+upper >= 12 && lower > 0 && upper > 0
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// splitPath splits a request-target into its path segments, dropping the
// query and fragment and tolerating absolute-form targets.
func splitPath(target string) []string {
	segs := appendPath(nil, target)
	if len(segs) == 0 {
		return nil
	}
	return segs
}

// appendPath is splitPath appending to segs.
func appendPath(segs []string, target string) []string {
	// Up to the first '?' or '#' (two IndexByte cost less than IndexAny).
	if i := strings.IndexByte(target, '?'); i >= 0 {
		target = target[:i]
	}
	if i := strings.IndexByte(target, '#'); i >= 0 {
		target = target[:i]
	}
	if strings.HasPrefix(target, "http://") || strings.HasPrefix(target, "https://") {
		rest := target[strings.Index(target, "//")+2:]
		if j := strings.IndexByte(rest, '/'); j >= 0 {
			target = rest[j:]
		} else {
			target = "/"
		}
	}
	target = strings.Trim(target, "/")
	if target == "" {
		return segs
	}
	for {
		seg, rest, ok := strings.Cut(target, "/")
		segs = append(segs, seg)
		if !ok {
			return segs
		}
		target = rest
	}
}

// hasDotSegment reports a "." or ".." segment, plain or percent-encoded.
//
// Only an ASCII segment of at most six bytes starting with '.' or '%' can
// be one (no other byte lower-cases to those of a dot-segment), so the
// others are not lower-cased.
func hasDotSegment(segs []string) bool {
	for _, s := range segs {
		if len(s) == 0 || len(s) > 6 || s[0] != '.' && s[0] != '%' {
			continue
		}
		var buf [6]byte
		ls, ok := lowerASCII(buf[:0], s)
		if !ok {
			continue
		}
		switch string(ls) {
		case ".", "..", "%2e", "%2e%2e", ".%2e", "%2e.":
			return true
		}
	}
	return false
}

// paramName names a parameter after its parent resource: users → userId.
func paramName(parent string) string {
	p := strings.ToLower(parent)
	if p == "" || strings.HasPrefix(p, "{") || isVersion(p) {
		return "id"
	}
	var b strings.Builder
	up := false
	for _, c := range p {
		if c == '-' || c == '_' || c == '.' {
			up = true
			continue
		}
		if c < 'a' || c > 'z' {
			if c < '0' || c > '9' {
				continue
			}
		}
		if up && b.Len() > 0 {
			b.WriteRune(c - 32*boolInt(c >= 'a' && c <= 'z'))
		} else {
			b.WriteRune(c)
		}
		up = false
	}
	s := singular(b.String())
	if s == "" {
		return "id"
	}
	return s + "Id"
}

func boolInt(b bool) rune {
	if b {
		return 1
	}
	return 0
}

func singular(s string) string {
	switch {
	case strings.HasSuffix(s, "ies") && len(s) > 4:
		return s[:len(s)-3] + "y"
	case strings.HasSuffix(s, "sses"), strings.HasSuffix(s, "xes"), strings.HasSuffix(s, "ches"):
		return s[:len(s)-2]
	case strings.HasSuffix(s, "ss"), strings.HasSuffix(s, "us"), strings.HasSuffix(s, "is"):
		return s
	case strings.HasSuffix(s, "s") && len(s) > 3:
		return s[:len(s)-1]
	}
	return s
}
