package detect

import (
	"bytes"
	"regexp"
)

// sensitiveSet is a set of personal or secret data types seen.
type sensitiveSet uint16

const (
	sensEmail sensitiveSet = 1 << iota
	sensPhone
	sensCard
	sensIBAN
	sensSSN
	sensSecret
)

var sensitiveNames = []struct {
	bit  sensitiveSet
	name string
}{
	{sensEmail, "email"}, {sensPhone, "phone"}, {sensCard, "card"}, {sensIBAN, "iban"}, {sensSSN, "ssn"}, {sensSecret, "secret"},
}

func (s sensitiveSet) names() []string {
	out := []string{}
	for _, n := range sensitiveNames {
		if s&n.bit != 0 {
			out = append(out, n.name)
		}
	}
	return out
}

var (
	rePhone = regexp.MustCompile(`"(?:phone|mobile|phone_number|phoneNumber|tel|telephone)"\s*:\s*"\+?[0-9][0-9 ().-]{6,18}[0-9]"`)
	reSSN   = regexp.MustCompile(`"(?:ssn|social_security_number|socialSecurityNumber)"\s*:\s*"([0-9]{3}-?[0-9]{2}-?[0-9]{4})"`)
)

// maxClassify bounds the body bytes the first classifier reads.
const maxClassify = 16 << 10

// classifyBody returns the sensitive data types found in a body sample. It is
// a first, cheap classifier: hand-written scanners, regular expressions only
// behind a keyword prefilter.
func classifyBody(b []byte) sensitiveSet {
	return classifyPersonal(b) | secretIf(hasBodySecret(b))
}

func secretIf(found bool) sensitiveSet {
	if found {
		return sensSecret
	}
	return 0
}

// classifyPersonal is classifyBody without the secret scan, for callers
// that have scanned for secrets already.
func classifyPersonal(b []byte) sensitiveSet {
	if len(b) == 0 {
		return 0
	}
	if len(b) > maxClassify {
		b = b[:maxClassify]
	}
	var s sensitiveSet
	if hasEmail(b) {
		s |= sensEmail
	}
	if hasPhone(b) {
		s |= sensPhone
	}
	if hasCard(b) {
		s |= sensCard
	}
	if hasIBAN(b) {
		s |= sensIBAN
	}
	if bytes.Contains(b, []byte("ocial")) || bytes.Contains(b, []byte(`"ssn"`)) {
		if m := reSSN.FindSubmatch(b); m != nil && validSSN(m[1]) {
			s |= sensSSN
		}
	}
	return s
}

func isLocalChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '%' || c == '+' || c == '-'
}

func isDomainChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-'
}

// hasEmail looks for local@domain.tld around each '@'.
func hasEmail(b []byte) bool {
	for i := 0; i < len(b); {
		j := bytes.IndexByte(b[i:], '@')
		if j < 0 {
			return false
		}
		at := i + j
		l := at
		for l > 0 && at-l < 64 && isLocalChar(b[l-1]) {
			l--
		}
		r := at + 1
		for r < len(b) && r-at < 255 && isDomainChar(b[r]) {
			r++
		}
		if at-l >= 1 && r-at > 4 {
			dom := bytes.TrimRight(b[at+1:r], ".")
			if k := bytes.LastIndexByte(dom, '.'); k > 0 && len(dom)-k-1 >= 2 {
				tld := dom[k+1:]
				ok := true
				for _, c := range tld {
					if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
						ok = false
						break
					}
				}
				if ok {
					return true
				}
			}
		}
		i = at + 1
	}
	return false
}

// hasCard scans runs of digits (spaces and dashes allowed between groups)
// of card length and checks them.
func hasCard(b []byte) bool {
	for i := 0; i < len(b); i++ {
		if b[i] < '0' || b[i] > '9' || (i > 0 && b[i-1] >= '0' && b[i-1] <= '9') {
			continue
		}
		j, digits := i, 0
		for j < len(b) && digits <= 19 {
			c := b[j]
			if c >= '0' && c <= '9' {
				digits++
			} else if (c != ' ' && c != '-') || j+1 >= len(b) || b[j+1] < '0' || b[j+1] > '9' {
				break
			}
			j++
		}
		if digits >= 13 && digits <= 19 && isCard(b[i:j]) {
			return true
		}
		i = j
	}
	return false
}

