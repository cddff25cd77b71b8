package detect

import (
	"bytes"
	"encoding/base64"
	"hash/crc32"
)

// Validators of the secret formats. Each reads the bytes after (or around)
// its keyword and returns the token's span, or an end of 0 when the bytes
// there are not a token of that format.

// base62 is the alphabet of GitHub's and npm's token checksums.
const base62Digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// base62CRCValid checks the checksum of a GitHub (ghp_, gho_, ghu_, ghs_,
// ghr_) or npm (npm_) token body: 30 random base62 characters followed by
// the CRC-32 (IEEE) of those 30, in base62, left-padded to 6 characters.
func base62CRCValid(body []byte) bool {
	if len(body) != 36 {
		return false
	}
	want := crc32.ChecksumIEEE(body[:30])
	var got uint64
	for _, c := range body[30:] {
		var d byte
		switch {
		case c >= '0' && c <= '9':
			d = c - '0'
		case c >= 'A' && c <= 'Z':
			d = c - 'A' + 10
		case c >= 'a' && c <= 'z':
			d = c - 'a' + 36
		default:
			return false
		}
		got = got*62 + uint64(d)
	}
	return got == uint64(want)
}

// base62CRC returns the 6-character checksum of a 30-character token body
// (tests and fuzz seeds build valid tokens with it).
func base62CRC(body []byte) string {
	v := crc32.ChecksumIEEE(body)
	var out [6]byte
	for i := 5; i >= 0; i-- {
		out[i] = base62Digits[v%62]
		v /= 62
	}
	return string(out[:])
}

// awsExampleSuffix marks the key pairs of AWS's documentation.
var awsExampleSuffix = []byte("EXAMPLE")

// isAWSExample reports the documentation's example key ids
// (AKIAIOSFODNN7EXAMPLE and its kind).
func isAWSExample(id []byte) bool { return bytes.HasSuffix(id, awsExampleSuffix) }

// awsSecretLen is the length of an AWS secret access key.
const awsSecretLen = 40

// awsSecretAt checks for a secret access key starting at i: 40 characters
// of base64 with letters of both cases and a digit (or / +), bounded by
// non-base64 characters, not the documentation's example.
func awsSecretAt(b []byte, i int) bool {
	if i+awsSecretLen > len(b) || (i > 0 && isB64(b[i-1])) {
		return false
	}
	if i+awsSecretLen < len(b) && isB64(b[i+awsSecretLen]) {
		return false
	}
	var up, lo, other bool
	for _, c := range b[i : i+awsSecretLen] {
		switch {
		case c >= 'A' && c <= 'Z':
			up = true
		case c >= 'a' && c <= 'z':
			lo = true
		case c >= '0' && c <= '9' || c == '/' || c == '+':
			other = true
		default:
			return false
		}
	}
	return up && lo && other && !bytes.HasSuffix(b[i:i+awsSecretLen], []byte("EXAMPLEKEY"))
}

// awsSecretNear looks for the secret access key that goes with an access
// key id found at b[at:end]: within 200 bytes after it (or 120 before).
func awsSecretNear(b []byte, at, end int) (int, int) {
	hi := min(len(b)-awsSecretLen, end+200)
	for i := end; i <= hi; i++ {
		if isB64(b[i]) && (i == 0 || !isB64(b[i-1])) && awsSecretAt(b, i) {
			return i, i + awsSecretLen
		}
	}
	for i := max(0, at-120); i+awsSecretLen <= at; i++ {
		if isB64(b[i]) && (i == 0 || !isB64(b[i-1])) && awsSecretAt(b, i) {
			return i, i + awsSecretLen
		}
	}
	return 0, 0
}

// awsSecretAfter reads the value of a key named like an AWS secret key
// (aws_secret_access_key=..., "SecretAccessKey": "...").
func awsSecretAfter(b []byte, end int) (int, int) {
	i := valueStart(b, end)
	if i < 0 || !awsSecretAt(b, i) {
		return 0, 0
	}
	return i, i + awsSecretLen
}

