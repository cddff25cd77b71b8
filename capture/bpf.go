package capture

import (
	"errors"
	"fmt"

	"golang.org/x/net/bpf"
)

// ErrFilterTooLarge is returned by CompileBPF when the program would exceed
// the kernel's limit of BPFMaxInstructions. The filter then still applies
// in userspace (reassembly.Options.Filter); only the kernel prefilter is
// missing.
var ErrFilterTooLarge = errors.New("filter too large for classic BPF")

// BPFMaxInstructions is the kernel's limit on a classic BPF program
// (BPF_MAXINSNS).
const BPFMaxInstructions = 4096

// Scratch memory slots of the compiled program.
const (
	memL3    = 0 // offset of the IP header
	memL4    = 1 // offset of the TCP or UDP header
	memVer   = 2 // 4 or 6
	memProto = 3 // 6 (TCP) or 17 (UDP)
)

// EtherTypes and IP protocols the compiled program looks at.
const (
	etIPv4        = 0x0800
	etIPv6        = 0x86dd
	etPPPoESess   = 0x8864
	etMPLSUni     = 0x8847
	etMPLSMulti   = 0x8848
	ipProtoTCP    = 6
	ipProtoUDP    = 17
	ipProtoIPIP   = 4
	ipProtoIPv6   = 41
	ipProtoGRE    = 47
	ip6HopByHop   = 0
	ip6Routing    = 43
	ip6Fragment   = 44
	ip6AH         = 51
	ip6DestOpts   = 60
	ip6Mobility   = 135
	ip6HIP        = 139
	ip6Shim6      = 140
	ipv4FragMask  = 0x3fff // MF flag and fragment offset
	ethTypeOffset = 12
)

// CompileBPF compiles f to a classic BPF program for Ethernet frames, to
// attach to a packet socket (SO_ATTACH_FILTER). The program returns
// snapLen for a frame to keep (0 or less means 262144) and 0 for a frame to
// drop. A nil f keeps every frame.
//
// The program is a prefilter: it keeps every frame that Decoder.Decode
// followed by f.Match would keep, and drops exactly the frames Match
// rejects when the frame is Ethernet, up to 8 VLAN tags (802.1Q, 802.1ad
// and the 0x9100-0x9300 QinQ types, as the decoder), then IPv4 without
// fragmentation or IPv6 without extension headers, then TCP or UDP. Frames
// the decoder would discard before the filter (not IP; IP but neither TCP
// nor UDP nor a tunnel) are dropped too. Frames whose verdict depends on
// what only userspace sees keep the kernel out of it and are kept: IP
// fragments (reassembled in userspace), IPv6 extension headers, PPPoE and
// MPLS, IP-in-IP and GRE, and UDP to the VXLAN, VXLAN-GPE and GENEVE ports
// (the filter applies to the inner packet). Userspace must therefore still
// apply f, as reassembly.Run does with Options.Filter.
//
// On Linux a VLAN tag stripped by the NIC or the kernel is not in the frame
// the program sees; the program then sees the untagged frame, which the
// tag does not change the verdict of.
//
// It returns an error matching ErrFilterTooLarge when the program would be
// longer than BPFMaxInstructions.
func CompileBPF(f *Filter, snapLen int) ([]bpf.Instruction, error) {
	if snapLen <= 0 {
		snapLen = defaultSnapLen
	}
	if f == nil {
		return []bpf.Instruction{bpf.RetConstant{Val: uint32(snapLen)}}, nil
	}
	c := &bpfCompiler{f: f}
	keep := c.newLabel()
	drop := c.newLabel()
	body := c.newLabel()
	c.prologue(body, keep, drop)
	c.place(body)
	c.expr(f.root, keep, drop)
	c.place(keep)
	c.emit(bpf.RetConstant{Val: uint32(snapLen)})
	c.place(drop)
	c.emit(bpf.RetConstant{Val: 0})
	prog, err := c.link()
	if err != nil {
		return nil, err
	}
	if len(prog) > BPFMaxInstructions {
		return nil, fmt.Errorf("%d instructions (at most %d): %w", len(prog), BPFMaxInstructions, ErrFilterTooLarge)
	}
	return prog, nil
}

