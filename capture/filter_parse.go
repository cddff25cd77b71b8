package capture

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Bounds on what ParseFilter accepts.
const (
	maxFilterLen   = 16 << 10
	maxFilterDepth = 64 // nested parentheses and nots
)

// ParseFilter compiles expr ("host 10.0.0.1 and tcp port 80", "net
// 10.0.0.0/8", "not port 22", ...; see Filter). An empty or blank expr
// gives a nil Filter, which matches everything. Errors are *FilterError,
// matching ErrBadFilter.
func ParseFilter(expr string) (*Filter, error) {
	if len(expr) > maxFilterLen {
		return nil, &FilterError{Expr: expr[:64] + "...", Pos: maxFilterLen + 1, Msg: fmt.Sprintf("expression longer than %d bytes", maxFilterLen)}
	}
	toks, err := lexFilter(expr)
	if err != nil {
		return nil, err
	}
	if len(toks) == 1 { // just the end
		return nil, nil
	}
	p := &filterParser{expr: expr, toks: toks, f: &Filter{expr: expr}}
	root, err := p.parseExpr()
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tokEnd {
		if t.kind == tokRParen {
			return nil, p.errAt(t, "unbalanced ')'")
		}
		return nil, p.errAt(t, fmt.Sprintf("expected and, or or the end, got %q", t.text))
	}
	p.f.root = root
	return p.f, nil
}

type tokKind uint8

const (
	tokEnd tokKind = iota
	tokWord
	tokLParen
	tokRParen
	tokNot
	tokAnd
	tokOr
)

type filterToken struct {
	kind tokKind
	text string
	pos  int // 1-based column
}

func isWordByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '.' || c == ':' || c == '/' || c == '-' || c == '_'
}

func lexFilter(expr string) ([]filterToken, error) {
	var toks []filterToken
	for i := 0; i < len(expr); {
		c := expr[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '(':
			toks = append(toks, filterToken{tokLParen, "(", i + 1})
			i++
		case c == ')':
			toks = append(toks, filterToken{tokRParen, ")", i + 1})
			i++
		case c == '!' && !strings.HasPrefix(expr[i:], "!="):
			toks = append(toks, filterToken{tokNot, "!", i + 1})
			i++
		case strings.HasPrefix(expr[i:], "&&"):
			toks = append(toks, filterToken{tokAnd, "&&", i + 1})
			i += 2
		case strings.HasPrefix(expr[i:], "||"):
			toks = append(toks, filterToken{tokOr, "||", i + 1})
			i += 2
		case isWordByte(c):
			j := i
			for j < len(expr) && isWordByte(expr[j]) {
				j++
			}
			t := filterToken{tokWord, expr[i:j], i + 1}
			switch t.text {
			case "and":
				t.kind = tokAnd
			case "or":
				t.kind = tokOr
			case "not":
				t.kind = tokNot
			}
			toks = append(toks, t)
			i = j
		default:
			msg := fmt.Sprintf("unexpected character %q", rune(c))
			switch c {
			case '[', '=', '<', '>', '&', '|', '+', '*', '%', '!':
				msg += " (packet-data expressions and comparisons are not supported)"
			}
			return nil, &FilterError{Expr: expr, Pos: i + 1, Msg: msg}
		}
	}
	return append(toks, filterToken{tokEnd, "", len(expr) + 1}), nil
}

func protoByName(w string) fproto {
	switch w {
	case "ip":
		return protoIP
	case "ip6":
		return protoIP6
	case "tcp":
		return protoTCP
	case "udp":
		return protoUDP
	}
	return protoAny
}

// qualifiers are the words before a value: "tcp src port".
type qualifiers struct {
	proto fproto
	dir   fdir
	typ   ftype
}