// valueStart skips what separates a key from its value (quotes, spaces,
// one ':' or '=') and returns where the value starts, or -1.
func valueStart(b []byte, end int) int {
	i, seps := end, 0
	for i < len(b) && i-end < 8 {
		switch b[i] {
		case '"', '\'', ' ', '\t':
		case ':', '=':
			if seps++; seps > 1 {
				return -1
			}
		default:
			if seps == 0 {
				return -1
			}
			return i
		}
		i++
	}
	return -1
}

// githubPATEnd checks a fine-grained personal access token:
// github_pat_ + 22 base62 + "_" + 59 base62.
func githubPATEnd(b []byte, at, end int) int {
	if at > 0 && isB64URL(b[at-1]) {
		return 0
	}
	const a, c = 22, 59
	if end+a+1+c > len(b) || b[end+a] != '_' {
		return 0
	}
	for _, x := range b[end : end+a] {
		if !isAlnum(x) {
			return 0
		}
	}
	e := end + a + 1 + c
	for _, x := range b[end+a+1 : e] {
		if !isAlnum(x) {
			return 0
		}
	}
	if e < len(b) && isB64URL(b[e]) {
		return 0
	}
	return e
}

// slackTokenEnd checks a Slack token: xox?- then dash-separated parts, the
// first a numeric team or user id, the last a random part, 30–250 bytes.
func slackTokenEnd(b []byte, at, end int) int {
	if at > 0 && isAlnum(b[at-1]) {
		return 0
	}
	j := end
	for j < len(b) && j-at <= 250 && (isAlnum(b[j]) || b[j] == '-') {
		j++
	}
	if j-at < 30 || j-at > 250 || (j < len(b) && isB64URL(b[j])) {
		return 0
	}
	// The first part is digits (a team, user or refresh id).
	k := end
	for k < j && isDigit(b[k]) {
		k++
	}
	if k-end < 1 || k >= j || b[k] != '-' {
		return 0
	}
	last := bytes.LastIndexByte(b[end:j], '-')
	if last < 0 || j-(end+last+1) < 8 || !randomLooking(b[end+last+1:j]) {
		return 0
	}
	return j
}

// slackWebhookEnd checks the path of an incoming webhook after
// "hooks.slack.com": /services/T…/B…/secret (slashes may be escaped as \/).
func slackWebhookEnd(b []byte, end int) int {
	i := end
	slash := func() bool {
		if i < len(b) && b[i] == '\\' {
			i++
		}
		if i < len(b) && b[i] == '/' {
			i++
			return true
		}
		return false
	}
	word := func(lead byte, min, max int, class func(byte) bool) bool {
		s := i
		if lead != 0 {
			if i >= len(b) || b[i] != lead {
				return false
			}
			i++
		}
		for i < len(b) && i-s <= max && class(b[i]) {
			i++
		}
		return i-s >= min && i-s <= max
	}
	upperNum := func(c byte) bool { return c >= 'A' && c <= 'Z' || isDigit(c) }
	if !slash() || !bytes.HasPrefix(b[i:], []byte("services")) {
		return 0
	}
	i += len("services")
	if !slash() || !word('T', 8, 14, upperNum) || !slash() || !word('B', 8, 14, upperNum) || !slash() || !word(0, 20, 40, isAlnum) {
		return 0
	}
	if i < len(b) && isAlnum(b[i]) {
		return 0
	}
	return i
}

