package detect

import (
	"bytes"
	"strings"
)

// Validators of personal data. Except e-mail addresses, which are
// recognisable on their own, each reads the value of a JSON key that names
// the data (the keyword) and checks it: structure, checksums, issuer or
// country rules.

// keyValue returns the value of the JSON member whose key's closing quote
// ends at end: kind '"' for a string (s, e bound its content, at most 256
// bytes), '0' for a number, '{' for an object (s is its brace), or 0.
func keyValue(b []byte, end int) (s, e int, kind byte) {
	i := end
	for i < len(b) && (b[i] == ' ' || b[i] == '\t') {
		i++
	}
	if i >= len(b) || b[i] != ':' {
		return 0, 0, 0
	}
	i++
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	if i >= len(b) {
		return 0, 0, 0
	}
	switch c := b[i]; {
	case c == '"':
		s = i + 1
		// Most strings have no escape: their end is the first quote, if
		// it is within reach; the others are read byte by byte.
		if q := bytes.IndexByte(b[s:min(len(b), s+257)], '"'); q >= 0 && bytes.IndexByte(b[s:s+q], '\\') < 0 {
			return s, s + q, '"'
		}
		return stringValue(b, s)
	case isDigit(c) || c == '-' || c == '+':
		s, e = i, i
		for e < len(b) && e-s <= 32 && (isDigit(b[e]) || b[e] == '-' || b[e] == '+' || b[e] == '.' || b[e] == 'e' || b[e] == 'E') {
			e++
		}
		return s, e, '0'
	case c == '{':
		return i, i + 1, '{'
	}
	return 0, 0, 0
}

// digitsOf copies the digits of s into dst (which bounds them) and returns
// how many there were, or -1 when s holds anything but digits and the
// separators allowed.
func digitsOf(dst []byte, s []byte, seps string) int {
	n := 0
	for _, c := range s {
		switch {
		case isDigit(c):
			if n >= len(dst) {
				return -1
			}
			dst[n] = c - '0'
			n++
		case strings.IndexByte(seps, c) >= 0:
		default:
			return -1
		}
	}
	return n
}

// phoneValue checks a phone number: 7–15 digits, an optional leading +,
// separators " ().-", not a date, not one digit repeated.
func phoneValue(b []byte, end int) (int, int) {
	s, e, kind := keyValue(b, end)
	switch kind {
	case '"':
		v := b[s:e]
		if len(v) < 7 || len(v) > 25 {
			return 0, 0
		}
		if v[0] == '+' {
			v = v[1:]
		}
		if isDateLike(v) {
			return 0, 0
		}
		var d [16]byte
		n := digitsOf(d[:], v, " ().-")
		if n < 7 || n > 15 || sameDigits(d[:n]) {
			return 0, 0
		}
		return s, e
	case '0':
		var d [16]byte
		n := digitsOf(d[:], b[s:e], "")
		if n < 10 || n > 15 || sameDigits(d[:n]) {
			return 0, 0
		}
		return s, e
	}
	return 0, 0
}

func sameDigits(d []byte) bool {
	for _, x := range d[1:] {
		if x != d[0] {
			return false
		}
	}
	return true
}

// isDateLike reports values that start like a date: dddd-dd-dd.
func isDateLike(v []byte) bool {
	return len(v) >= 10 && isDigit(v[0]) && isDigit(v[1]) && isDigit(v[2]) && isDigit(v[3]) && v[4] == '-' && isDigit(v[5]) && isDigit(v[6]) && v[7] == '-'
}

// cardValue checks a payment card number under a card key.
func cardValue(b []byte, end int) (int, int) {
	s, e, kind := keyValue(b, end)
	if kind != '"' && kind != '0' {
		return 0, 0
	}
	var d [19]byte
	seps := " -"
	if kind == '0' {
		seps = ""
	}
	n := digitsOf(d[:], b[s:e], seps)
	if n < 12 || !isCardDigits(d[:n]) {
		return 0, 0
	}
	return s, e
}

// isCard checks a card number written with optional spaces or dashes.
func isCard(m []byte) bool {
	var d [19]byte
	n := digitsOf(d[:], m, " -")
	return n >= 12 && isCardDigits(d[:n])
}

// testCards are the card numbers of payment providers' documentation:
// published, never a person's.
var testCards = []string{
	"4111111111111111", "4242424242424242", "4012888888881881", "4222222222222", "4000056655665556",
	"4000000000000002", "4000000000000077", "4000000760000002", "4000001240000000", "4005519200000004",
	"5555555555554444", "5105105105105100", "5200828282828210", "2223003122003222", "5454545454545454",
	"378282246310005", "371449635398431", "378734493671000", "6011111111111117", "6011000990139424",
	"3530111333300000", "3566002020360505", "30569309025904", "38520000023237", "6200000000000005",
	"36227206271667", "6011000000000004", "3566111111111113", "5431111111111111", "6011601160116611",
}