// hasIBAN scans for two capitals, two digits and 11–30 alphanumerics.
func hasIBAN(b []byte) bool {
	for i := 0; i+15 <= len(b); i++ {
		c := b[i]
		if c < 'A' || c > 'Z' || (i > 0 && (b[i-1] >= 'A' && b[i-1] <= 'Z' || b[i-1] >= '0' && b[i-1] <= '9')) {
			continue
		}
		if b[i+1] < 'A' || b[i+1] > 'Z' || b[i+2] < '0' || b[i+2] > '9' || b[i+3] < '0' || b[i+3] > '9' {
			continue
		}
		j := i + 4
		for j < len(b) && j-i < 34 && (b[j] >= 'A' && b[j] <= 'Z' || b[j] >= '0' && b[j] <= '9') {
			j++
		}
		if j-i >= 15 && isIBAN(b[i:j]) {
			return true
		}
	}
	return false
}

// isCard checks a card number: 13–19 digits, a known issuer prefix, Luhn.
func isCard(m []byte) bool {
	var d []byte
	for _, c := range m {
		if c >= '0' && c <= '9' {
			d = append(d, c-'0')
		}
	}
	if len(d) < 13 || len(d) > 19 {
		return false
	}
	switch {
	case d[0] == 4: // Visa
	case d[0] == 5 && d[1] >= 1 && d[1] <= 5: // Mastercard
	case d[0] == 2 && d[1] >= 2 && d[1] <= 7: // Mastercard 2-series
	case d[0] == 3 && (d[1] == 4 || d[1] == 7): // Amex
	case d[0] == 6: // Discover, UnionPay, Maestro
	case d[0] == 3 && d[1] == 5: // JCB
	default:
		return false
	}
	sum := 0
	for i := range d {
		v := int(d[len(d)-1-i])
		if i%2 == 1 {
			v *= 2
			if v > 9 {
				v -= 9
			}
		}
		sum += v
	}
	return sum%10 == 0
}

// isIBAN checks the ISO 13616 mod-97 checksum.
func isIBAN(m []byte) bool {
	if len(m) < 15 || len(m) > 34 {
		return false
	}
	r := append(append([]byte{}, m[4:]...), m[:4]...)
	rem := 0
	for _, c := range r {
		switch {
		case c >= '0' && c <= '9':
			rem = (rem*10 + int(c-'0')) % 97
		case c >= 'A' && c <= 'Z':
			rem = (rem*100 + int(c-'A'+10)) % 97
		default:
			return false
		}
	}
	return rem == 1
}

// validSSN rejects the never-issued US SSN ranges.
func validSSN(b []byte) bool {
	var d []byte
	for _, c := range b {
		if c != '-' {
			d = append(d, c)
		}
	}
	area := string(d[:3])
	return area != "000" && area != "666" && d[0] != '9' && string(d[3:5]) != "00" && string(d[5:]) != "0000"
}

// phoneKeys are the JSON keys whose values rePhone checks.
var phoneKeys = [][]byte{[]byte(`"phone`), []byte(`"mobile"`), []byte(`"tel`)}

// hasPhone runs rePhone only on a window after each phone-like key.
func hasPhone(b []byte) bool {
	for _, k := range phoneKeys {
		rest, base := b, 0
		for n := 0; n < 16; n++ {
			i := bytes.Index(rest, k)
			if i < 0 {
				break
			}
			at := base + i
			if rePhone.Match(b[at:min(len(b), at+80)]) {
				return true
			}
			base = at + len(k)
			rest = b[base:]
		}
	}
	return false
}

// hasBodySecret reports a recognised secret in a body, issued JWTs aside
// (they are normal in bodies, as for the secret_exposure detector).
func hasBodySecret(b []byte) bool {
	found := false
	eachSecret(b, false, func(m []byte) {
		if secretType(string(m)) != "jwt" {
			found = true
		}
	})
	return found
}
