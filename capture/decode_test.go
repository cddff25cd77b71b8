package capture

import (
	"bytes"
	"encoding/binary"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// Addresses and ports used by the hand-built frames.
var (
	cli4, srv4 = net.IP{10, 0, 0, 1}, net.IP{10, 0, 0, 2}
	cli6, srv6 = net.ParseIP("2001:db8::1"), net.ParseIP("2001:db8::2")
	vtep1      = net.IP{192, 168, 1, 1} // tunnel endpoints
	vtep2      = net.IP{192, 168, 1, 2}
	macA       = net.HardwareAddr{0, 1, 2, 3, 4, 5}
	macB       = net.HardwareAddr{0, 1, 2, 3, 4, 6}
	testTime   = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
)

const (
	cliPort = 40000
	srvPort = 80
	body    = "GET / HTTP/1.1\r\nHost: x\r\n\r\n"
)

// serialize builds a frame from layers, fixing lengths (not checksums: the
// decoder never checks them).
func serialize(tb testing.TB, ls ...gopacket.SerializableLayer) []byte {
	tb.Helper()
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true}, ls...); err != nil {
		tb.Fatalf("serializing: %v", err)
	}
	return bytes.Clone(buf.Bytes())
}

func ethL(et layers.EthernetType) *layers.Ethernet {
	return &layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: et}
}

func ip4L(proto layers.IPProtocol, src, dst net.IP) *layers.IPv4 {
	return &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Id: 7, Protocol: proto, SrcIP: src, DstIP: dst}
}

func ip6L(next layers.IPProtocol, src, dst net.IP) *layers.IPv6 {
	return &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: next, SrcIP: src, DstIP: dst}
}

func tcpL() *layers.TCP {
	return &layers.TCP{SrcPort: cliPort, DstPort: srvPort, Seq: 1000, Ack: 1, PSH: true, ACK: true, DataOffset: 5, Window: 512}
}

func udpL(sport, dport uint16) *layers.UDP {
	return &layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: layers.UDPPort(dport)}
}

func dot1qL(id uint16, next layers.EthernetType) *layers.Dot1Q {
	return &layers.Dot1Q{VLANIdentifier: id, Type: next}
}

func payload(s string) gopacket.Payload { return gopacket.Payload(s) }

// innerEth is an Ethernet/IPv4/TCP frame carrying body, to put in tunnels.
func innerEth(tb testing.TB) []byte {
	return serialize(tb, ethL(layers.EthernetTypeIPv4), ip4L(layers.IPProtocolTCP, cli4, srv4), tcpL(), payload(body))
}

// innerIP4 is an IPv4/TCP packet carrying body.
func innerIP4(tb testing.TB) []byte {
	return serialize(tb, ip4L(layers.IPProtocolTCP, cli4, srv4), tcpL(), payload(body))
}

// innerIP6 is an IPv6/TCP packet carrying body.
func innerIP6(tb testing.TB) []byte {
	return serialize(tb, ip6L(layers.IPProtocolTCP, cli6, srv6), tcpL(), payload(body))
}

// outerUDP wraps b in Ethernet/IPv4/UDP to dport between the tunnel endpoints.
func outerUDP(tb testing.TB, dport uint16, hdr []byte, b []byte) []byte {
	return serialize(tb, ethL(layers.EthernetTypeIPv4), ip4L(layers.IPProtocolUDP, vtep1, vtep2),
		udpL(54321, dport), payload(string(hdr)+string(b)))
}

// outerGRE wraps b in Ethernet/IPv4/GRE.
func outerGRE(tb testing.TB, g *layers.GRE, b []byte) []byte {
	return serialize(tb, ethL(layers.EthernetTypeIPv4), ip4L(layers.IPProtocolGRE, vtep1, vtep2), g, payload(string(b)))
}

// sllHeader is a Linux cooked v1 header for protocol et.
func sllHeader(et layers.EthernetType) []byte {
	h := make([]byte, 16)
	binary.BigEndian.PutUint16(h[0:], 0) // to us
	binary.BigEndian.PutUint16(h[2:], 1) // ARPHRD_ETHER
	binary.BigEndian.PutUint16(h[4:], 6) // address length
	copy(h[6:], macA)                    // address, padded to 8
	binary.BigEndian.PutUint16(h[14:], uint16(et))
	return h
}

// sll2Header is a Linux cooked v2 header for protocol et.
func sll2Header(et layers.EthernetType) []byte {
	h := make([]byte, 20)
	binary.BigEndian.PutUint16(h[0:], uint16(et))
	binary.BigEndian.PutUint32(h[4:], 2) // interface index
	binary.BigEndian.PutUint16(h[8:], 1) // ARPHRD_ETHER
	h[10] = 0                            // to us
	h[11] = 6
	copy(h[12:], macA)
	return h
}