// defaultSnapLen is libpcap's default snap length.
const defaultSnapLen = 262144

// label names a position in the program, resolved by link.
type label int32

// binsn is one instruction before linking: either a plain instruction or a
// jump to labels.
type binsn struct {
	ins   bpf.Instruction // when not a jump
	at    label           // when >= 0, this pseudo-instruction places a label
	jump  bool
	cond  bpf.JumpTest // for conditional jumps
	val   uint32
	t, f  label // targets; for an unconditional jump only t
	uncnd bool
	long  bool // expanded to jcond + ja + ja
}

type bpfCompiler struct {
	f      *Filter
	code   []binsn
	labels int32
}

func (c *bpfCompiler) newLabel() label { c.labels++; return label(c.labels - 1) }

func (c *bpfCompiler) emit(ins bpf.Instruction) { c.code = append(c.code, binsn{ins: ins, at: -1}) }

func (c *bpfCompiler) place(l label) { c.code = append(c.code, binsn{at: l}) }

// jif jumps to t when A cond val holds, else to f.
func (c *bpfCompiler) jif(cond bpf.JumpTest, val uint32, t, f label) {
	c.code = append(c.code, binsn{at: -1, jump: true, cond: cond, val: val, t: t, f: f})
}

// ja jumps to t.
func (c *bpfCompiler) ja(t label) {
	c.code = append(c.code, binsn{at: -1, jump: true, uncnd: true, t: t})
}

