package capture

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"net/netip"
	"strconv"
	"strings"
)

// ErrBadFilter is matched (errors.Is) by every error ParseFilter returns;
// errors.As with *FilterError gives the position.
var ErrBadFilter = errors.New("bad filter")

// FilterError says where and why a filter expression does not parse.
type FilterError struct {
	Expr string // the expression
	Pos  int    // 1-based byte column of the offending token
	Msg  string // what is wrong there
}

func (e *FilterError) Error() string {
	return fmt.Sprintf("bad filter %q at column %d: %s", e.Expr, e.Pos, e.Msg)
}

// Unwrap makes errors.Is(err, ErrBadFilter) hold.
func (e *FilterError) Unwrap() error { return ErrBadFilter }

// Filter is a compiled capture filter in tcpdump syntax. A nil *Filter
// matches everything. It is immutable once parsed and safe for concurrent
// use; Match does not allocate.
//
// Supported, as in tcpdump (pcap-filter(7)):
//
//	[ip|ip6] [src|dst|src or dst|src and dst] host ADDR
//	[ip|ip6] [src|dst|...] net CIDR | net A.B.C.D mask M | net 10 | net 192.168
//	[tcp|udp] [src|dst|...] port N|NAME, portrange A-B
//	ip, ip6, tcp, udp
//	not / !, and / &&, or / ||, ( )
//
// "not" binds tightest; "and" and "or" have equal precedence and group left
// to right ("a or b and c" is "(a or b) and c"). A bare value after and, or,
// not repeats the qualifiers before it: "port 80 or 443", "host 10.0.0.1
// or 10.0.0.2", "tcp dst port 80 and not 8080". Port filters match TCP and
// UDP only. After src or dst alone a value is a host ("src 10.0.0.1") or,
// with a prefix length, a net. Host names are not resolved.
type Filter struct {
	expr  string
	nodes []fnode
	items []fitem // operands of chains, each chain's a contiguous run
	root  int32
}

type fnodeKind uint8

const (
	fnPrim  fnodeKind = iota
	fnNot             // !nodes[a]
	fnChain           // items[a:b], left to right
)

type fnode struct {
	kind fnodeKind
	a, b int32
	prim fprim
}

// fitem is one operand of a chain; or says how it joins what precedes it.
type fitem struct {
	node int32
	or   bool
}

type fproto uint8

const (
	protoAny fproto = iota
	protoIP
	protoIP6
	protoTCP
	protoUDP
)

var fprotoNames = [...]string{protoAny: "", protoIP: "ip", protoIP6: "ip6", protoTCP: "tcp", protoUDP: "udp"}

type fdir uint8

const (
	dirEither fdir = iota // src or dst
	dirSrc
	dirDst
	dirBoth // src and dst
)

var fdirNames = [...]string{dirEither: "", dirSrc: "src", dirDst: "dst", dirBoth: "src and dst"}

type ftype uint8

const (
	typeDefault ftype = iota
	typeHost
	typeNet
	typePort
	typePortRange
)

type fprimKind uint8

const (
	primProto fprimKind = iota // a protocol alone: tcp
	primAddr                   // host or net
	primPort                   // port or portrange
)

// fprim is one primitive, matched against a Decoded without allocating.
type fprim struct {
	kind  fprimKind
	proto fproto
	dir   fdir
	typ   ftype
	// primAddr: an address in 16-byte (IPv4-mapped) form, as two halves,
	// and the mask to apply to the packet's address before comparing.
	v6         bool
	addr, mask [2]uint64
	// primPort: the inclusive range.
	lo, hi uint16
}

// Match reports whether the decoded packet passes the filter. A nil Filter
// passes everything.
func (f *Filter) Match(d *Decoded) bool {
	if f == nil {
		return true
	}
	return f.eval(f.root, d)
}

func (f *Filter) eval(i int32, d *Decoded) bool {
	n := &f.nodes[i]
	switch n.kind {
	case fnNot:
		return !f.eval(n.a, d)
	case fnChain:
		items := f.items[n.a:n.b]
		acc := f.eval(items[0].node, d)
		for _, it := range items[1:] {
			if it.or != acc { // "or" after false, "and" after true
				acc = f.eval(it.node, d)
			}
		}
		return acc
	}
	return n.prim.match(d)
}

