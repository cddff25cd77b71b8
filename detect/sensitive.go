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
	reEmail = regexp.MustCompile(`[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})*\.[A-Za-z]{2,24}`)
	rePhone = regexp.MustCompile(`"(?:phone|mobile|phone_number|phoneNumber|tel|telephone)"\s*:\s*"\+?[0-9][0-9 ().-]{6,18}[0-9]"`)
	reCard  = regexp.MustCompile(`[0-9][0-9 -]{11,21}[0-9]`)
	reIBAN  = regexp.MustCompile(`[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}`)
	reSSN   = regexp.MustCompile(`"(?:ssn|social_security_number|socialSecurityNumber)"\s*:\s*"([0-9]{3}-?[0-9]{2}-?[0-9]{4})"`)
)

// classifyBody returns the sensitive data types found in a body sample. It is
// a first, cheap classifier: the secret scanner proper lives with the
// detectors.
func classifyBody(b []byte) sensitiveSet {
	if len(b) == 0 {
		return 0
	}
	var s sensitiveSet
	if bytes.IndexByte(b, '@') >= 0 && reEmail.Match(b) {
		s |= sensEmail
	}
	if rePhone.Match(b) {
		s |= sensPhone
	}
	for _, m := range reCard.FindAll(b, 16) {
		if isCard(m) {
			s |= sensCard
			break
		}
	}
	for _, m := range reIBAN.FindAll(b, 16) {
		if isIBAN(m) {
			s |= sensIBAN
			break
		}
	}
	if m := reSSN.FindSubmatch(b); m != nil && validSSN(m[1]) {
		s |= sensSSN
	}
	if hasSecret(b) {
		s |= sensSecret
	}
	return s
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