// prologue finds the IP and transport headers and stores their offsets,
// the IP version and the transport protocol in scratch memory, going to
// body for a TCP or UDP packet the filter decides, keep for a packet only
// userspace can decide and drop for one the decoder discards.
func (c *bpfCompiler) prologue(body, keep, drop label) {
	// The tag EtherTypes the decoder peels (decode.go).
	vlanTypes := [...]uint32{0x8100, 0x88a8, 0x9100, 0x9200, 0x9300}
	// X walks the EtherType through VLAN tags.
	c.emit(bpf.LoadConstant{Dst: bpf.RegX, Val: ethTypeOffset})
	ethType := c.newLabel()
	for range maxVLANTags + 1 {
		c.emit(bpf.LoadIndirect{Off: 0, Size: 2})
		next := c.newLabel()
		for _, v := range vlanTypes {
			skip := c.newLabel()
			c.jif(bpf.JumpEqual, v, next, skip)
			c.place(skip)
		}
		c.ja(ethType)
		c.place(next)
		c.emit(bpf.TXA{})
		c.emit(bpf.ALUOpConstant{Op: bpf.ALUOpAdd, Val: 4})
		c.emit(bpf.TAX{})
	}
	// One tag more than the decoder peels: it calls the frame bad.
	c.ja(drop)

	c.place(ethType)
	// A holds the EtherType at X.
	v4, v6, other := c.newLabel(), c.newLabel(), c.newLabel()
	c.jif(bpf.JumpEqual, etIPv4, v4, other)
	c.place(other)
	n1, n2, n3 := c.newLabel(), c.newLabel(), c.newLabel()
	c.jif(bpf.JumpEqual, etIPv6, v6, n1)
	c.place(n1)
	c.jif(bpf.JumpEqual, etPPPoESess, keep, n2)
	c.place(n2)
	c.jif(bpf.JumpEqual, etMPLSUni, keep, n3)
	c.place(n3)
	c.jif(bpf.JumpEqual, etMPLSMulti, keep, drop)

	// IPv4 at X+2.
	c.place(v4)
	c.emit(bpf.TXA{})
	c.emit(bpf.ALUOpConstant{Op: bpf.ALUOpAdd, Val: 2})
	c.emit(bpf.StoreScratch{Src: bpf.RegA, N: memL3})
	c.emit(bpf.TAX{})
	c.emit(bpf.LoadIndirect{Off: 0, Size: 1})
	c.emit(bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: 0xf0})
	ok4 := c.newLabel()
	c.jif(bpf.JumpEqual, 0x40, ok4, drop)
	c.place(ok4)
	c.emit(bpf.LoadIndirect{Off: 6, Size: 2})
	whole := c.newLabel()
	c.jif(bpf.JumpBitsSet, ipv4FragMask, keep, whole)
	c.place(whole)
	c.emit(bpf.LoadConstant{Dst: bpf.RegA, Val: 4})
	c.emit(bpf.StoreScratch{Src: bpf.RegA, N: memVer})
	c.emit(bpf.LoadIndirect{Off: 0, Size: 1})
	c.emit(bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: 0x0f})
	c.emit(bpf.ALUOpConstant{Op: bpf.ALUOpShiftLeft, Val: 2})
	c.emit(bpf.ALUOpX{Op: bpf.ALUOpAdd})
	c.emit(bpf.StoreScratch{Src: bpf.RegA, N: memL4})
	c.emit(bpf.LoadIndirect{Off: 9, Size: 1})
	transport := c.newLabel()
	c.ja(transport)

	// IPv6 at X+2.
	c.place(v6)
	c.emit(bpf.TXA{})
	c.emit(bpf.ALUOpConstant{Op: bpf.ALUOpAdd, Val: 2})
	c.emit(bpf.StoreScratch{Src: bpf.RegA, N: memL3})
	c.emit(bpf.ALUOpConstant{Op: bpf.ALUOpAdd, Val: 40})
	c.emit(bpf.StoreScratch{Src: bpf.RegA, N: memL4})
	c.emit(bpf.LoadScratch{Dst: bpf.RegX, N: memL3})
	c.emit(bpf.LoadIndirect{Off: 0, Size: 1})
	c.emit(bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: 0xf0})
	ok6 := c.newLabel()
	c.jif(bpf.JumpEqual, 0x60, ok6, drop)
	c.place(ok6)
	c.emit(bpf.LoadConstant{Dst: bpf.RegA, Val: 6})
	c.emit(bpf.StoreScratch{Src: bpf.RegA, N: memVer})
	c.emit(bpf.LoadIndirect{Off: 6, Size: 1})
	// Extension headers: userspace walks them.
	for _, p := range []uint32{ip6HopByHop, ip6Routing, ip6Fragment, ip6AH, ip6DestOpts, ip6Mobility, ip6HIP, ip6Shim6} {
		n := c.newLabel()
		c.jif(bpf.JumpEqual, p, keep, n)
		c.place(n)
	}

	// A holds the transport protocol.
	c.place(transport)
	c.emit(bpf.StoreScratch{Src: bpf.RegA, N: memProto})
	isUDP, notTCP, notUDP := c.newLabel(), c.newLabel(), c.newLabel()
	c.jif(bpf.JumpEqual, ipProtoTCP, body, notTCP)
	c.place(notTCP)
	c.jif(bpf.JumpEqual, ipProtoUDP, isUDP, notUDP)
	c.place(notUDP)
	n4, n5 := c.newLabel(), c.newLabel()
	c.jif(bpf.JumpEqual, ipProtoIPIP, keep, n4)
	c.place(n4)
	c.jif(bpf.JumpEqual, ipProtoIPv6, keep, n5)
	c.place(n5)
	c.jif(bpf.JumpEqual, ipProtoGRE, keep, drop)

	// UDP to a tunnel port: the filter applies to what is inside.
	c.place(isUDP)
	c.emit(bpf.LoadScratch{Dst: bpf.RegX, N: memL4})
	c.emit(bpf.LoadIndirect{Off: 2, Size: 2})
	for i, port := range []uint32{portVXLAN, portVXLANLinux, portVXLANGPE, portGENEVE} {
		if i == 3 {
			c.jif(bpf.JumpEqual, port, keep, body)
			break
		}
		n := c.newLabel()
		c.jif(bpf.JumpEqual, port, keep, n)
		c.place(n)
	}
}

