package capture

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/gopacket/gopacket/layers"
	"golang.org/x/net/bpf"
)

// bpfKeeps runs prog over frame in x/net/bpf's interpreter, as the kernel
// would, and reports whether it keeps the frame.
func bpfKeeps(t testing.TB, vm *bpf.VM, frame []byte, snap int) bool {
	t.Helper()
	n, err := vm.Run(frame)
	if err != nil {
		t.Fatalf("running the program: %v", err)
	}
	if n != 0 && n != snap {
		t.Fatalf("program returned %d, want 0 or the snap length %d", n, snap)
	}
	return n != 0
}

func compileVM(t testing.TB, f *Filter, snap int) *bpf.VM {
	t.Helper()
	prog, err := CompileBPF(f, snap)
	if err != nil {
		t.Fatalf("CompileBPF(%q): %v", f.String(), err)
	}
	vm, err := bpf.NewVM(prog)
	if err != nil {
		t.Fatalf("CompileBPF(%q) made an invalid program: %v", f.String(), err)
	}
	return vm
}

// vlanTag inserts 802.1Q-style tags with the given TPIDs after the MAC
// addresses of an Ethernet frame.
func vlanTag(frame []byte, tpids ...uint16) []byte {
	out := append([]byte(nil), frame[:12]...)
	for i, tp := range tpids {
		out = binary.BigEndian.AppendUint16(out, tp)
		out = binary.BigEndian.AppendUint16(out, uint16(100+i))
	}
	return append(out, frame[12:]...)
}

// TestCompileBPFAgreesWithMatch runs every expression of the libpcap
// comparison corpus, compiled to BPF, over the corpus packets (untagged,
// with one 802.1Q tag, with an 802.1ad+802.1Q pair): the program keeps a
// frame exactly when Decode and Match take it.
func TestCompileBPFAgreesWithMatch(t *testing.T) {
	const snap = 1500
	var frames [][]byte
	for _, d := range diffPackets() {
		fr := frame(d)
		frames = append(frames, fr, vlanTag(fr, 0x8100), vlanTag(fr, 0x88a8, 0x8100))
	}
	dec := NewDecoder(DecoderOptions{})
	var d Decoded
	compiled := 0
	for _, expr := range libpcapCorpusExprs() {
		f, err := ParseFilter(expr)
		if err != nil {
			continue // rejected by the parser (and by libpcap): nothing to compile
		}
		compiled++
		t.Run(expr, func(t *testing.T) {
			vm := compileVM(t, f, snap)
			kept := 0
			for _, fr := range frames {
				if !dec.Decode(&Packet{LinkType: layers.LinkTypeEthernet, Data: fr, WireLen: len(fr)}, &d) {
					t.Fatalf("corpus frame does not decode: % x", fr)
				}
				want := f.Match(&d)
				if got := bpfKeeps(t, vm, fr, snap); got != want {
					t.Fatalf("%s:%d > %s:%d proto %d, %d VLAN tags: BPF keeps %v, Match %v",
						d.Key.SrcAddr(), d.Key.SrcPort, d.Key.DstAddr(), d.Key.DstPort, d.Key.Proto, d.VLANs, got, want)
				}
				if want {
					kept++
				}
			}
			t.Logf("%d of %d frames kept", kept, len(frames))
		})
	}
	if compiled < 60 {
		t.Fatalf("only %d corpus expressions parsed", compiled)
	}
}