type filterParser struct {
	expr  string
	toks  []filterToken
	i     int
	f     *Filter
	depth int
	// q are the qualifiers a bare value takes ("port 80 or 443"): those of
	// the last primitive; qok is false at the start and after a protocol
	// alone or a group ("10.0.0.1", "tcp or 443", "(port 80) or 443" are
	// errors, as in tcpdump).
	q   qualifiers
	qok bool
	// valuesOnly is set inside a group that starts with a bare value:
	// tcpdump allows only values there ("host a and (b or not c)").
	valuesOnly bool
}

func (p *filterParser) peek() filterToken { return p.toks[p.i] }

func (p *filterParser) peekAt(k int) filterToken {
	if p.i+k < len(p.toks) {
		return p.toks[p.i+k]
	}
	return p.toks[len(p.toks)-1]
}

func (p *filterParser) next() filterToken {
	t := p.toks[p.i]
	if t.kind != tokEnd {
		p.i++
	}
	return t
}

func (p *filterParser) errAt(t filterToken, msg string) error {
	return &FilterError{Expr: p.expr, Pos: t.pos, Msg: msg}
}

func (p *filterParser) add(n fnode) int32 {
	p.f.nodes = append(p.f.nodes, n)
	return int32(len(p.f.nodes) - 1)
}

// parseExpr: term { (and|or) term }, left to right at equal precedence.
func (p *filterParser) parseExpr() (int32, error) {
	first, err := p.parseTerm()
	if err != nil {
		return 0, err
	}
	if k := p.peek().kind; k != tokAnd && k != tokOr {
		return first, nil
	}
	items := []fitem{{node: first}}
	for {
		op := p.peek()
		if op.kind != tokAnd && op.kind != tokOr {
			break
		}
		p.next()
		n, err := p.parseTerm()
		if err != nil {
			return 0, err
		}
		items = append(items, fitem{node: n, or: op.kind == tokOr})
	}
	start := int32(len(p.f.items))
	p.f.items = append(p.f.items, items...)
	return p.add(fnode{kind: fnChain, a: start, b: int32(len(p.f.items))}), nil
}

// parseTerm: not term | ( expr ) | primitive | bare value.
func (p *filterParser) parseTerm() (int32, error) {
	t := p.peek()
	if p.depth++; p.depth > maxFilterDepth {
		return 0, p.errAt(t, fmt.Sprintf("nested more than %d deep", maxFilterDepth))
	}
	defer func() { p.depth-- }()
	switch t.kind {
	case tokNot:
		p.next()
		n, err := p.parseTerm()
		if err != nil {
			return 0, err
		}
		return p.add(fnode{kind: fnNot, a: n}), nil
	case tokLParen:
		p.next()
		outer := p.valuesOnly
		if !outer {
			k := p.i
			for p.toks[k].kind == tokNot || p.toks[k].kind == tokLParen {
				k++
			}
			p.valuesOnly = p.isBareValue(p.toks[k])
		}
		n, err := p.parseExpr()
		if err != nil {
			return 0, err
		}
		p.valuesOnly = outer
		if c := p.peek(); c.kind != tokRParen {
			if c.kind == tokEnd {
				return 0, p.errAt(t, "unclosed '('")
			}
			return 0, p.errAt(c, fmt.Sprintf("expected ')', got %q", c.text))
		}
		p.next()
		// As in tcpdump, a bare value cannot follow a group.
		p.qok = false
		return n, nil
	case tokWord:
		if isQualifier(t.text) {
			if p.valuesOnly {
				return 0, p.errAt(t, fmt.Sprintf("%q in a group of values (as in tcpdump, a group that starts with a value holds only values)", t.text))
			}
			return p.parsePrimitive()
		}
		if why, ok := unsupportedWord(t.text); ok {
			return 0, p.errAt(t, fmt.Sprintf("%q is not supported%s", t.text, why))
		}
		if !p.qok {
			return 0, p.errAt(t, fmt.Sprintf("%q needs a qualifier such as host, net or port", t.text))
		}
		p.next()
		return p.value(p.q, t)
	case tokEnd:
		if p.i == 0 {
			return 0, p.errAt(t, "empty expression")
		}
		return 0, p.errAt(t, fmt.Sprintf("expression ends after %q", p.toks[p.i-1].text))
	case tokRParen:
		return 0, p.errAt(t, "unexpected ')'")
	default:
		return 0, p.errAt(t, fmt.Sprintf("unexpected %q", t.text))
	}
}