// expr emits node i: on to t when it holds, to f when not.
func (c *bpfCompiler) expr(i int32, t, f label) {
	n := &c.f.nodes[i]
	switch n.kind {
	case fnNot:
		c.expr(n.a, f, t)
	case fnChain:
		c.chain(c.f.items[n.a:n.b], t, f)
	default:
		c.prim(&n.prim, t, f)
	}
}

// chain emits items joined left to right at equal precedence:
// ((i0 op1 i1) op2 i2) ... .
func (c *bpfCompiler) chain(items []fitem, t, f label) {
	if len(items) == 1 {
		c.expr(items[0].node, t, f)
		return
	}
	last := items[len(items)-1]
	next := c.newLabel()
	if last.or {
		c.chain(items[:len(items)-1], t, next)
	} else {
		c.chain(items[:len(items)-1], next, f)
	}
	c.place(next)
	c.expr(last.node, t, f)
}

// prim emits one primitive, as fprim.match decides it for a TCP or UDP
// packet.
func (c *bpfCompiler) prim(p *fprim, t, f label) {
	switch p.proto {
	case protoIP, protoIP6:
		ver := uint32(4)
		if p.proto == protoIP6 {
			ver = 6
		}
		c.emit(bpf.LoadScratch{Dst: bpf.RegA, N: memVer})
		ok := c.newLabel()
		c.jif(bpf.JumpEqual, ver, ok, f)
		c.place(ok)
	case protoTCP, protoUDP:
		proto := uint32(ipProtoTCP)
		if p.proto == protoUDP {
			proto = ipProtoUDP
		}
		c.emit(bpf.LoadScratch{Dst: bpf.RegA, N: memProto})
		ok := c.newLabel()
		c.jif(bpf.JumpEqual, proto, ok, f)
		c.place(ok)
	}
	switch p.kind {
	case primAddr:
		ver := uint32(4)
		if p.v6 {
			ver = 6
		}
		c.emit(bpf.LoadScratch{Dst: bpf.RegA, N: memVer})
		ok := c.newLabel()
		c.jif(bpf.JumpEqual, ver, ok, f)
		c.place(ok)
		c.emit(bpf.LoadScratch{Dst: bpf.RegX, N: memL3})
		src, dst := uint32(12), uint32(16)
		if p.v6 {
			src, dst = 8, 24
		}
		c.dir(p.dir, t, f,
			func(t, f label) { c.addr(p, src, t, f) },
			func(t, f label) { c.addr(p, dst, t, f) })
	case primPort:
		c.emit(bpf.LoadScratch{Dst: bpf.RegX, N: memL4})
		c.dir(p.dir, t, f,
			func(t, f label) { c.port(p, 0, t, f) },
			func(t, f label) { c.port(p, 2, t, f) })
	default:
		c.ja(t)
	}
}

// dir combines the source and destination tests as the direction says.
func (c *bpfCompiler) dir(d fdir, t, f label, src, dst func(t, f label)) {
	switch d {
	case dirSrc:
		src(t, f)
	case dirDst:
		dst(t, f)
	case dirBoth:
		n := c.newLabel()
		src(n, f)
		c.place(n)
		dst(t, f)
	default:
		n := c.newLabel()
		src(t, n)
		c.place(n)
		dst(t, f)
	}
}

// addr compares the address at X+off (X the IP header's offset) under the
// primitive's mask.
func (c *bpfCompiler) addr(p *fprim, off uint32, t, f label) {
	// Words of the 16-byte form; IPv4 uses only the last.
	var words [4]struct{ val, mask uint32 }
	for k := range 4 {
		words[k].val = uint32(p.addr[k/2] >> (32 * (1 - k%2)))
		words[k].mask = uint32(p.mask[k/2] >> (32 * (1 - k%2)))
	}
	first := 0
	if !p.v6 {
		first = 3
	}
	for k := first; k < 4; k++ {
		w := words[k]
		if w.mask == 0 {
			continue
		}
		c.emit(bpf.LoadIndirect{Off: off + uint32(4*(k-first)), Size: 4})
		if w.mask != ^uint32(0) {
			c.emit(bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: w.mask})
		}
		ok := c.newLabel()
		c.jif(bpf.JumpEqual, w.val, ok, f)
		c.place(ok)
	}
	c.ja(t)
}