// TestCompileBPFConservative checks the frames only userspace can decide
// (fragments, tunnels, extension headers, PPPoE, MPLS) are kept whatever
// the filter, and that whatever Decode and Match take, the program keeps.
func TestCompileBPFConservative(t *testing.T) {
	const snap = 65535
	exprs := []string{"port 1", "host 192.0.2.99", "ip6 and udp", "not tcp", "tcp port 80", "host 10.0.0.1"}
	alwaysKept := map[string]bool{
		"pppoe": true, "mpls": true, "vxlan": true, "vxlan-gpe": true, "geneve": true, "gre-key-seq": true,
		"gre-teb": true, "erspan2": true, "erspan3": true, "ipip": true, "ipv6-ext-chain": true,
		"ipv4-first-fragment": true, "ipv4-last-fragment": true, "ipv6-first-fragment": true, "ipv6-last-fragment": true,
	}
	dec := NewDecoder(DecoderOptions{})
	var d Decoded
	for _, expr := range exprs {
		f, err := ParseFilter(expr)
		if err != nil {
			t.Fatal(err)
		}
		vm := compileVM(t, f, snap)
		for _, s := range decodeSeeds(t) {
			if s.link != layers.LinkTypeEthernet {
				continue
			}
			got := bpfKeeps(t, vm, s.data, snap)
			if alwaysKept[s.name] && !got {
				t.Errorf("%q drops %s, which only userspace can decide", expr, s.name)
			}
			if dec.Decode(&Packet{LinkType: s.link, Data: s.data, WireLen: len(s.data)}, &d) && f.Match(&d) && !got {
				t.Errorf("%q: Match takes %s, BPF drops it", expr, s.name)
			}
		}
	}
}

// TestCompileBPFDrops checks the frames the decoder never hands to the
// filter are dropped in the kernel.
func TestCompileBPFDrops(t *testing.T) {
	const snap = 65535
	ip4 := innerIP4(t)
	tcp := innerEth(t)
	tags := make([]uint16, maxVLANTags)
	for i := range tags {
		tags[i] = 0x8100
	}
	tests := []struct {
		name  string
		frame []byte
		kept  bool
	}{
		{"arp", serialize(t, ethL(layers.EthernetTypeARP), payload(strings.Repeat("\x00", 28))), false},
		{"icmp", serialize(t, ethL(layers.EthernetTypeIPv4), ip4L(layers.IPProtocolICMPv4, cli4, srv4), payload("ping")), false},
		{"icmpv6", serialize(t, ethL(layers.EthernetTypeIPv6), ip6L(layers.IPProtocolICMPv6, cli6, srv6), payload("ping")), false},
		{"bad ip version", serialize(t, ethL(layers.EthernetTypeIPv4), payload(string(append([]byte{0x65}, ip4[1:]...)))), false},
		{"short", tcp[:20], false},
		{"8 tags", vlanTag(tcp, tags...), true},
		{"9 tags", vlanTag(tcp, append(tags, 0x8100)...), false},
		{"tcp", tcp, true},
	}
	vm := compileVM(t, mustFilter(t, "tcp or udp"), snap)
	dec := NewDecoder(DecoderOptions{})
	var d Decoded
	for _, tt := range tests {
		if got := bpfKeeps(t, vm, tt.frame, snap); got != tt.kept {
			t.Errorf("%s: kept %v, want %v", tt.name, got, tt.kept)
		}
		if ok := dec.Decode(&Packet{LinkType: layers.LinkTypeEthernet, Data: tt.frame, WireLen: len(tt.frame)}, &d); ok != tt.kept {
			t.Errorf("%s: the decoder hands it on: %v; the test expects %v", tt.name, ok, tt.kept)
		}
	}
}