// isCardDigits checks a card number's digits: an issuer prefix with its
// lengths (Visa, Mastercard, Amex, Discover, JCB, Diners, UnionPay,
// Maestro), the Luhn check, and not a documentation test number nor a
// number of two repeated digits.
func isCardDigits(d []byte) bool {
	n := len(d)
	if n < 12 || n > 19 {
		return false
	}
	p2 := int(d[0])*10 + int(d[1])
	p4 := p2*100 + int(d[2])*10 + int(d[3])
	p6 := p4*100 + int(d[4])*10 + int(d[5])
	ok := false
	switch {
	case d[0] == 4: // Visa
		ok = n == 13 || n == 16 || n == 19
	case p2 >= 51 && p2 <= 55, p4 >= 2221 && p4 <= 2720: // Mastercard
		ok = n == 16
	case p2 == 34 || p2 == 37: // Amex
		ok = n == 15
	case p4 == 6011, p2 == 65, p4/10 >= 644 && p4/10 <= 649, p6 >= 622126 && p6 <= 622925: // Discover
		ok = n >= 16
	case p4 >= 3528 && p4 <= 3589: // JCB
		ok = n >= 16
	case p4/10 >= 300 && p4/10 <= 305, p2 == 36, p2 == 38, p2 == 39: // Diners
		ok = n >= 14
	case p2 == 62: // UnionPay
		ok = n >= 16
	case p4 == 5018, p4 == 5020, p4 == 5038, p4 == 5893, p4 == 6304, p4 == 6759, p4 >= 6761 && p4 <= 6763: // Maestro
		ok = n >= 12
	}
	if !ok || !luhn(d) {
		return false
	}
	var distinct [10]bool
	k := 0
	for _, x := range d {
		if !distinct[x] {
			distinct[x] = true
			k++
		}
	}
	if k <= 2 {
		return false
	}
	for _, t := range testCards {
		if len(t) == n && digitsEqual(d, t) {
			return false
		}
	}
	return true
}

func digitsEqual(d []byte, s string) bool {
	for i := range d {
		if d[i] != s[i]-'0' {
			return false
		}
	}
	return true
}

func luhn(d []byte) bool {
	sum := 0
	for i := range d {
		v := int(d[len(d)-1-i])
		if i%2 == 1 {
			if v *= 2; v > 9 {
				v -= 9
			}
		}
		sum += v
	}
	return sum%10 == 0
}

// ibanLengths is the length of the IBAN of each country that has one.
var ibanLengths = map[[2]byte]int{
	{'A', 'D'}: 24, {'A', 'E'}: 23, {'A', 'L'}: 28, {'A', 'T'}: 20, {'A', 'Z'}: 28, {'B', 'A'}: 20, {'B', 'E'}: 16,
	{'B', 'G'}: 22, {'B', 'H'}: 22, {'B', 'R'}: 29, {'C', 'H'}: 21, {'C', 'R'}: 22, {'C', 'Y'}: 28, {'C', 'Z'}: 24,
	{'D', 'E'}: 22, {'D', 'K'}: 18, {'D', 'O'}: 28, {'E', 'E'}: 20, {'E', 'G'}: 29, {'E', 'S'}: 24, {'F', 'I'}: 18,
	{'F', 'O'}: 18, {'F', 'R'}: 27, {'G', 'B'}: 22, {'G', 'E'}: 22, {'G', 'I'}: 23, {'G', 'L'}: 18, {'G', 'R'}: 27,
	{'G', 'T'}: 28, {'H', 'R'}: 21, {'H', 'U'}: 28, {'I', 'E'}: 22, {'I', 'L'}: 23, {'I', 'Q'}: 23, {'I', 'S'}: 26,
	{'I', 'T'}: 27, {'J', 'O'}: 30, {'K', 'W'}: 30, {'K', 'Z'}: 20, {'L', 'B'}: 28, {'L', 'I'}: 21, {'L', 'T'}: 20,
	{'L', 'U'}: 20, {'L', 'V'}: 21, {'M', 'C'}: 27, {'M', 'D'}: 24, {'M', 'E'}: 22, {'M', 'K'}: 19, {'M', 'R'}: 27,
	{'M', 'T'}: 31, {'M', 'U'}: 30, {'N', 'L'}: 18, {'N', 'O'}: 15, {'P', 'K'}: 24, {'P', 'L'}: 28, {'P', 'S'}: 29,
	{'P', 'T'}: 25, {'Q', 'A'}: 29, {'R', 'O'}: 24, {'R', 'S'}: 22, {'S', 'A'}: 24, {'S', 'E'}: 24, {'S', 'I'}: 19,
	{'S', 'K'}: 24, {'S', 'M'}: 27, {'T', 'N'}: 24, {'T', 'R'}: 26, {'U', 'A'}: 29, {'V', 'G'}: 24, {'X', 'K'}: 20,
}

