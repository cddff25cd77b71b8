package detect

// sensitiveSet is a set of personal or secret data types seen.
type sensitiveSet uint16

const (
	sensEmail sensitiveSet = 1 << iota
	sensPhone
	sensCard
	sensIBAN
	sensSSN
	sensSecret
	sensAddress
	sensBirthdate
)

// sensitiveNames is the order in which the contract lists the types.
var sensitiveNames = []struct {
	bit  sensitiveSet
	name string
}{
	{sensEmail, "email"}, {sensPhone, "phone"}, {sensCard, "card"}, {sensIBAN, "iban"}, {sensSSN, "ssn"},
	{sensAddress, "address"}, {sensBirthdate, "birthdate"}, {sensSecret, "secret"},
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

// setOf is the set of data types of some findings.
func setOf(fs []finding) sensitiveSet {
	var s sensitiveSet
	for _, f := range fs {
		s |= dataInfo[f.typ].bit
	}
	return s
}

// classifyBody returns the data types a response body holds: personal
// data, and secrets other than issued JWTs (normal in bodies).
func classifyBody(b []byte) sensitiveSet {
	return setOf(theScanner.scan(b, scanPersonal|scanSecrets, nil))
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
	return setOf(theScanner.scan(b, scanPersonal, nil))
}