// isBareValue reports whether t is a value without qualifiers.
func (p *filterParser) isBareValue(t filterToken) bool {
	if t.kind != tokWord || isQualifier(t.text) {
		return false
	}
	_, bad := unsupportedWord(t.text)
	return !bad
}

func isQualifier(w string) bool {
	switch w {
	case "ip", "ip6", "tcp", "udp", "src", "dst", "host", "net", "port", "portrange":
		return true
	}
	return false
}

// unsupportedWord reports whether w is a tcpdump keyword this filter does
// not implement, with a hint where one helps.
func unsupportedWord(w string) (hint string, ok bool) {
	switch w {
	case "icmp", "icmp6", "igmp", "sctp", "arp", "rarp":
		return " (only TCP and UDP packets reach the filter)", true
	case "vlan", "mpls", "pppoes", "pppoed":
		return " (encapsulations are removed before the filter)", true
	case "geneve", "vxlan":
		return " (tunnels are removed before the filter; the filter sees the inner packet)", true
	case "ether", "proto", "protochain", "less", "greater", "len", "broadcast", "multicast",
		"gateway", "inbound", "outbound", "ifname", "on", "wlan", "type", "subtype", "decnet",
		"atalk", "ipx", "iso", "llc", "link", "ah", "esp", "ra", "ta", "addr1", "addr2", "addr3",
		"addr4", "fddi", "tr", "ppp", "slip", "mask":
		return "", true
	}
	return "", false
}

// parsePrimitive: [proto] [dir] [type] value, or a protocol alone.
func (p *filterParser) parsePrimitive() (int32, error) {
	var q qualifiers
	start := p.peek()
	t := start
	switch t.text {
	case "ip", "ip6", "tcp", "udp":
		q.proto = protoByName(t.text)
		p.next()
		n := p.peek()
		if n.kind != tokWord {
			// A protocol alone: "tcp", "tcp and ...", "(tcp)".
			p.qok = false
			return p.add(fnode{prim: fprim{kind: primProto, proto: q.proto}}), nil
		}
		if why, bad := unsupportedWord(n.text); bad {
			return 0, p.errAt(n, fmt.Sprintf("%q is not supported%s", n.text, why))
		}
		if protoByName(n.text) != protoAny {
			return 0, p.errAt(n, fmt.Sprintf("%q after %q: join protocols with and/or", n.text, t.text))
		}
		if !isQualifier(n.text) {
			return 0, p.errAt(n, fmt.Sprintf("%q after %q: expected src, dst, host, net, port, portrange, and, or or the end", n.text, t.text))
		}
		t = n
	}
	if t.text == "src" || t.text == "dst" {
		q.dir = dirSrc
		if t.text == "dst" {
			q.dir = dirDst
		}
		p.next()
		// "src or dst", "src and dst"
		if op, other := p.peek(), p.peekAt(1); (op.kind == tokAnd || op.kind == tokOr) && other.kind == tokWord && (other.text == "src" || other.text == "dst") {
			p.next()
			p.next()
			if other.text != t.text {
				q.dir = dirEither
				if op.kind == tokAnd {
					q.dir = dirBoth
				}
			}
		}
		t = p.peek()
		if t.kind != tokWord {
			return 0, p.errAt(t, fmt.Sprintf("expected a value after %q", p.toks[p.i-1].text))
		}
	}
	switch t.text {
	case "host":
		q.typ = typeHost
	case "net":
		q.typ = typeNet
	case "port":
		q.typ = typePort
	case "portrange":
		q.typ = typePortRange
	}
	if q.typ != typeDefault {
		p.next()
	}
	v := p.peek()
	if v.kind != tokWord || isQualifier(v.text) {
		after := p.toks[p.i-1].text
		if v.kind == tokEnd {
			return 0, p.errAt(v, fmt.Sprintf("expected a value after %q", after))
		}
		return 0, p.errAt(v, fmt.Sprintf("expected a value after %q, got %q", after, v.text))
	}
	p.next()
	p.q, p.qok = q, true
	return p.value(q, v)
}