// ibanValue checks an IBAN under an IBAN key.
func ibanValue(b []byte, end int) (int, int) {
	s, e, kind := keyValue(b, end)
	if kind != '"' || !isIBAN(b[s:e]) {
		return 0, 0
	}
	return s, e
}

// isIBAN checks an IBAN, printed with or without groups of four: a known
// country, its length, and the ISO 13616 mod-97 checksum.
func isIBAN(m []byte) bool {
	var c [34]byte
	n := 0
	for i, x := range m {
		if x == ' ' && i%5 == 4 {
			continue
		}
		if n >= len(c) || !(isDigit(x) || x >= 'A' && x <= 'Z') {
			return false
		}
		c[n] = x
		n++
	}
	if n < 15 || !isDigit(c[2]) || !isDigit(c[3]) || ibanLengths[[2]byte{c[0], c[1]}] != n {
		return false
	}
	rem := 0
	for i := range n {
		x := c[(i+4)%n]
		if isDigit(x) {
			rem = (rem*10 + int(x-'0')) % 97
		} else {
			rem = (rem*100 + int(x-'A'+10)) % 97
		}
	}
	return rem == 1
}

// ssnValue checks a US social security number under an SSN key.
func ssnValue(b []byte, end int) (int, int) {
	s, e, kind := keyValue(b, end)
	if kind != '"' && kind != '0' {
		return 0, 0
	}
	v := b[s:e]
	if !(len(v) == 9 || len(v) == 11 && v[3] == '-' && v[6] == '-') {
		return 0, 0
	}
	if !validSSN(v) {
		return 0, 0
	}
	return s, e
}

// placeholderSSNs are numbers printed in advertising and examples.
var placeholderSSNs = []string{"078051120", "219099999", "123456789", "987654320"}

// validSSN checks a nine-digit SSN (dashes allowed): area 001–899 but not
// 666, group 01–99, serial 0001–9999, not a known placeholder.
func validSSN(v []byte) bool {
	var d [9]byte
	if digitsOf(d[:], v, "-") != 9 {
		return false
	}
	area := int(d[0])*100 + int(d[1])*10 + int(d[2])
	group := int(d[3])*10 + int(d[4])
	serial := int(d[5])*1000 + int(d[6])*100 + int(d[7])*10 + int(d[8])
	if area == 0 || area == 666 || area >= 900 || group == 0 || serial == 0 || sameDigits(d[:]) {
		return false
	}
	for _, p := range placeholderSSNs {
		if digitsEqual(d[:], p) {
			return false
		}
	}
	return true
}

// addressKeys are the JSON keys (lower case, without _ or -) whose values
// are postal addresses.
var addressKeys = []string{"address", "homeaddress", "billingaddress", "shippingaddress", "mailingaddress", "streetaddress",
	"postaladdress", "residentialaddress", "physicaladdress", "deliveryaddress", "street", "addressline1", "customeraddress"}

// addressValue checks a postal address under an address key: an object
// whose street line reads like one, or such a line.
func addressValue(b []byte, at, end int) (int, int) {
	// The whole key: "email_address" or "ip_address" are no postal address.
	q := end - 1 // the key's closing quote
	open := bytes.LastIndexByte(b[max(0, q-40):q], '"')
	if open < 0 {
		return 0, 0
	}
	open += max(0, q-40)
	if !addressKey(b[open+1 : q]) {
		return 0, 0
	}
	s, e, kind := keyValue(b, end)
	switch kind {
	case '{':
		obj := b[s:min(len(b), s+400)]
		if k := bytes.IndexByte(obj, '}'); k >= 0 {
			obj = obj[:k]
		}
		// A member holding the street line, which reads like one.
		for _, key := range streetKeys {
			k := bytes.Index(obj, []byte(key))
			if k < 0 {
				continue
			}
			if vs, ve, vk := keyValue(obj, k+len(key)); vk == '"' && streetLike(obj[vs:ve]) {
				return s, s + len(obj)
			}
		}
	case '"':
		if streetLike(b[s:e]) {
			return s, e
		}
	}
	return 0, 0
}

// streetKeys are the members of an address object that hold its street
// line.
var streetKeys = []string{`"street"`, `"street1"`, `"street_address"`, `"streetAddress"`, `"line1"`, `"line_1"`, `"address1"`, `"address_line1"`, `"addressLine1"`}