func mustFilter(t testing.TB, expr string) *Filter {
	t.Helper()
	f, err := ParseFilter(expr)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// TestCompileBPFLongJumps compiles filters long enough that conditional
// jumps need the far form and checks them against Match; one too long for
// the kernel is refused with ErrFilterTooLarge.
func TestCompileBPFLongJumps(t *testing.T) {
	const snap = 9000
	for _, n := range []int{50, 200, 380} {
		var b strings.Builder
		b.WriteString("not (port 1")
		for i := 2; i <= n; i++ {
			fmt.Fprintf(&b, " or %d", i*97%65536)
		}
		b.WriteString(") and (host 10.0.0.1 or 2001:db8::1 or 10.1.2.3)")
		f := mustFilter(t, b.String())
		prog, err := CompileBPF(f, snap)
		if err != nil {
			t.Fatalf("%d ports: %v", n, err)
		}
		vm, err := bpf.NewVM(prog)
		if err != nil {
			t.Fatalf("%d ports: invalid program: %v", n, err)
		}
		dec := NewDecoder(DecoderOptions{})
		var d Decoded
		for _, dd := range diffPackets() {
			fr := frame(dd)
			dec.Decode(&Packet{LinkType: layers.LinkTypeEthernet, Data: fr, WireLen: len(fr)}, &d)
			if got, want := bpfKeeps(t, vm, fr, snap), f.Match(&d); got != want {
				t.Fatalf("%d ports, %v: BPF %v, Match %v", n, d.Key, got, want)
			}
		}
		t.Logf("%d ports: %d instructions", n, len(prog))
	}
	var b strings.Builder
	b.WriteString("host 2001:db8::1")
	for i := 2; i < 400; i++ {
		fmt.Fprintf(&b, " or 2001:db8::%x", i)
	}
	_, err := CompileBPF(mustFilter(t, b.String()), 0)
	if !errors.Is(err, ErrFilterTooLarge) {
		t.Fatalf("399 IPv6 hosts: err = %v, want ErrFilterTooLarge", err)
	}
}

func TestAssembleBPF(t *testing.T) {
	raw, err := AssembleBPF("", 128)
	if err != nil || len(raw) != 1 {
		t.Fatalf("empty filter: %v, %d instructions", err, len(raw))
	}
	if _, err := AssembleBPF("tcp[13] & 2 != 0", 0); !errors.Is(err, ErrBadFilter) {
		t.Fatalf("unsupported expression: err = %v, want ErrBadFilter", err)
	}
	if _, err := AssembleBPF("tcp port 80", 0); err != nil {
		t.Fatal(err)
	}
}

// FuzzCompileBPF compiles arbitrary expressions and runs them over an
// arbitrary frame: no panic; an expression is refused exactly when the
// parser refuses it (or the program is too long); the program is valid;
// whatever Decode and Match take, the program keeps; on the corpus frames
// the program and Match agree.
func FuzzCompileBPF(f *testing.F) {
	for _, s := range []string{
		"host 10.0.0.1 and tcp port 80", "port 80 or 443", "not (src net 10.0.0.0/8 or dst portrange 1-1024)",
		"ip6 and udp && !port 53 || tcp", "net 10.1.0.0 mask 255.255.0.0", "host 1.2.3.4 and (5.6.7.8 or not 9.9.9.9)",
		"src and dst net 2001:db8::/32", "tcp[13] & 2 != 0", "((tcp)", "",
	} {
		f.Add(s, frame(mkDecoded("10.0.0.1", "10.0.0.2", 40000, 80, ProtoTCP)))
	}
	f.Add("udp", vlanTag(frame(mkDecoded("2001:db8::1", "2001:db8::2", 53, 4789, ProtoUDP)), 0x8100))
	plain := diffPackets()[:40]
	frames := make([][]byte, len(plain))
	for i, d := range plain {
		frames[i] = frame(d)
	}
	f.Fuzz(func(t *testing.T, expr string, data []byte) {
		const snap = 4096
		flt, perr := ParseFilter(expr)
		raw, err := AssembleBPF(expr, snap)
		switch {
		case perr != nil:
			if err == nil || !errors.Is(err, ErrBadFilter) {
				t.Fatalf("parser rejects %q (%v), AssembleBPF: %v", expr, perr, err)
			}
			return
		case errors.Is(err, ErrFilterTooLarge):
			return
		case err != nil:
			t.Fatalf("%q parses, AssembleBPF: %v", expr, err)
		}
		if len(raw) > BPFMaxInstructions {
			t.Fatalf("%d instructions", len(raw))
		}
		prog, ok := bpf.Disassemble(raw)
		if !ok {
			t.Fatalf("%q: program does not disassemble", expr)
		}
		vm, err := bpf.NewVM(prog)
		if err != nil {
			t.Fatalf("%q: invalid program: %v", expr, err)
		}
		dec := NewDecoder(DecoderOptions{})
		var d Decoded
		if dec.Decode(&Packet{LinkType: layers.LinkTypeEthernet, Data: data, WireLen: len(data)}, &d) && flt.Match(&d) {
			if !bpfKeeps(t, vm, data, snap) {
				t.Fatalf("%q: Match takes % x, BPF drops it", expr, data)
			}
		}
		for _, fr := range frames {
			dec.Decode(&Packet{LinkType: layers.LinkTypeEthernet, Data: fr, WireLen: len(fr)}, &d)
			if got, want := bpfKeeps(t, vm, fr, snap), flt.Match(&d); got != want {
				t.Fatalf("%q on %v: BPF %v, Match %v", expr, d.Key, got, want)
			}
		}
	})
}