// port tests the port at X+off (X the transport header's offset) against
// the primitive's range.
func (c *bpfCompiler) port(p *fprim, off uint32, t, f label) {
	c.emit(bpf.LoadIndirect{Off: off, Size: 2})
	if p.lo == p.hi {
		c.jif(bpf.JumpEqual, uint32(p.lo), t, f)
		return
	}
	ok := c.newLabel()
	c.jif(bpf.JumpGreaterOrEqual, uint32(p.lo), ok, f)
	c.place(ok)
	c.jif(bpf.JumpGreaterThan, uint32(p.hi), f, t)
}

// link resolves labels to relative jumps. A conditional jump whose target
// lies beyond the 8-bit skip becomes a conditional jump over two
// unconditional ones; sizes are recomputed until no jump grows.
func (c *bpfCompiler) link() ([]bpf.Instruction, error) {
	pos := make([]int, c.labels)
	size := func(in *binsn) int {
		switch {
		case in.at >= 0:
			return 0
		case in.jump && !in.uncnd && in.long:
			return 3
		}
		return 1
	}
	for {
		n := 0
		for i := range c.code {
			if in := &c.code[i]; in.at >= 0 {
				pos[in.at] = n
			}
			n += size(&c.code[i])
		}
		if n > 8*BPFMaxInstructions {
			return nil, fmt.Errorf("more than %d instructions: %w", 8*BPFMaxInstructions, ErrFilterTooLarge)
		}
		grew := false
		n = 0
		for i := range c.code {
			in := &c.code[i]
			if in.jump && !in.uncnd && !in.long {
				if pos[in.t]-(n+1) > 255 || pos[in.f]-(n+1) > 255 {
					in.long = true
					grew = true
				}
			}
			n += size(in)
		}
		if !grew {
			break
		}
	}
	prog := make([]bpf.Instruction, 0, len(c.code))
	for i := range c.code {
		in := &c.code[i]
		pc := len(prog)
		switch {
		case in.at >= 0:
		case !in.jump:
			prog = append(prog, in.ins)
		case in.uncnd:
			prog = append(prog, bpf.Jump{Skip: uint32(pos[in.t] - pc - 1)})
		case in.long:
			prog = append(prog,
				bpf.JumpIf{Cond: in.cond, Val: in.val, SkipTrue: 0, SkipFalse: 1},
				bpf.Jump{Skip: uint32(pos[in.t] - pc - 2)},
				bpf.Jump{Skip: uint32(pos[in.f] - pc - 3)})
		default:
			prog = append(prog, bpf.JumpIf{Cond: in.cond, Val: in.val,
				SkipTrue: uint8(pos[in.t] - pc - 1), SkipFalse: uint8(pos[in.f] - pc - 1)})
		}
	}
	return prog, nil
}

// AssembleBPF parses expr (see Filter), compiles it with CompileBPF and
// assembles the program for the kernel. An expression ParseFilter rejects
// is rejected with its error (matching ErrBadFilter); an empty one gives a
// program that keeps every frame, cut to snapLen.
func AssembleBPF(expr string, snapLen int) ([]bpf.RawInstruction, error) {
	f, err := ParseFilter(expr)
	if err != nil {
		return nil, err
	}
	prog, err := CompileBPF(f, snapLen)
	if err != nil {
		return nil, fmt.Errorf("compiling filter %q: %w", expr, err)
	}
	raw, err := bpf.Assemble(prog)
	if err != nil {
		return nil, fmt.Errorf("assembling filter %q: %w", expr, err)
	}
	return raw, nil
}