func cat(bs ...[]byte) []byte { return bytes.Join(bs, nil) }

// nullHeader is a BSD loopback header for family af in the given order.
func nullHeader(af uint32, order binary.ByteOrder) []byte {
	h := make([]byte, 4)
	order.PutUint32(h, af)
	return h
}

// erspan3Header builds an ERSPAN type III header with frame type ft and,
// when sub is set, the optional platform sub-header.
func erspan3Header(ft byte, sub bool) []byte {
	h := make([]byte, 12)
	binary.BigEndian.PutUint16(h[0:], 2<<12|10) // version 2, VLAN 10
	binary.BigEndian.PutUint16(h[2:], 7)        // session 7
	binary.BigEndian.PutUint32(h[4:], 123456)   // timestamp
	h[10] = ft << 2
	if sub {
		h[11] |= 1
		h = append(h, 0, 0, 0, 0, 0, 0, 0, 0)
	}
	return h
}

// vxlanHeader is a VXLAN header with the I flag and VNI 42.
func vxlanHeader() []byte { return []byte{0x08, 0, 0, 0, 0, 0, 42, 0} }

type frameWant struct {
	ok       bool
	v6       bool
	proto    uint8
	src, dst string // addr:port
	payload  string
	tunnels  uint8
	vlans    uint8
}

// tcp4 and tcp6 are the usual answers for the inner client→server segment.
var (
	tcp4 = frameWant{ok: true, proto: ProtoTCP, src: "10.0.0.1:40000", dst: "10.0.0.2:80", payload: body}
	tcp6 = frameWant{ok: true, v6: true, proto: ProtoTCP, src: "[2001:db8::1]:40000", dst: "[2001:db8::2]:80", payload: body}
)

func (w frameWant) with(tunnels, vlans uint8) frameWant {
	w.tunnels, w.vlans = tunnels, vlans
	return w
}

func checkDecoded(t *testing.T, ok bool, d *Decoded, w frameWant) {
	t.Helper()
	if ok != w.ok {
		t.Fatalf("Decode = %v, want %v", ok, w.ok)
	}
	if !ok {
		return
	}
	src := netip.AddrPortFrom(d.Key.SrcAddr(), d.Key.SrcPort).String()
	dst := netip.AddrPortFrom(d.Key.DstAddr(), d.Key.DstPort).String()
	if src != w.src || dst != w.dst || d.Key.Proto != w.proto {
		t.Errorf("flow %s -> %s proto %d, want %s -> %s proto %d", src, dst, d.Key.Proto, w.src, w.dst, w.proto)
	}
	if d.IPv6 != w.v6 {
		t.Errorf("IPv6 = %v, want %v", d.IPv6, w.v6)
	}
	if string(d.Payload) != w.payload {
		t.Errorf("payload %q, want %q", d.Payload, w.payload)
	}
	if d.Tunnels != w.tunnels || d.VLANs != w.vlans {
		t.Errorf("tunnels %d vlans %d, want %d %d", d.Tunnels, d.VLANs, w.tunnels, w.vlans)
	}
	if d.PayloadLength != len(w.payload) {
		t.Errorf("PayloadLength %d, want %d", d.PayloadLength, len(w.payload))
	}
	if w.proto == ProtoTCP && (uint16(d.TCP.SrcPort) != d.Key.SrcPort || string(d.TCP.Payload) != w.payload) {
		t.Errorf("TCP layer not filled: ports %d payload %q", d.TCP.SrcPort, d.TCP.Payload)
	}
}

