package capture

import (
	"encoding/binary"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unsafe"

	"github.com/gopacket/gopacket/layers"
)

var writeDecodeSeeds = flag.Bool("decode.seeds", false, "rewrite the FuzzDecode seed corpus in testdata/fuzz")

// categories sums the counters that classify a packet.
func categories(s DecoderStats) uint64 {
	return s.TCP + s.UDP + s.Other + s.NotIP + s.Undecodable + s.UnsupportedLinkType
}

// within reports whether b lies inside buf.
func within(b, buf []byte) bool {
	if len(b) == 0 {
		return true
	}
	start := uintptr(unsafe.Pointer(unsafe.SliceData(buf)))
	p := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	return p >= start && p+uintptr(len(b)) <= start+uintptr(len(buf))
}

// checkDecodeInvariants decodes one packet and checks what must hold for
// any input.
func checkDecodeInvariants(t *testing.T, dec *Decoder, p *Packet, d *Decoded) {
	before := dec.Stats()
	ok := dec.Decode(p, d)
	after := dec.Stats()
	classified := categories(after) - categories(before)
	fragment := after.Fragments > before.Fragments
	if classified > 1 || (classified == 0 && !fragment) || after.Packets != before.Packets+1 {
		t.Fatalf("packet classified %d times (fragment %v): %+v", classified, fragment, after)
	}
	if !ok {
		return
	}
	if d.Key.Proto != ProtoTCP && d.Key.Proto != ProtoUDP {
		t.Fatalf("delivered proto %d", d.Key.Proto)
	}
	if len(d.Payload) > d.PayloadLength {
		t.Fatalf("payload %d longer than declared %d", len(d.Payload), d.PayloadLength)
	}
	if int(d.Tunnels) > dec.opts.MaxTunnelDepth {
		t.Fatalf("%d tunnels", d.Tunnels)
	}
	if after.Reassembled == before.Reassembled && !within(d.Payload, p.Data) {
		t.Fatal("payload outside the packet")
	}
	if d.Key.Proto == ProtoTCP && (uint16(d.TCP.DstPort) != d.Key.DstPort || len(d.TCP.Payload) != len(d.Payload)) {
		t.Fatal("TCP layer disagrees with the key")
	}
}

// FuzzDecode decodes arbitrary bytes as a frame of the given link type,
// whole and cut short, with a small fragment budget so that reassembly
// bounds are exercised across the corpus.
func FuzzDecode(f *testing.F) {
	for _, s := range decodeSeeds(f) {
		f.Add(uint16(s.link), s.data)
	}
	dec := NewDecoder(DecoderOptions{MaxFragmentBytes: 8 << 10, MaxFragmentDatagrams: 4, MaxTunnelDepth: 3})
	f.Fuzz(func(t *testing.T, link uint16, data []byte) {
		var d Decoded
		p := &Packet{LinkType: layers.LinkType(link), Data: data, WireLen: len(data)}
		checkDecodeInvariants(t, dec, p, &d)
		p.Data = data[:len(data)/2]
		checkDecodeInvariants(t, dec, p, &d)
		if dec.frag.held+dec.frag.pooled > dec.opts.MaxFragmentBytes || len(dec.frag.table) > dec.opts.MaxFragmentDatagrams {
			t.Fatalf("fragment bounds exceeded: %d bytes, %d datagrams", dec.frag.held+dec.frag.pooled, len(dec.frag.table))
		}
	})
}

// FuzzDecodeFragments cuts a TCP segment into the fragments the input
// describes (3 bytes each: offset/8, length/8, flags) and sends them as IPv4
// or IPv6; a datagram that comes out must be the original segment.
func FuzzDecodeFragments(f *testing.F) {
	f.Add(false, []byte{0, 6, 1, 6, 6, 1, 12, 7, 0})
	f.Add(true, []byte{12, 7, 0, 0, 6, 1, 4, 6, 1})
	f.Add(false, []byte{0, 8, 1, 0, 8, 1, 8, 11, 0})
	f.Add(true, []byte{0, 19, 0})
	seg := segment(f, strings.Repeat("abcdefgh", 16)) // 148 bytes
	f.Fuzz(func(t *testing.T, v6 bool, spec []byte) {
		dec := NewDecoder(DecoderOptions{})
		var d Decoded
		for i := 0; i+3 <= len(spec) && i < 3*64; i += 3 {
			off := int(spec[i]) * 8
			n := int(spec[i+1]) * 8
			more := spec[i+2]&1 != 0
			if spec[i+2]&2 == 0 { // exact length up to the end of the segment
				n = min(n, len(seg)-off)
			}
			if off > len(seg) || n < 0 || off+n > len(seg) {
				continue
			}
			var frame []byte
			if v6 {
				frame = frag6(t, 9, off, more, seg[off:off+n])
			} else {
				frame = frag4(t, 9, off, more, seg[off:off+n])
			}
			if dec.Decode(&Packet{LinkType: layers.LinkTypeEthernet, Data: frame}, &d) {
				if off+n == len(seg) && !more && string(d.TCP.Contents)+string(d.Payload) != string(seg) {
					t.Fatalf("reassembled %q", append(d.TCP.Contents, d.Payload...))
				}
				if string(d.TCP.Contents)+string(d.Payload) != string(seg[:len(d.TCP.Contents)+len(d.Payload)]) {
					t.Fatalf("reassembled bytes differ from the segment")
				}
			}
		}
	})
}

type decodeSeed struct {
	name string
	link layers.LinkType
	data []byte
}