// value builds the primitive for one value under qualifiers q.
func (p *filterParser) value(q qualifiers, t filterToken) (int32, error) {
	prim := fprim{proto: q.proto, dir: q.dir, typ: q.typ}
	if prim.typ == typeDefault {
		prim.typ = typeHost
		if strings.Contains(t.text, "/") {
			prim.typ = typeNet
		}
	}
	switch prim.typ {
	case typeHost, typeNet:
		if q.proto == protoTCP || q.proto == protoUDP {
			return 0, p.errAt(t, fmt.Sprintf("%q does not qualify an address (use \"%s and host ...\")", fprotoNames[q.proto], fprotoNames[q.proto]))
		}
		prim.kind = primAddr
		var err error
		if prim.typ == typeHost {
			err = p.host(&prim, t)
		} else {
			err = p.network(&prim, t)
		}
		if err != nil {
			return 0, err
		}
		if q.proto == protoIP && prim.v6 || q.proto == protoIP6 && !prim.v6 {
			return 0, p.errAt(t, fmt.Sprintf("%q is not an %s address", t.text, fprotoNames[q.proto]))
		}
	case typePort, typePortRange:
		if q.proto == protoIP || q.proto == protoIP6 {
			return 0, p.errAt(t, fmt.Sprintf("%q does not qualify a port (use tcp, udp or \"%s and port ...\")", fprotoNames[q.proto], fprotoNames[q.proto]))
		}
		prim.kind = primPort
		if prim.typ == typePort {
			n, ok := portNumber(t.text)
			if !ok {
				return 0, p.errAt(t, fmt.Sprintf("bad port %q", t.text))
			}
			prim.lo, prim.hi = n, n
			break
		}
		a, b, found := strings.Cut(t.text, "-")
		lo, ok1 := portNumber(a)
		hi, ok2 := portNumber(b)
		if !found || !ok1 || !ok2 {
			return 0, p.errAt(t, fmt.Sprintf("bad port range %q (want A-B)", t.text))
		}
		prim.lo, prim.hi = min(lo, hi), max(lo, hi)
	}
	return p.add(fnode{prim: prim}), nil
}

func (p *filterParser) host(prim *fprim, t filterToken) error {
	a, err := netip.ParseAddr(t.text)
	if err != nil {
		if strings.Contains(t.text, "/") {
			return p.errAt(t, fmt.Sprintf("%q: a prefix length needs net, not host", t.text))
		}
		if strings.ContainsAny(t.text, "ghijklmnopqrstuvwxyzGHIJKLMNOPQRSTUVWXYZ_") {
			return p.errAt(t, fmt.Sprintf("%q: host names are not resolved; give an address", t.text))
		}
		return p.errAt(t, fmt.Sprintf("bad address %q", t.text))
	}
	setAddr(prim, a, maskOnes(128))
	return nil
}