func TestDecodeLinkTypes(t *testing.T) {
	ip4 := innerIP4(t)
	ip6 := innerIP6(t)
	ethTCP6 := serialize(t, ethL(layers.EthernetTypeIPv6), ip6L(layers.IPProtocolTCP, cli6, srv6), tcpL(), payload(body))
	udp4 := serialize(t, ethL(layers.EthernetTypeIPv4), ip4L(layers.IPProtocolUDP, cli4, srv4), udpL(5353, 53), payload("dns?"))
	ipOpts := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: cli4, DstIP: srv4,
		Options: []layers.IPv4Option{{OptionType: 0x94, OptionLength: 4, OptionData: []byte{0, 0}}}} // router alert
	pppoe := &layers.PPPoE{Version: 1, Type: 1, Code: layers.PPPoECodeSession, SessionId: 9}
	ppp4 := &layers.PPP{PPPType: layers.PPPTypeIPv4}
	ppp6 := &layers.PPP{PPPType: layers.PPPTypeIPv6}
	// 802.3 frames pad to 60 bytes; the IP length must win over the padding.
	padded := serialize(t, ethL(layers.EthernetTypeIPv4), ip4L(layers.IPProtocolTCP, cli4, srv4), tcpL(), payload("hi"))
	padded = append(padded, make([]byte, 60-len(padded))...)
	mplsIP := serialize(t, ethL(layers.EthernetTypeMPLSUnicast),
		&layers.MPLS{Label: 100, TTL: 64}, &layers.MPLS{Label: 200, StackBottom: true, TTL: 64}, payload(string(ip4)))

	cases := []struct {
		name string
		link layers.LinkType
		data []byte
		want frameWant
	}{
		{"ethernet/ipv4/tcp", layers.LinkTypeEthernet, innerEth(t), tcp4},
		{"ethernet/ipv6/tcp", layers.LinkTypeEthernet, ethTCP6, tcp6},
		{"ethernet/ipv4/udp", layers.LinkTypeEthernet, udp4, frameWant{ok: true, proto: ProtoUDP, src: "10.0.0.1:5353", dst: "10.0.0.2:53", payload: "dns?"}},
		{"ethernet/ipv4 options/tcp", layers.LinkTypeEthernet, serialize(t, ethL(layers.EthernetTypeIPv4), ipOpts, tcpL(), payload(body)), tcp4},
		{"ethernet padding", layers.LinkTypeEthernet, padded, frameWant{ok: true, proto: ProtoTCP, src: "10.0.0.1:40000", dst: "10.0.0.2:80", payload: "hi"}},
		{"802.1Q", layers.LinkTypeEthernet, serialize(t, ethL(layers.EthernetTypeDot1Q), dot1qL(10, layers.EthernetTypeIPv4), payload(string(ip4))), tcp4.with(0, 1)},
		{"802.1ad QinQ", layers.LinkTypeEthernet, serialize(t, ethL(layers.EthernetTypeQinQ), dot1qL(100, layers.EthernetTypeDot1Q), dot1qL(10, layers.EthernetTypeIPv6), payload(string(ip6))), tcp6.with(0, 2)},
		{"triple tag 0x9100", layers.LinkTypeEthernet, serialize(t, ethL(0x9100), dot1qL(1, layers.EthernetTypeQinQ), dot1qL(2, layers.EthernetTypeDot1Q), dot1qL(3, layers.EthernetTypeIPv4), payload(string(ip4))), tcp4.with(0, 3)},
		{"mpls", layers.LinkTypeEthernet, mplsIP, tcp4},
		{"pppoe session ipv4", layers.LinkTypeEthernet, serialize(t, ethL(layers.EthernetTypePPPoESession), pppoe, ppp4, payload(string(ip4))), tcp4},
		{"pppoe session ipv6", layers.LinkTypeEthernet, serialize(t, ethL(layers.EthernetTypePPPoESession), pppoe, ppp6, payload(string(ip6))), tcp6},
		{"sll ipv4", layers.LinkTypeLinuxSLL, cat(sllHeader(layers.EthernetTypeIPv4), ip4), tcp4},
		{"sll vlan ipv6", layers.LinkTypeLinuxSLL, cat(sllHeader(layers.EthernetTypeDot1Q), []byte{0, 5, 0x86, 0xdd}, ip6), tcp6.with(0, 1)},
		{"sll2 ipv4", layers.LinkTypeLinuxSLL2, cat(sll2Header(layers.EthernetTypeIPv4), ip4), tcp4},
		{"sll2 ipv6", layers.LinkTypeLinuxSLL2, cat(sll2Header(layers.EthernetTypeIPv6), ip6), tcp6},
		{"raw 101 ipv4", layers.LinkTypeRaw, ip4, tcp4},
		{"raw 101 ipv6", layers.LinkTypeRaw, ip6, tcp6},
		{"raw 12", 12, ip4, tcp4},
		{"raw 14", 14, ip6, tcp6},
		{"ipv4 228", layers.LinkTypeIPv4, ip4, tcp4},
		{"ipv6 229", layers.LinkTypeIPv6, ip6, tcp6},
		{"null little-endian ipv4", layers.LinkTypeNull, cat(nullHeader(2, binary.LittleEndian), ip4), tcp4},
		{"null big-endian ipv4", layers.LinkTypeNull, cat(nullHeader(2, binary.BigEndian), ip4), tcp4},
		{"null ipv6 af 24", layers.LinkTypeNull, cat(nullHeader(24, binary.LittleEndian), ip6), tcp6},
		{"null ipv6 af 28", layers.LinkTypeNull, cat(nullHeader(28, binary.BigEndian), ip6), tcp6},
		{"null ipv6 af 30", layers.LinkTypeNull, cat(nullHeader(30, binary.LittleEndian), ip6), tcp6},
		{"loop 108", 108, cat(nullHeader(2, binary.BigEndian), ip4), tcp4},
		{"ppp 9 hdlc framing", layers.LinkTypePPP, cat([]byte{0xff, 0x03, 0x00, 0x21}, ip4), tcp4},
		{"ppp 9 compressed protocol", layers.LinkTypePPP, cat([]byte{0x57}, ip6), tcp6},
		{"ppp over ethernet 51", layers.LinkTypePPPEthernet, serialize(t, pppoe, ppp4, payload(string(ip4))), tcp4},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dec := NewDecoder(DecoderOptions{})
			var d Decoded
			ok := dec.Decode(&Packet{Timestamp: testTime, LinkType: c.link, Data: c.data, WireLen: len(c.data)}, &d)
			checkDecoded(t, ok, &d, c.want)
			if !d.Timestamp.Equal(testTime) {
				t.Errorf("timestamp %v", d.Timestamp)
			}
			st := dec.Stats()
			if st.Packets != 1 || st.Bytes != uint64(len(c.data)) || st.TCP+st.UDP != 1 {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

func TestDecodeTunnels(t *testing.T) {
	inner := innerEth(t)
	ip4 := innerIP4(t)
	ip6 := innerIP6(t)
	geneve := serialize(t, &layers.Geneve{Protocol: layers.EthernetTypeTransparentEthernetBridging, VNI: 5,
		Options: []*layers.GeneveOption{{Class: 0x0102, Type: 0x80, Data: []byte{1, 2, 3, 4, 5, 6, 7, 8}}}})
	if geneve[0]&0x3f != 3 {
		t.Fatalf("geneve option length %d, want 3 words", geneve[0]&0x3f)
	}
	geneveIP := serialize(t, &layers.Geneve{Protocol: layers.EthernetTypeIPv6, VNI: 5})
	erspan2 := serialize(t, &layers.ERSPANII{Version: layers.ERSPANIIVersion, VLANIdentifier: 10, SessionID: 3, Index: 1})
	vxlanInVXLAN := outerUDP(t, 4789, vxlanHeader(), outerUDP(t, 4789, vxlanHeader(), inner))
	gpe := []byte{0x0c, 0, 0, 1, 0, 0, 42, 0} // I and P flags, next protocol IPv4
	cases := []struct {
		name string
		data []byte
		want frameWant
	}{
		{"vxlan 4789", outerUDP(t, 4789, vxlanHeader(), inner), tcp4.with(1, 0)},
		{"vxlan 8472", outerUDP(t, 8472, vxlanHeader(), inner), tcp4.with(1, 0)},
		{"vxlan in vxlan", vxlanInVXLAN, tcp4.with(2, 0)},
		{"vxlan-gpe ipv4", outerUDP(t, 4790, gpe, ip4), tcp4.with(1, 0)},
		{"vxlan inner vlan", outerUDP(t, 4789, vxlanHeader(), serialize(t, ethL(layers.EthernetTypeDot1Q), dot1qL(7, layers.EthernetTypeIPv4), payload(string(ip4)))), tcp4.with(1, 1)},
		{"geneve ethernet with options", outerUDP(t, 6081, geneve, inner), tcp4.with(1, 0)},
		{"geneve ipv6", outerUDP(t, 6081, geneveIP, ip6), tcp6.with(1, 0)},
		{"gre ipv4", outerGRE(t, &layers.GRE{Protocol: layers.EthernetTypeIPv4}, ip4), tcp4.with(1, 0)},
		{"gre ipv6 with key and seq", outerGRE(t, &layers.GRE{Protocol: layers.EthernetTypeIPv6, KeyPresent: true, Key: 9, SeqPresent: true, Seq: 3}, ip6), tcp6.with(1, 0)},
		{"gre checksum", outerGRE(t, &layers.GRE{Protocol: layers.EthernetTypeIPv4, ChecksumPresent: true}, ip4), tcp4.with(1, 0)},
		{"gre transparent ethernet", outerGRE(t, &layers.GRE{Protocol: layers.EthernetTypeTransparentEthernetBridging, KeyPresent: true, Key: 1}, inner), tcp4.with(1, 0)},
		{"erspan type I", outerGRE(t, &layers.GRE{Protocol: layers.EthernetTypeERSPAN}, inner), tcp4.with(1, 0)},
		{"erspan type II", outerGRE(t, &layers.GRE{Protocol: layers.EthernetTypeERSPAN, SeqPresent: true, Seq: 1}, cat(erspan2, inner)), tcp4.with(1, 0)},
		{"erspan type III", outerGRE(t, &layers.GRE{Protocol: 0x22EB, SeqPresent: true, Seq: 1}, cat(erspan3Header(0, false), inner)), tcp4.with(1, 0)},
		{"erspan type III subheader", outerGRE(t, &layers.GRE{Protocol: 0x22EB, SeqPresent: true, Seq: 1}, cat(erspan3Header(0, true), inner)), tcp4.with(1, 0)},
		{"erspan type III ip frame", outerGRE(t, &layers.GRE{Protocol: 0x22EB, SeqPresent: true, Seq: 1}, cat(erspan3Header(2, false), ip6)), tcp6.with(1, 0)},
		{"ip in ip", serialize(t, ethL(layers.EthernetTypeIPv4), ip4L(layers.IPProtocolIPv4, vtep1, vtep2), payload(string(ip4))), tcp4.with(1, 0)},
		{"ipv6 in ipv4", serialize(t, ethL(layers.EthernetTypeIPv4), ip4L(layers.IPProtocolIPv6, vtep1, vtep2), payload(string(ip6))), tcp6.with(1, 0)},
		{"ipv4 in ipv6", serialize(t, ethL(layers.EthernetTypeIPv6), ip6L(layers.IPProtocolIPv4, cli6, srv6), payload(string(ip4))), tcp4.with(1, 0)},
		{"vxlan in gre in vlan", serialize(t, ethL(layers.EthernetTypeDot1Q), dot1qL(4, layers.EthernetTypeIPv4), ip4L(layers.IPProtocolGRE, vtep1, vtep2), &layers.GRE{Protocol: layers.EthernetTypeIPv4}, payload(string(serialize(t, ip4L(layers.IPProtocolUDP, vtep2, vtep1), udpL(1, 4789), payload(string(vxlanHeader())+string(inner)))))), tcp4.with(2, 1)},
		// Without the I flag it is not VXLAN: plain UDP to port 4789.
		{"udp 4789 without I flag", outerUDP(t, 4789, []byte{0, 0, 0, 0, 0, 0, 0, 0}, nil), frameWant{ok: true, proto: ProtoUDP, src: "192.168.1.1:54321", dst: "192.168.1.2:4789", payload: string(make([]byte, 8))}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dec := NewDecoder(DecoderOptions{})
			var d Decoded
			ok := dec.Decode(&Packet{Timestamp: testTime, LinkType: layers.LinkTypeEthernet, Data: c.data}, &d)
			checkDecoded(t, ok, &d, c.want)
			if st := dec.Stats(); (st.Decapsulated == 1) != (c.want.tunnels > 0) {
				t.Errorf("Decapsulated = %d", st.Decapsulated)
			}
		})
	}
}

func TestDecodeTunnelDepth(t *testing.T) {
	frame := innerEth(t)
	for range 5 {
		frame = outerUDP(t, 4789, vxlanHeader(), frame)
	}
	// Default depth 4: the fifth VXLAN stays closed and comes out as UDP.
	dec := NewDecoder(DecoderOptions{})
	var d Decoded
	if !dec.Decode(&Packet{LinkType: layers.LinkTypeEthernet, Data: frame}, &d) {
		t.Fatal("not decoded")
	}
	if d.Tunnels != 4 || d.Key.Proto != ProtoUDP || d.Key.DstPort != 4789 {
		t.Errorf("tunnels %d proto %d port %d, want 4 UDP 4789", d.Tunnels, d.Key.Proto, d.Key.DstPort)
	}
	if st := dec.Stats(); st.TunnelDepthExceeded != 1 || st.UDP != 1 {
		t.Errorf("stats %+v", st)
	}
	dec = NewDecoder(DecoderOptions{MaxTunnelDepth: 5})
	checkDecoded(t, dec.Decode(&Packet{LinkType: layers.LinkTypeEthernet, Data: frame}, &d), &d, tcp4.with(5, 0))

	// GRE at the limit is not opened: Other.
	g := outerGRE(t, &layers.GRE{Protocol: layers.EthernetTypeIPv4}, innerIP4(t))
	dec = NewDecoder(DecoderOptions{MaxTunnelDepth: 1})
	if dec.Decode(&Packet{LinkType: layers.LinkTypeEthernet, Data: outerUDP(t, 4789, vxlanHeader(), g)}, &d) {
		t.Fatal("GRE beyond the depth decoded")
	}
	if st := dec.Stats(); st.Other != 1 || st.TunnelDepthExceeded != 1 || d.Key.Proto != 47 {
		t.Errorf("stats %+v proto %d", st, d.Key.Proto)
	}
}

func TestDecodeIPv6Extensions(t *testing.T) {
	tcpBytes := serialize(t, tcpL(), payload(body))
	destOpts := func(next layers.IPProtocol) []byte { return []byte{byte(next), 0, 1, 4, 0, 0, 0, 0} } // PadN
	routing := func(next layers.IPProtocol) []byte { return []byte{byte(next), 0, 4, 0, 0, 0, 0, 0} }
	frag := func(next layers.IPProtocol, off uint16, more bool) []byte {
		return serialize(t, &layers.IPv6Fragment{NextHeader: next, FragmentOffset: off, MoreFragments: more, Identification: 77})
	}
	ah := []byte{byte(layers.IPProtocolTCP), 4, 0, 0, 0, 0, 1, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0} // 24 bytes
	v6 := func(next layers.IPProtocol, ext ...[]byte) []byte {
		return serialize(t, ethL(layers.EthernetTypeIPv6), ip6L(next, cli6, srv6), payload(string(cat(append(ext, tcpBytes)...))))
	}
	cases := []struct {
		name string
		data []byte
	}{
		{"hop-by-hop", v6(layers.IPProtocolIPv6HopByHop, destOpts(layers.IPProtocolTCP))},
		{"destination options", v6(layers.IPProtocolIPv6Destination, destOpts(layers.IPProtocolTCP))},
		{"routing", v6(layers.IPProtocolIPv6Routing, routing(layers.IPProtocolTCP))},
		{"atomic fragment", v6(layers.IPProtocolIPv6Fragment, frag(layers.IPProtocolTCP, 0, false))},
		{"chain", v6(layers.IPProtocolIPv6HopByHop, destOpts(layers.IPProtocolIPv6Routing), routing(layers.IPProtocolIPv6Fragment),
			frag(layers.IPProtocolIPv6Destination, 0, false), destOpts(layers.IPProtocolTCP))},
		{"authentication header", v6(layers.IPProtocolAH, ah)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dec := NewDecoder(DecoderOptions{})
			var d Decoded
			checkDecoded(t, dec.Decode(&Packet{LinkType: layers.LinkTypeEthernet, Data: c.data}, &d), &d, tcp6)
			if d.Length != len(c.data)-14 {
				t.Errorf("Length %d, want %d", d.Length, len(c.data)-14)
			}
			if st := dec.Stats(); st.Fragments != 0 {
				t.Errorf("atomic fragment counted as fragment: %+v", st)
			}
		})
	}
}