// openAIOrAnthropic tells the sk- keys apart: sk-ant-api03-… (Anthropic,
// 80–120 characters ending in AA), sk-proj-/sk-svcacct-/sk-admin- (OpenAI
// project and service keys, 40+ characters) and the legacy OpenAI key,
// sk- + 48 alphanumerics with the "T3BlbkFJ" marker at offset 20.
func openAIOrAnthropic(b []byte, at, end int) (dataType, int) {
	if at > 0 && (isB64URL(b[at-1]) || b[at-1] == '.') {
		return dtNone, 0
	}
	rest := b[end:]
	switch {
	case bytes.HasPrefix(rest, []byte("ant-")):
		k := end + 4
		for _, kind := range []string{"api", "admin", "oat", "sid"} {
			if bytes.HasPrefix(b[k:], []byte(kind)) {
				k += len(kind)
				break
			}
		}
		if k+3 > len(b) || !isDigit(b[k]) || !isDigit(b[k+1]) || b[k+2] != '-' {
			return dtNone, 0
		}
		e := tokenAfter(b, at, k+3, 80, 120, isB64URL, true)
		if e == 0 || !bytes.HasSuffix(b[:e], []byte("AA")) {
			return dtNone, 0
		}
		return dtAnthropic, e
	case bytes.HasPrefix(rest, []byte("proj-")), bytes.HasPrefix(rest, []byte("svcacct-")), bytes.HasPrefix(rest, []byte("admin-")):
		k := end + bytes.IndexByte(rest, '-') + 1
		return dtOpenAI, tokenAfter(b, at, k, 40, 300, isB64URL, true)
	}
	e := tokenAfter(b, at, end, 48, 48, isAlnum, false)
	if e == 0 || !bytes.Equal(b[end+20:end+28], []byte("T3BlbkFJ")) {
		return dtNone, 0
	}
	return dtOpenAI, e
}

const (
	// maxJWTHeader bounds the encoded JWT header decoded (real ones are
	// under 200 bytes).
	maxJWTHeader = 512
	// maxJWTBody bounds the encoded payload decoded to check it.
	maxJWTBody = 4096
)

// jwtEnd checks a JWT at b[at:] (which starts with eyJ): three base64url
// parts, a header that decodes to a JSON object naming its "alg", a payload
// that decodes to a JSON object, and a signature unless the alg is none.
func jwtEnd(b []byte, at int) int {
	if at > 0 && (isB64URL(b[at-1]) || b[at-1] == '.') {
		return 0
	}
	part := func(i, max int) int {
		j := i
		for j < len(b) && j-i <= max && isB64URL(b[j]) {
			j++
		}
		return j
	}
	h := part(at, maxJWTHeader)
	if h-at > maxJWTHeader || h >= len(b) || b[h] != '.' {
		return 0
	}
	var hbuf [maxJWTHeader]byte
	hn, err := base64.RawURLEncoding.Decode(hbuf[:], b[at:h])
	if err != nil || hn < 10 || hbuf[0] != '{' || hbuf[hn-1] != '}' || !bytes.Contains(hbuf[:hn], []byte(`"alg"`)) {
		return 0
	}
	p := part(h+1, 1<<16)
	if p-(h+1) < 4 {
		return 0
	}
	if !jsonObjectB64(b[h+1 : p]) {
		return 0
	}
	if p >= len(b) || b[p] != '.' {
		return 0
	}
	s := part(p+1, 1024)
	if s < len(b) && (isB64URL(b[s]) || b[s] == '.') {
		return 0 // longer than a signature, or a JWE
	}
	if s-(p+1) < 16 && !bytes.Contains(hbuf[:hn], []byte(`"none"`)) {
		return 0
	}
	return s
}

// jsonObjectB64 reports whether a base64url (unpadded) part decodes to
// something that starts with '{' and, when it is short enough to decode
// whole, ends with '}'.
func jsonObjectB64(enc []byte) bool {
	if len(enc)%4 == 1 {
		return false
	}
	var buf [maxJWTBody / 4 * 3]byte
	if len(enc) <= maxJWTBody {
		n, err := base64.RawURLEncoding.Decode(buf[:], enc)
		return err == nil && n >= 2 && buf[0] == '{' && buf[n-1] == '}'
	}
	n, err := base64.RawURLEncoding.Decode(buf[:3], enc[:4])
	return err == nil && n == 3 && buf[0] == '{'
}