// network parses CIDR ("10.0.0.0/8"), tcpdump's partial IPv4 networks
// ("10", "192.168", "10/8") and "A.B.C.D mask M".
func (p *filterParser) network(prim *fprim, t filterToken) error {
	text, plen := t.text, -1
	if a, b, found := strings.Cut(text, "/"); found {
		n, err := strconv.Atoi(b)
		if err != nil || n < 0 {
			return p.errAt(t, fmt.Sprintf("bad prefix length in %q", text))
		}
		text, plen = a, n
	}
	addr, octets, err := parseNetAddr(text)
	if err != nil {
		return p.errAt(t, fmt.Sprintf("bad network %q", t.text))
	}
	if m := p.peek(); m.kind == tokWord && m.text == "mask" {
		if plen >= 0 {
			return p.errAt(m, "both a prefix length and a mask")
		}
		if addr.Is6() {
			return p.errAt(m, "mask is for IPv4 networks; use a prefix length")
		}
		p.next()
		mt := p.next()
		mask, err := netip.ParseAddr(mt.text)
		if mt.kind != tokWord || err != nil || !mask.Is4() {
			return p.errAt(mt, fmt.Sprintf("bad mask %q", mt.text))
		}
		m4 := mask.As4()
		if !setAddr(prim, addr, [2]uint64{^uint64(0), 0xffffffff<<32 | uint64(binary.BigEndian.Uint32(m4[:]))}) {
			return p.errAt(t, fmt.Sprintf("%q has bits set outside mask %s", t.text, mt.text))
		}
		return nil
	}
	maxLen := 128
	if addr.Is4() {
		maxLen = 32
	}
	switch {
	case plen > maxLen:
		return p.errAt(t, fmt.Sprintf("prefix length %d too long for %q", plen, text))
	case plen < 0 && addr.Is4():
		plen = 8 * octets
	case plen < 0:
		plen = 128
	}
	if addr.Is4() {
		plen += 96
	}
	if !setAddr(prim, addr, maskOnes(plen)) {
		return p.errAt(t, fmt.Sprintf("%q has host bits set (the network is %s)", t.text, prim.address()))
	}
	return nil
}

// parseNetAddr parses an IPv6 address or a dotted IPv4 network of 1 to 4
// octets ("10" is 10.0.0.0), returning how many octets were given.
func parseNetAddr(s string) (netip.Addr, int, error) {
	if strings.Contains(s, ":") {
		a, err := netip.ParseAddr(s)
		return a, 0, err
	}
	parts := strings.Split(s, ".")
	if len(parts) > 4 {
		return netip.Addr{}, 0, fmt.Errorf("too many octets")
	}
	var b [4]byte
	for i, part := range parts {
		n, err := strconv.ParseUint(part, 10, 8)
		if err != nil || part == "" || len(part) > 1 && part[0] == '0' {
			return netip.Addr{}, 0, fmt.Errorf("bad octet %q", part)
		}
		b[i] = byte(n)
	}
	return netip.AddrFrom4(b), len(parts), nil
}

// maskOnes returns a 128-bit mask of ones leading one bits.
func maskOnes(ones int) [2]uint64 {
	switch {
	case ones <= 0:
		return [2]uint64{}
	case ones <= 64:
		return [2]uint64{^uint64(0) << (64 - ones), 0}
	case ones < 128:
		return [2]uint64{^uint64(0), ^uint64(0) << (128 - ones)}
	}
	return [2]uint64{^uint64(0), ^uint64(0)}
}

// setAddr stores a (in 16-byte form) under mask. It reports whether a had
// no bits outside the mask.
func setAddr(prim *fprim, a netip.Addr, mask [2]uint64) bool {
	prim.v6 = a.Is6()
	b := a.As16()
	raw := [2]uint64{binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])}
	prim.mask = mask
	prim.addr = [2]uint64{raw[0] & mask[0], raw[1] & mask[1]}
	return prim.addr == raw
}

// portNumber parses a port number or one of the common service names.
func portNumber(s string) (uint16, bool) {
	if n, err := strconv.ParseUint(s, 10, 16); err == nil {
		return uint16(n), true
	}
	switch s {
	case "ftp-data":
		return 20, true
	case "ftp":
		return 21, true
	case "ssh":
		return 22, true
	case "telnet":
		return 23, true
	case "smtp":
		return 25, true
	case "domain":
		return 53, true
	case "http", "www":
		return 80, true
	case "pop3":
		return 110, true
	case "ntp":
		return 123, true
	case "imap":
		return 143, true
	case "snmp":
		return 161, true
	case "ldap":
		return 389, true
	case "https":
		return 443, true
	case "submission":
		return 587, true
	case "ldaps":
		return 636, true
	case "mysql":
		return 3306, true
	case "postgresql":
		return 5432, true
	case "redis":
		return 6379, true
	case "http-alt":
		return 8080, true
	}
	return 0, false
}