// streetLike reports a value that reads like a street line: six characters
// or more with a letter, a digit and a space ("221B Baker Street").
func streetLike(v []byte) bool {
	var letter, digit, space bool
	for _, c := range v {
		switch {
		case isDigit(c):
			digit = true
		case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
			letter = true
		case c == ' ':
			space = true
		}
	}
	return len(v) >= 6 && letter && digit && space
}

func addressKey(k []byte) bool {
	var buf [40]byte
	n := 0
	for _, c := range k {
		if c == '_' || c == '-' {
			continue
		}
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if n >= len(buf) {
			return false
		}
		buf[n] = c
		n++
	}
	for _, a := range addressKeys {
		if string(buf[:n]) == a {
			return true
		}
	}
	return false
}

// birthValue checks a date of birth: yyyy-mm-dd (a time may follow),
// dd/mm/yyyy, mm/dd/yyyy or dd.mm.yyyy, with a year from 1900 to 2099.
func birthValue(b []byte, end int) (int, int) {
	s, e, kind := keyValue(b, end)
	if kind != '"' {
		return 0, 0
	}
	v := b[s:e]
	num := func(p []byte) int {
		n := 0
		for _, c := range p {
			if !isDigit(c) {
				return -1
			}
			n = n*10 + int(c-'0')
		}
		return n
	}
	var y, m, d int
	switch {
	case len(v) >= 10 && v[4] == '-' && v[7] == '-':
		y, m, d = num(v[:4]), num(v[5:7]), num(v[8:10])
		if len(v) > 10 && v[10] != 'T' && v[10] != ' ' {
			return 0, 0
		}
	case len(v) == 10 && (v[2] == '/' && v[5] == '/' || v[2] == '.' && v[5] == '.'):
		y, m, d = num(v[6:]), num(v[3:5]), num(v[:2])
		if m > 12 && d <= 12 {
			m, d = d, m // mm/dd/yyyy
		}
	default:
		return 0, 0
	}
	if y < 1900 || y > 2099 || m < 1 || m > 12 || d < 1 || d > 31 {
		return 0, 0
	}
	return s, e
}

// isFileExtension reports the endings of names like icon@2x.png that look
// like e-mail domains (a switch rather than a list: no loop over them).
func isFileExtension(tld []byte) bool {
	switch string(tld) {
	case "png", "jpg", "jpeg", "gif", "svg", "webp", "ico", "js", "css", "map", "json", "txt", "pdf", "html", "mjs", "avif":
		return true
	}
	return false
}

// emailAround checks for an e-mail address around the '@' at b[at].
func emailAround(b []byte, at int) (int, int) {
	l := at
	for l > 0 && at-l < 64 && isLocalChar(b[l-1]) {
		l--
	}
	if l == at || b[l] == '.' || b[at-1] == '.' || (l > 0 && (isLocalChar(b[l-1]) || b[l-1] == '/')) {
		return 0, 0
	}
	r := at + 1
	lastDot := -1
	for r < len(b) && r-at <= 253 && isDomainChar(b[r]) {
		if b[r] == '.' {
			if b[r-1] == '.' || b[r-1] == '@' {
				return 0, 0
			}
			lastDot = r
		}
		r++
	}
	for r > at+1 && (b[r-1] == '.' || b[r-1] == '-') {
		r--
		if r == lastDot {
			lastDot = bytes.LastIndexByte(b[at+1:r], '.')
			if lastDot >= 0 {
				lastDot += at + 1
			}
		}
	}
	if lastDot < 0 || lastDot >= r-2 || r-lastDot-1 > 24 {
		return 0, 0
	}
	tld := b[lastDot+1 : r]
	for _, c := range tld {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return 0, 0
		}
	}
	if isFileExtension(tld) {
		return 0, 0
	}
	if r < len(b) && (isAlnum(b[r]) || b[r] == '_') {
		return 0, 0
	}
	return l, r
}

func isLocalChar(c byte) bool {
	return isAlnum(c) || c == '.' || c == '_' || c == '%' || c == '+' || c == '-'
}

func isDomainChar(c byte) bool { return isAlnum(c) || c == '.' || c == '-' }

// stringValue reads the JSON string value whose first byte is b[s] byte
// by byte, escapes skipped, as keyValue returns it: its bounds and kind
// '"', or zeros when it does not end within 256 bytes.
func stringValue(b []byte, s int) (int, int, byte) {
	e := s
	for e < len(b) && e-s <= 256 && b[e] != '"' {
		if b[e] == '\\' {
			e++
		}
		e++
	}
	if e >= len(b) || e-s > 256 || b[e] != '"' {
		return 0, 0, 0
	}
	return s, e, '"'
}