// decodeSeeds are the hand-built frames of the table tests.
func decodeSeeds(tb testing.TB) []decodeSeed {
	ip4 := innerIP4(tb)
	ip6 := innerIP6(tb)
	eth := innerEth(tb)
	seg := segment(tb, fragBody)
	return []decodeSeed{
		{"ethernet-ipv4-tcp", layers.LinkTypeEthernet, eth},
		{"ethernet-ipv6-tcp", layers.LinkTypeEthernet, serialize(tb, ethL(layers.EthernetTypeIPv6), ip6L(layers.IPProtocolTCP, cli6, srv6), tcpL(), payload(body))},
		{"qinq", layers.LinkTypeEthernet, serialize(tb, ethL(layers.EthernetTypeQinQ), dot1qL(100, layers.EthernetTypeDot1Q), dot1qL(10, layers.EthernetTypeIPv4), payload(string(ip4)))},
		{"pppoe", layers.LinkTypeEthernet, serialize(tb, ethL(layers.EthernetTypePPPoESession), &layers.PPPoE{Version: 1, Type: 1, Code: layers.PPPoECodeSession}, &layers.PPP{PPPType: layers.PPPTypeIPv4}, payload(string(ip4)))},
		{"mpls", layers.LinkTypeEthernet, serialize(tb, ethL(layers.EthernetTypeMPLSUnicast), &layers.MPLS{Label: 1, StackBottom: true, TTL: 1}, payload(string(ip6)))},
		{"sll", layers.LinkTypeLinuxSLL, cat(sllHeader(layers.EthernetTypeIPv4), ip4)},
		{"sll2", layers.LinkTypeLinuxSLL2, cat(sll2Header(layers.EthernetTypeIPv6), ip6)},
		{"raw", layers.LinkTypeRaw, ip4},
		{"ipv6-229", layers.LinkTypeIPv6, ip6},
		{"null", layers.LinkTypeNull, cat(nullHeader(30, binary.LittleEndian), ip6)},
		{"ppp", layers.LinkTypePPP, cat([]byte{0xff, 0x03, 0x00, 0x21}, ip4)},
		{"vxlan", layers.LinkTypeEthernet, outerUDP(tb, 4789, vxlanHeader(), eth)},
		{"vxlan-gpe", layers.LinkTypeEthernet, outerUDP(tb, 4790, []byte{0x0c, 0, 0, 2, 0, 0, 1, 0}, ip6)},
		{"geneve", layers.LinkTypeEthernet, outerUDP(tb, 6081, []byte{0x01, 0, 0x65, 0x58, 0, 0, 5, 0, 1, 2, 0x80, 0}, eth)},
		{"gre-key-seq", layers.LinkTypeEthernet, outerGRE(tb, &layers.GRE{Protocol: layers.EthernetTypeIPv6, KeyPresent: true, SeqPresent: true}, ip6)},
		{"gre-teb", layers.LinkTypeEthernet, outerGRE(tb, &layers.GRE{Protocol: layers.EthernetTypeTransparentEthernetBridging}, eth)},
		{"erspan2", layers.LinkTypeEthernet, outerGRE(tb, &layers.GRE{Protocol: layers.EthernetTypeERSPAN, SeqPresent: true}, cat(serialize(tb, &layers.ERSPANII{Version: layers.ERSPANIIVersion}), eth))},
		{"erspan3", layers.LinkTypeEthernet, outerGRE(tb, &layers.GRE{Protocol: 0x22EB, SeqPresent: true}, cat(erspan3Header(0, true), eth))},
		{"ipip", layers.LinkTypeEthernet, serialize(tb, ethL(layers.EthernetTypeIPv4), ip4L(layers.IPProtocolIPv4, vtep1, vtep2), payload(string(ip4)))},
		{"ipv6-ext-chain", layers.LinkTypeEthernet, serialize(tb, ethL(layers.EthernetTypeIPv6), ip6L(layers.IPProtocolIPv6HopByHop, cli6, srv6),
			payload(string(cat([]byte{60, 0, 1, 4, 0, 0, 0, 0}, []byte{44, 0, 1, 4, 0, 0, 0, 0}, []byte{6, 0, 0, 0, 0, 0, 0, 9}, segment(tb, body)))))},
		{"ipv4-first-fragment", layers.LinkTypeEthernet, frag4(tb, 3, 0, true, seg[:96])},
		{"ipv4-last-fragment", layers.LinkTypeEthernet, frag4(tb, 3, 96, false, seg[96:])},
		{"ipv6-first-fragment", layers.LinkTypeEthernet, frag6(tb, 3, 0, true, seg[:96])},
		{"ipv6-last-fragment", layers.LinkTypeEthernet, frag6(tb, 3, 96, false, seg[96:])},
	}
}

// TestDecodeSeedCorpus keeps testdata/fuzz/FuzzDecode in step with
// decodeSeeds; run with -decode.seeds to rewrite it.
func TestDecodeSeedCorpus(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzDecode")
	for _, s := range decodeSeeds(t) {
		want := fmt.Sprintf("go test fuzz v1\nuint16(%d)\n[]byte(%q)\n", uint16(s.link), s.data)
		path := filepath.Join(dir, s.name)
		if *writeDecodeSeeds {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("seed %s missing (run go test -run TestDecodeSeedCorpus -decode.seeds): %v", s.name, err)
		}
		if string(got) != want {
			t.Errorf("seed %s is stale (run go test -run TestDecodeSeedCorpus -decode.seeds)", s.name)
		}
	}
}