func (p *fprim) match(d *Decoded) bool {
	switch p.proto {
	case protoIP:
		if d.IPv6 {
			return false
		}
	case protoIP6:
		if !d.IPv6 {
			return false
		}
	case protoTCP:
		if d.Key.Proto != ProtoTCP {
			return false
		}
	case protoUDP:
		if d.Key.Proto != ProtoUDP {
			return false
		}
	}
	switch p.kind {
	case primAddr:
		if d.IPv6 != p.v6 {
			return false
		}
		return p.dir.match(p.addrIn(&d.Key.Src), p.addrIn(&d.Key.Dst))
	case primPort:
		if d.Key.Proto != ProtoTCP && d.Key.Proto != ProtoUDP {
			return false
		}
		return p.dir.match(p.lo <= d.Key.SrcPort && d.Key.SrcPort <= p.hi,
			p.lo <= d.Key.DstPort && d.Key.DstPort <= p.hi)
	}
	return true
}

func (p *fprim) addrIn(a *[16]byte) bool {
	return binary.BigEndian.Uint64(a[:8])&p.mask[0] == p.addr[0] &&
		binary.BigEndian.Uint64(a[8:])&p.mask[1] == p.addr[1]
}

func (d fdir) match(src, dst bool) bool {
	switch d {
	case dirSrc:
		return src
	case dirDst:
		return dst
	case dirBoth:
		return src && dst
	}
	return src || dst
}

// String returns the filter in canonical form: every primitive with its
// qualifiers spelled out, which ParseFilter reads back to the same filter.
func (f *Filter) String() string {
	if f == nil {
		return ""
	}
	var b strings.Builder
	f.format(&b, f.root, false)
	return b.String()
}

func (f *Filter) format(b *strings.Builder, i int32, nested bool) {
	n := &f.nodes[i]
	switch n.kind {
	case fnNot:
		b.WriteString("not ")
		f.format(b, n.a, true)
	case fnChain:
		if nested {
			b.WriteByte('(')
		}
		for k, it := range f.items[n.a:n.b] {
			if k > 0 {
				if it.or {
					b.WriteString(" or ")
				} else {
					b.WriteString(" and ")
				}
			}
			f.format(b, it.node, true)
		}
		if nested {
			b.WriteByte(')')
		}
	default:
		n.prim.format(b)
	}
}

func (p *fprim) format(b *strings.Builder) {
	words := make([]string, 0, 4)
	if s := fprotoNames[p.proto]; s != "" {
		words = append(words, s)
	}
	if s := fdirNames[p.dir]; s != "" {
		words = append(words, s)
	}
	switch p.kind {
	case primAddr:
		addr := p.address()
		if p.typ == typeHost {
			words = append(words, "host", addr.String())
			break
		}
		ones := bits.OnesCount64(p.mask[0]) + bits.OnesCount64(p.mask[1])
		if !p.v6 {
			ones -= 96
		}
		if pfx := netip.PrefixFrom(addr, ones); pfx.Masked().Addr() == addr && p.contiguous() {
			words = append(words, "net", pfx.String())
		} else {
			var m [16]byte
			binary.BigEndian.PutUint64(m[:8], p.mask[0])
			binary.BigEndian.PutUint64(m[8:], p.mask[1])
			mask := netip.AddrFrom16(m)
			if !p.v6 {
				mask = netip.AddrFrom4([4]byte(m[12:]))
			}
			words = append(words, "net", addr.String(), "mask", mask.String())
		}
	case primPort:
		if p.typ == typePort {
			words = append(words, "port", strconv.Itoa(int(p.lo)))
		} else {
			words = append(words, "portrange", fmt.Sprintf("%d-%d", p.lo, p.hi))
		}
	}
	b.WriteString(strings.Join(words, " "))
}

func (p *fprim) address() netip.Addr {
	var a [16]byte
	binary.BigEndian.PutUint64(a[:8], p.addr[0])
	binary.BigEndian.PutUint64(a[8:], p.addr[1])
	if p.v6 {
		return netip.AddrFrom16(a)
	}
	return netip.AddrFrom16(a).Unmap()
}

// contiguous reports whether the mask is a run of ones then zeros.
func (p *fprim) contiguous() bool {
	m0, m1 := p.mask[0], p.mask[1]
	if m0 != ^uint64(0) {
		return m1 == 0 && bits.LeadingZeros64(^m0)+bits.TrailingZeros64(m0) == 64
	}
	return m1 == 0 || bits.LeadingZeros64(^m1)+bits.TrailingZeros64(m1) == 64
}