// TestDecodeSnapLength cuts frames short: whatever payload is present is
// handed on, PayloadLength tells the declared size, and a cut header is
// Undecodable.
func TestDecodeSnapLength(t *testing.T) {
	full4 := innerEth(t)
	full6 := serialize(t, ethL(layers.EthernetTypeIPv6), ip6L(layers.IPProtocolTCP, cli6, srv6), tcpL(), payload(body))
	vx := outerUDP(t, 4789, vxlanHeader(), full4)
	cases := []struct {
		name     string
		data     []byte
		cut      int // bytes kept
		ok       bool
		present  int // payload bytes handed on
		declared int
	}{
		{"ipv4 payload cut", full4, len(full4) - 10, true, len(body) - 10, len(body)},
		{"ipv4 payload gone", full4, 14 + 20 + 20, true, 0, len(body)},
		{"ipv6 payload cut", full6, len(full6) - 5, true, len(body) - 5, len(body)},
		{"vxlan inner payload cut", vx, len(vx) - 7, true, len(body) - 7, len(body)},
		{"tcp header cut", full4, 14 + 20 + 10, false, 0, 0},
		{"ip header cut", full4, 14 + 12, false, 0, 0},
		{"ethernet header cut", full4, 10, false, 0, 0},
		{"empty", full4, 0, false, 0, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dec := NewDecoder(DecoderOptions{})
			var d Decoded
			ok := dec.Decode(&Packet{LinkType: layers.LinkTypeEthernet, Data: c.data[:c.cut], WireLen: len(c.data)}, &d)
			st := dec.Stats()
			if ok != c.ok {
				t.Fatalf("Decode = %v, want %v (stats %+v)", ok, c.ok, st)
			}
			if !ok {
				if st.Undecodable != 1 {
					t.Errorf("Undecodable = %d", st.Undecodable)
				}
				return
			}
			if len(d.Payload) != c.present || d.PayloadLength != c.declared {
				t.Errorf("payload %d of %d, want %d of %d", len(d.Payload), d.PayloadLength, c.present, c.declared)
			}
			if string(d.Payload) != body[:c.present] {
				t.Errorf("payload %q", d.Payload)
			}
			if st.Truncated != 1 || st.Bytes != uint64(len(c.data)) {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

func TestDecodeNotDelivered(t *testing.T) {
	arp := serialize(t, ethL(layers.EthernetTypeARP), &layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4,
		HwAddressSize: 6, ProtAddressSize: 4, Operation: 1, SourceHwAddress: macA, SourceProtAddress: cli4,
		DstHwAddress: macB, DstProtAddress: srv4})
	icmp := serialize(t, ethL(layers.EthernetTypeIPv4), ip4L(layers.IPProtocolICMPv4, cli4, srv4), &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(8, 0)})
	tooManyTags := serialize(t, ethL(layers.EthernetTypeDot1Q))[:14] // without the padding to 60 bytes
	for range maxVLANTags + 1 {
		tooManyTags = append(tooManyTags, 0, 1, 0x81, 0x00)
	}
	badVersion := innerEth(t)
	badVersion[14] = 0x55
	badIHL := innerEth(t)
	badIHL[14] = 0x43
	badTCPOff := innerEth(t)
	badTCPOff[14+20+12] = 0x20
	cases := []struct {
		name string
		link layers.LinkType
		data []byte
		stat func(DecoderStats) uint64
	}{
		{"arp", layers.LinkTypeEthernet, arp, func(s DecoderStats) uint64 { return s.NotIP }},
		{"icmp", layers.LinkTypeEthernet, icmp, func(s DecoderStats) uint64 { return s.Other }},
		{"unknown link type", 147, innerIP4(t), func(s DecoderStats) uint64 { return s.UnsupportedLinkType }},
		{"too many vlan tags", layers.LinkTypeEthernet, tooManyTags, func(s DecoderStats) uint64 { return s.Undecodable }},
		{"ip version 5", layers.LinkTypeEthernet, badVersion, func(s DecoderStats) uint64 { return s.Undecodable }},
		{"ihl 3", layers.LinkTypeEthernet, badIHL, func(s DecoderStats) uint64 { return s.Undecodable }},
		{"tcp data offset 2", layers.LinkTypeEthernet, badTCPOff, func(s DecoderStats) uint64 { return s.Undecodable }},
		{"raw not ip", layers.LinkTypeRaw, []byte{0x10, 0, 0, 0}, func(s DecoderStats) uint64 { return s.Undecodable }},
		{"null family 7", layers.LinkTypeNull, cat(nullHeader(7, binary.LittleEndian), innerIP4(t)), func(s DecoderStats) uint64 { return s.NotIP }},
		{"sll short", layers.LinkTypeLinuxSLL, make([]byte, 10), func(s DecoderStats) uint64 { return s.Undecodable }},
		{"sll2 short", layers.LinkTypeLinuxSLL2, make([]byte, 19), func(s DecoderStats) uint64 { return s.Undecodable }},
		{"erspan III bad version", layers.LinkTypeEthernet, outerGRE(t, &layers.GRE{Protocol: 0x22EB, SeqPresent: true}, []byte{0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}), func(s DecoderStats) uint64 { return s.Undecodable }},
		{"gre version 2", layers.LinkTypeEthernet, outerGRE(t, &layers.GRE{Protocol: layers.EthernetTypeIPv4, Version: 2}, innerIP4(t)), func(s DecoderStats) uint64 { return s.Undecodable }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dec := NewDecoder(DecoderOptions{})
			var d Decoded
			if dec.Decode(&Packet{LinkType: c.link, Data: c.data}, &d) {
				t.Fatalf("decoded %+v", d.Key)
			}
			if st := dec.Stats(); c.stat(st) != 1 || st.Packets != 1 {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

// TestDecodeReusesDecoded checks that a Decoded reused across packets holds
// nothing of the previous one.
func TestDecodeReusesDecoded(t *testing.T) {
	dec := NewDecoder(DecoderOptions{})
	var d Decoded
	vlanVX := outerUDP(t, 4789, vxlanHeader(), serialize(t, ethL(layers.EthernetTypeDot1Q), dot1qL(7, layers.EthernetTypeIPv6), payload(string(innerIP6(t)))))
	checkDecoded(t, dec.Decode(&Packet{LinkType: layers.LinkTypeEthernet, Data: vlanVX}, &d), &d, tcp6.with(1, 1))
	checkDecoded(t, dec.Decode(&Packet{LinkType: layers.LinkTypeEthernet, Data: innerEth(t)}, &d), &d, tcp4)
}

// TestDecodeAllocs pins the zero-allocation common paths.
func TestDecodeAllocs(t *testing.T) {
	syn := tcpL()
	syn.SYN, syn.PSH = true, false
	syn.Options = []layers.TCPOption{
		{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: []byte{5, 0xb4}},
		{OptionType: layers.TCPOptionKindSACKPermitted, OptionLength: 2},
		{OptionType: layers.TCPOptionKindTimestamps, OptionLength: 10, OptionData: make([]byte, 8)},
		{OptionType: layers.TCPOptionKindNop, OptionLength: 1},
		{OptionType: layers.TCPOptionKindWindowScale, OptionLength: 3, OptionData: []byte{7}},
	}
	ipOpts := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: cli4, DstIP: srv4,
		Options: []layers.IPv4Option{{OptionType: 0x94, OptionLength: 4, OptionData: []byte{0, 0}}}}
	cases := []struct {
		name string
		link layers.LinkType
		data []byte
	}{
		{"ethernet/ipv4/tcp", layers.LinkTypeEthernet, innerEth(t)},
		{"ethernet/ipv4/tcp syn with options", layers.LinkTypeEthernet, serialize(t, ethL(layers.EthernetTypeIPv4), ip4L(layers.IPProtocolTCP, cli4, srv4), syn)},
		{"ethernet/ipv4 options/tcp", layers.LinkTypeEthernet, serialize(t, ethL(layers.EthernetTypeIPv4), ipOpts, tcpL(), payload(body))},
		{"ethernet/ipv6/tcp", layers.LinkTypeEthernet, serialize(t, ethL(layers.EthernetTypeIPv6), ip6L(layers.IPProtocolTCP, cli6, srv6), tcpL(), payload(body))},
		{"vlan/ipv4/tcp", layers.LinkTypeEthernet, serialize(t, ethL(layers.EthernetTypeDot1Q), dot1qL(10, layers.EthernetTypeIPv4), payload(string(innerIP4(t))))},
		{"qinq/ipv6/tcp", layers.LinkTypeEthernet, serialize(t, ethL(layers.EthernetTypeQinQ), dot1qL(100, layers.EthernetTypeDot1Q), dot1qL(10, layers.EthernetTypeIPv6), payload(string(innerIP6(t))))},
		{"sll/ipv4/tcp", layers.LinkTypeLinuxSLL, cat(sllHeader(layers.EthernetTypeIPv4), innerIP4(t))},
		{"null/ipv6/tcp", layers.LinkTypeNull, cat(nullHeader(30, binary.LittleEndian), innerIP6(t))},
		{"ethernet/ipv4/udp", layers.LinkTypeEthernet, serialize(t, ethL(layers.EthernetTypeIPv4), ip4L(layers.IPProtocolUDP, cli4, srv4), udpL(1, 2), payload("x"))},
		{"vxlan", layers.LinkTypeEthernet, outerUDP(t, 4789, vxlanHeader(), innerEth(t))},
		{"geneve with option", layers.LinkTypeEthernet, outerUDP(t, 6081, []byte{0x01, 0, 0x65, 0x58, 0, 0, 5, 0, 1, 2, 0x80, 0}, innerEth(t))},
		{"gre key seq/ipv6", layers.LinkTypeEthernet, outerGRE(t, &layers.GRE{Protocol: layers.EthernetTypeIPv6, KeyPresent: true, SeqPresent: true}, innerIP6(t))},
		{"gre/erspan II", layers.LinkTypeEthernet, outerGRE(t, &layers.GRE{Protocol: layers.EthernetTypeERSPAN, SeqPresent: true, Seq: 1}, cat(serialize(t, &layers.ERSPANII{Version: layers.ERSPANIIVersion}), innerEth(t)))},
		{"ipv6 atomic fragment", layers.LinkTypeEthernet, serialize(t, ethL(layers.EthernetTypeIPv6), ip6L(layers.IPProtocolIPv6Fragment, cli6, srv6), &layers.IPv6Fragment{NextHeader: layers.IPProtocolTCP}, tcpL(), payload(body))},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dec := NewDecoder(DecoderOptions{})
			d := new(Decoded)
			p := &Packet{Timestamp: testTime, LinkType: c.link, Data: c.data, WireLen: len(c.data)}
			if !dec.Decode(p, d) {
				t.Fatalf("not decoded: %+v", dec.Stats())
			}
			if n := testing.AllocsPerRun(200, func() { dec.Decode(p, d) }); n != 0 {
				t.Errorf("%v allocations per packet, want 0", n)
			}
		})
	}
}

func BenchmarkDecode(b *testing.B) {
	cases := []struct {
		name string
		link layers.LinkType
		data []byte
	}{
		{"ethernet-ipv4-tcp", layers.LinkTypeEthernet, innerEth(b)},
		{"ethernet-ipv6-tcp", layers.LinkTypeEthernet, serialize(b, ethL(layers.EthernetTypeIPv6), ip6L(layers.IPProtocolTCP, cli6, srv6), tcpL(), payload(body))},
		{"qinq-ipv4-tcp", layers.LinkTypeEthernet, serialize(b, ethL(layers.EthernetTypeQinQ), dot1qL(100, layers.EthernetTypeDot1Q), dot1qL(10, layers.EthernetTypeIPv4), payload(string(innerIP4(b))))},
		{"vxlan-ipv4-tcp", layers.LinkTypeEthernet, outerUDP(b, 4789, vxlanHeader(), innerEth(b))},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			dec := NewDecoder(DecoderOptions{})
			d := new(Decoded)
			p := &Packet{Timestamp: testTime, LinkType: c.link, Data: c.data, WireLen: len(c.data)}
			b.ReportAllocs()
			b.SetBytes(int64(len(c.data)))
			for b.Loop() {
				if !dec.Decode(p, d) {
					b.Fatal("not decoded")
				}
			}
		})
	}
}