// privateKeySpan checks a PEM private key around "PRIVATE KEY-----" at
// b[at:end]: "-----BEGIN …" just before it, and a base64 body (lines may be
// broken by real or JSON-escaped newlines) of at least 64 characters, up to
// its END line or, for a body cut short, at least 200.
func privateKeySpan(b []byte, at, end int) (int, int) {
	begin := bytes.LastIndex(b[max(0, at-24):at], []byte("-----BEGIN "))
	if begin < 0 {
		return 0, 0
	}
	begin += max(0, at-24)
	n := 0
	i := end
	for i < len(b) && i-end < 16<<10 {
		c := b[i]
		switch {
		case isB64(c) || c == '=':
			n++
		case c == '\n' || c == '\r' || c == ' ' || c == '\t' || c == ':' || c == ',':
		case c == '\\' && i+1 < len(b) && (b[i+1] == 'n' || b[i+1] == 'r'):
			i++
		case c == '-':
			if bytes.HasPrefix(b[i:], []byte("-----END ")) {
				if n < 64 {
					return 0, 0
				}
				e := i + 9
				if k := bytes.Index(b[e:min(len(b), e+40)], []byte("-----")); k >= 0 {
					e += k + 5
				}
				return begin, e
			}
			return spanIf(n >= 200, begin, i)
		default:
			return spanIf(n >= 200, begin, i)
		}
		i++
	}
	return spanIf(n >= 200, begin, i)
}

func spanIf(ok bool, s, e int) (int, int) {
	if !ok {
		return 0, 0
	}
	return s, e
}

// sendGridEnd checks SG. + 22 base64url + "." + 43 base64url.
func sendGridEnd(b []byte, at, end int) int {
	if at > 0 && isB64URL(b[at-1]) {
		return 0
	}
	const a, c = 22, 43
	if end+a+1+c > len(b) || b[end+a] != '.' {
		return 0
	}
	for _, x := range b[end : end+a] {
		if !isB64URL(x) {
			return 0
		}
	}
	e := end + a + 1 + c
	for _, x := range b[end+a+1 : e] {
		if !isB64URL(x) {
			return 0
		}
	}
	if e < len(b) && isB64URL(b[e]) {
		return 0
	}
	return e
}

// pypiEnd checks a PyPI API token: pypi-AgE (a macaroon whose location is
// pypi.org or test.pypi.org, base64) and at least 50 more characters.
func pypiEnd(b []byte, at, end int) int {
	rest := b[end:]
	if !bytes.HasPrefix(rest, []byte("IcHlwaS5vcmc")) && !bytes.HasPrefix(rest, []byte("NdGVzdC5weXBpLm9yZw")) {
		return 0
	}
	return tokenAfter(b, at, end, 50, 500, isB64URL, false)
}

// azureKeySpan checks the AccountKey of an Azure storage connection string:
// 88 base64 characters that decode to 64 bytes.
func azureKeySpan(b []byte, end int) (int, int) {
	const n = 88
	if end+n > len(b) || (end+n < len(b) && isB64(b[end+n])) {
		return 0, 0
	}
	var buf [66]byte
	k, err := base64.StdEncoding.Decode(buf[:], b[end:end+n])
	if err != nil || k != 64 || !randomLooking(b[end:end+n-2]) {
		return 0, 0
	}
	return end, end + n
}

// hexValueAfterKey reads a value of exactly n lower-case hex digits after a
// key naming it (DD_API_KEY=…, "datadog_api_key": "…").
func hexValueAfterKey(b []byte, end, n int) (int, int) {
	i := valueStart(b, end)
	if i < 0 || i+n > len(b) {
		return 0, 0
	}
	for _, c := range b[i : i+n] {
		if !isLowerHex(c) {
			return 0, 0
		}
	}
	if i+n < len(b) && isAlnum(b[i+n]) {
		return 0, 0
	}
	if !randomLooking(b[i : i+n]) {
		return 0, 0
	}
	return i, i + n
}

// postmanEnd checks PMAK- + 24 hex + "-" + 34 hex.
func postmanEnd(b []byte, at, end int) int {
	if at > 0 && isAlnum(b[at-1]) {
		return 0
	}
	const a, c = 24, 34
	if end+a+1+c > len(b) || b[end+a] != '-' {
		return 0
	}
	for _, x := range b[end : end+a] {
		if !isLowerHex(x) {
			return 0
		}
	}
	e := end + a + 1 + c
	for _, x := range b[end+a+1 : e] {
		if !isLowerHex(x) {
			return 0
		}
	}
	if e < len(b) && isAlnum(b[e]) {
		return 0
	}
	return e
}
