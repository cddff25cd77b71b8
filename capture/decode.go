package capture

import (
	"encoding/binary"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// Link types the decoder understands beyond the ones gopacket names.
const (
	linkTypeRawOpenBSD layers.LinkType = 12  // DLT_RAW on some BSDs
	linkTypeRawBSDOS   layers.LinkType = 14  // DLT_RAW on BSD/OS
	linkTypeLoop       layers.LinkType = 108 // OpenBSD loopback: AF in network order
)

// Defaults of DecoderOptions.
const (
	defaultMaxFragmentBytes     = 4 << 20
	defaultMaxFragmentDatagrams = 1024
	defaultFragmentTimeout      = 30 * time.Second
	defaultMaxTunnelDepth       = 4
	maxTunnelDepthLimit         = 16
	// maxVLANTags bounds the 802.1Q/802.1ad tags stacked in one frame.
	maxVLANTags = 8
	// maxIPv6ExtHeaders bounds the IPv6 extension header chain.
	maxIPv6ExtHeaders = 16
	// maxMPLSLabels bounds an MPLS label stack.
	maxMPLSLabels = 8
)

// DecoderOptions configure a Decoder. The zero value works.
type DecoderOptions struct {
	// MaxFragmentBytes bounds the bytes held for IP fragment reassembly
	// (buffers in use and kept for reuse); 0 means 4 MiB. Beyond it the
	// oldest datagrams are dropped (counted).
	MaxFragmentBytes int
	// MaxFragmentDatagrams bounds the datagrams reassembled at once; 0 means
	// 1024. Beyond it the oldest datagram is dropped (counted).
	MaxFragmentDatagrams int
	// FragmentTimeout is how long, in capture time, a datagram may wait for
	// its missing fragments; 0 means 30s.
	FragmentTimeout time.Duration
	// MaxTunnelDepth bounds nested decapsulation; 0 means 4 (at most 16).
	// A tunnel found deeper is not opened: a UDP tunnel is handed on as the
	// UDP datagram it is, a GRE or IP-in-IP one counts as Other.
	MaxTunnelDepth int
}

// DecoderStats counts what a Decoder saw and skipped. Every packet lands in
// exactly one of TCP, UDP, Other, NotIP, Undecodable, UnsupportedLinkType or
// (for an IP fragment that completes no datagram) nowhere else than
// Fragments.
type DecoderStats struct {
	Packets, Bytes      uint64 // Bytes counts wire lengths
	TCP, UDP, Other     uint64 // innermost transport
	Undecodable         uint64 // malformed or unsupported link/network layer
	Fragments           uint64 // IP fragments received
	Reassembled         uint64 // datagrams rebuilt from fragments
	FragmentsDropped    uint64 // fragments dropped by the bound or timeout
	Decapsulated        uint64 // packets that came out of a tunnel
	UnsupportedLinkType uint64
	// NotIP counts well-formed frames that carry no IP packet (ARP, LLDP,
	// STP, unknown EtherTypes and tunnel payloads).
	NotIP uint64
	// Truncated counts TCP/UDP packets handed on with less payload than
	// their headers declare (cut by the snap length).
	Truncated uint64
	// FragmentOverlaps counts datagrams discarded because fragments
	// overlapped with different bytes (also counted in FragmentsDropped).
	FragmentOverlaps uint64
	// TunnelDepthExceeded counts tunnels left closed at MaxTunnelDepth.
	TunnelDepthExceeded uint64
}

// Decoder decodes packets in place, from the link layer through VLAN tags,
// tunnels and IP fragments down to the innermost TCP or UDP segment. It owns
// one gopacket DecodingLayer per header kind and reuses them for every
// packet, so the common paths allocate nothing. The layers are driven by
// the decoder's own dispatch rather than a gopacket.DecodingLayerParser:
// choosing tunnels by UDP port, keeping what a snap length left of a cut
// frame, bounding VLAN and extension header chains and detouring through
// fragment reassembly all need decisions between layers that the parser
// does not offer. It is not safe for concurrent use; use one per goroutine.
type Decoder struct {
	opts  DecoderOptions
	stats DecoderStats

	eth     layers.Ethernet
	dot1q   layers.Dot1Q
	sll     layers.LinuxSLL
	sll2    layers.LinuxSLL2
	loop    layers.Loopback
	ip4     layers.IPv4
	ip6     layers.IPv6
	ip6ext  layers.IPv6ExtensionSkipper
	ip6frag layers.IPv6Fragment
	udp     layers.UDP
	vxlan   layers.VXLAN
	gre     layers.GRE
	erspan2 layers.ERSPANII

	frag defragmenter
}

// outcome is what decoding one packet came to.
type outcome uint8

const (
	outBad         outcome = iota // malformed or truncated headers
	outTCP                        // innermost transport is TCP
	outUDP                        // innermost transport is UDP
	outOther                      // IP, but neither TCP nor UDP
	outNotIP                      // well formed, but no IP inside
	outFragment                   // an IP fragment held (or dropped) for reassembly
	outUnsupported                // unknown link type
)

// NewDecoder returns a decoder.
func NewDecoder(opts DecoderOptions) *Decoder {
	if opts.MaxFragmentBytes <= 0 {
		opts.MaxFragmentBytes = defaultMaxFragmentBytes
	}
	if opts.MaxFragmentDatagrams <= 0 {
		opts.MaxFragmentDatagrams = defaultMaxFragmentDatagrams
	}
	if opts.FragmentTimeout <= 0 {
		opts.FragmentTimeout = defaultFragmentTimeout
	}
	if opts.MaxTunnelDepth <= 0 {
		opts.MaxTunnelDepth = defaultMaxTunnelDepth
	}
	if opts.MaxTunnelDepth > maxTunnelDepthLimit {
		opts.MaxTunnelDepth = maxTunnelDepthLimit
	}
	dec := &Decoder{opts: opts}
	dec.frag.init(opts, &dec.stats)
	return dec
}

// Decode decodes p into d. It returns false when p yields no TCP or UDP
// payload to hand on (not IP, malformed, a fragment still waiting for the
// rest); the reason is counted in Stats. A TCP segment without payload (a
// bare SYN or ACK) is handed on. When the snap length cut the frame, d holds
// the payload bytes present and d.PayloadLength tells how many the headers
// declared.
func (dec *Decoder) Decode(p *Packet, d *Decoded) bool {
	dec.stats.Packets++
	wire := p.WireLen
	if wire < len(p.Data) {
		wire = len(p.Data)
	}
	dec.stats.Bytes += uint64(wire)

	// Reassembled datagrams handed out by the previous call are ours again.
	dec.frag.release()
	if !p.Timestamp.IsZero() {
		dec.frag.tick(p.Timestamp.UnixNano())
	}

	d.Timestamp = p.Timestamp
	d.Key = FlowKey{}
	d.IPv6 = false
	d.Payload = nil
	d.PayloadLength = 0
	d.Tunnels = 0
	d.VLANs = 0
	d.Length = 0

	o := dec.link(p.LinkType, p.Data, d)
	switch o {
	case outTCP:
		dec.stats.TCP++
	case outUDP:
		dec.stats.UDP++
	case outOther:
		dec.stats.Other++
	case outNotIP:
		dec.stats.NotIP++
	case outBad:
		dec.stats.Undecodable++
	case outUnsupported:
		dec.stats.UnsupportedLinkType++
	}
	if d.Tunnels > 0 && (o == outTCP || o == outUDP || o == outOther) {
		dec.stats.Decapsulated++
	}
	if o != outTCP && o != outUDP {
		return false
	}
	if len(d.Payload) < d.PayloadLength {
		dec.stats.Truncated++
	}
	return true
}

// Stats returns the counters so far.
func (dec *Decoder) Stats() DecoderStats { return dec.stats }

// link dispatches on the capture's link type.
func (dec *Decoder) link(lt layers.LinkType, data []byte, d *Decoded) outcome {
	switch lt {
	case layers.LinkTypeEthernet:
		return dec.ethernet(data, d)
	case layers.LinkTypeLinuxSLL:
		if dec.sll.DecodeFromBytes(data, gopacket.NilDecodeFeedback) != nil {
			return outBad
		}
		return dec.etherType(dec.sll.EthernetType, dec.sll.Payload, d)
	case layers.LinkTypeLinuxSLL2:
		if dec.sll2.DecodeFromBytes(data, gopacket.NilDecodeFeedback) != nil {
			return outBad
		}
		return dec.etherType(dec.sll2.ProtocolType, dec.sll2.Payload, d)
	case layers.LinkTypeRaw, linkTypeRawOpenBSD, linkTypeRawBSDOS:
		return dec.rawIP(data, d)
	case layers.LinkTypeIPv4:
		return dec.ipv4(data, d)
	case layers.LinkTypeIPv6:
		return dec.ipv6(data, d)
	case layers.LinkTypeNull, linkTypeLoop:
		if dec.loop.DecodeFromBytes(data, gopacket.NilDecodeFeedback) != nil {
			return outBad
		}
		switch dec.loop.Family {
		case layers.ProtocolFamilyIPv4:
			return dec.ipv4(dec.loop.Payload, d)
		case layers.ProtocolFamilyIPv6BSD, layers.ProtocolFamilyIPv6FreeBSD, layers.ProtocolFamilyIPv6Darwin,
			layers.ProtocolFamilyIPv6Linux:
			return dec.ipv6(dec.loop.Payload, d)
		}
		return outNotIP
	case layers.LinkTypePPP, layers.LinkTypePPP_HDLC:
		return dec.ppp(data, d)
	case layers.LinkTypePPPEthernet:
		return dec.pppoe(data, d)
	}
	return outUnsupported
}

// rawIP decodes a packet that starts with an IP header of either version.
func (dec *Decoder) rawIP(data []byte, d *Decoded) outcome {
	if len(data) == 0 {
		return outBad
	}
	switch data[0] >> 4 {
	case 4:
		return dec.ipv4(data, d)
	case 6:
		return dec.ipv6(data, d)
	}
	return outBad
}

// ethernet decodes an Ethernet II or 802.3 frame.
func (dec *Decoder) ethernet(data []byte, d *Decoded) outcome {
	if dec.eth.DecodeFromBytes(data, gopacket.NilDecodeFeedback) != nil {
		return outBad
	}
	return dec.etherType(dec.eth.EthernetType, dec.eth.Payload, d)
}

// etherType decodes data as named by an EtherType, peeling VLAN tags.
func (dec *Decoder) etherType(et layers.EthernetType, data []byte, d *Decoded) outcome {
	for tags := 0; ; tags++ {
		switch et {
		case layers.EthernetTypeDot1Q, layers.EthernetTypeQinQ, 0x9100, 0x9200, 0x9300:
			if tags == maxVLANTags {
				return outBad
			}
			if dec.dot1q.DecodeFromBytes(data, gopacket.NilDecodeFeedback) != nil {
				return outBad
			}
			if d.VLANs < 255 {
				d.VLANs++
			}
			et, data = dec.dot1q.Type, dec.dot1q.Payload
		case layers.EthernetTypeIPv4:
			return dec.ipv4(data, d)
		case layers.EthernetTypeIPv6:
			return dec.ipv6(data, d)
		case layers.EthernetTypePPPoESession:
			return dec.pppoe(data, d)
		case layers.EthernetTypeMPLSUnicast, layers.EthernetTypeMPLSMulticast:
			return dec.mpls(data, d)
		default:
			return outNotIP
		}
	}
}

// pppoe decodes a PPPoE session header (RFC 2516) and the PPP inside.
func (dec *Decoder) pppoe(data []byte, d *Decoded) outcome {
	if len(data) < 6 || data[0] != 0x11 {
		return outBad
	}
	if data[1] != 0 { // discovery stage: no payload for us
		return outNotIP
	}
	n := int(binary.BigEndian.Uint16(data[4:6]))
	data = data[6:]
	if n < len(data) {
		data = data[:n] // drop Ethernet padding
	}
	return dec.ppp(data, d)
}

// ppp decodes a PPP header, with or without HDLC address and control bytes
// and with or without protocol field compression.
func (dec *Decoder) ppp(data []byte, d *Decoded) outcome {
	if len(data) >= 2 && data[0] == 0xff && data[1] == 0x03 {
		data = data[2:]
	}
	if len(data) == 0 {
		return outBad
	}
	var proto uint16
	if data[0]&1 == 1 { // compressed one-byte protocol
		proto, data = uint16(data[0]), data[1:]
	} else {
		if len(data) < 2 {
			return outBad
		}
		proto, data = binary.BigEndian.Uint16(data), data[2:]
	}
	switch proto {
	case 0x0021:
		return dec.ipv4(data, d)
	case 0x0057:
		return dec.ipv6(data, d)
	}
	return outNotIP
}

// mpls pops an MPLS label stack and guesses the payload from its first
// nibble, as routers do.
func (dec *Decoder) mpls(data []byte, d *Decoded) outcome {
	for i := 0; ; i++ {
		if i == maxMPLSLabels || len(data) < 4 {
			return outBad
		}
		bottom := data[2]&1 == 1
		data = data[4:]
		if bottom {
			break
		}
	}
	if len(data) == 0 {
		return outBad
	}
	switch data[0] >> 4 {
	case 4:
		return dec.ipv4(data, d)
	case 6:
		return dec.ipv6(data, d)
	}
	return outNotIP
}

// setV4 stores a 4-byte IPv4 address in its IPv4-mapped IPv6 form.
func setV4(dst *[16]byte, ip []byte) {
	*dst = [16]byte{10: 0xff, 11: 0xff}
	if len(ip) == 4 { // always, from gopacket: four bytes moved, no memmove call
		*(*[4]byte)(dst[12:]) = [4]byte(ip)
		return
	}
	copy(dst[12:], ip)
}

// ipv4 decodes an IPv4 header, reassembling fragments, and what it carries.
func (dec *Decoder) ipv4(data []byte, d *Decoded) outcome {
	if len(data) == 0 || data[0]>>4 != 4 {
		return outBad
	}
	ip := &dec.ip4
	if ip.DecodeFromBytes(data, gopacket.NilDecodeFeedback) != nil {
		return outBad
	}
	d.IPv6 = false
	setV4(&d.Key.Src, ip.SrcIP)
	setV4(&d.Key.Dst, ip.DstIP)
	hdr := int(ip.IHL) * 4
	d.Length = int(ip.Length)
	if d.Length < hdr+len(ip.Payload) { // TSO frames with a zero length
		d.Length = hdr + len(ip.Payload)
	}
	want := d.Length - hdr
	proto := ip.Protocol
	payload := ip.Payload
	if ip.Flags&layers.IPv4MoreFragments != 0 || ip.FragOffset != 0 {
		dec.stats.Fragments++
		if len(payload) < want { // cut by the snap length: cannot complete
			dec.stats.FragmentsDropped++
			return outFragment
		}
		k := fragKey{src: d.Key.Src, dst: d.Key.Dst, id: uint32(ip.Id), proto: uint8(proto)}
		buf, _, ok := dec.frag.add(k, int(ip.FragOffset)*8, ip.Flags&layers.IPv4MoreFragments != 0, payload, uint8(proto), true)
		if !ok {
			return outFragment
		}
		dec.stats.Reassembled++
		payload, want = buf, len(buf)
		d.Length = hdr + len(buf)
	}
	return dec.transport(proto, payload, want, d)
}

// ipv6 decodes an IPv6 header and its extension headers, reassembling
// fragments, and what it carries. An atomic fragment (offset 0, no more
// fragments) is a whole packet.
func (dec *Decoder) ipv6(data []byte, d *Decoded) outcome {
	if len(data) == 0 || data[0]>>4 != 6 {
		return outBad
	}
	ip := &dec.ip6
	if ip.DecodeFromBytes(data, gopacket.NilDecodeFeedback) != nil {
		return outBad
	}
	d.IPv6 = true
	copy(d.Key.Src[:], ip.SrcIP)
	copy(d.Key.Dst[:], ip.DstIP)
	hdr := 40
	next := ip.NextHeader
	if ip.HopByHop != nil {
		hdr += ip.HopByHop.ActualLength
		next = ip.HopByHop.NextHeader
	}
	payload := ip.Payload
	d.Length = 40 + int(ip.Length)
	if ip.Length == 0 { // jumbogram
		d.Length = hdr + len(payload)
	}
	want := d.Length - hdr
	for i := 0; ; i++ {
		if i == maxIPv6ExtHeaders {
			return outBad
		}
		switch next {
		case layers.IPProtocolIPv6HopByHop, layers.IPProtocolIPv6Routing, layers.IPProtocolIPv6Destination,
			135, 139, 140: // mobility, HIP, shim6: same TLV length rule
			x := &dec.ip6ext
			if x.DecodeFromBytes(payload, gopacket.NilDecodeFeedback) != nil {
				return outBad
			}
			want -= len(x.Contents)
			hdr += len(x.Contents)
			next, payload = x.NextHeader, x.Payload
		case layers.IPProtocolAH:
			if len(payload) < 8 {
				return outBad
			}
			n := (int(payload[1]) + 2) * 4
			if n > len(payload) {
				return outBad
			}
			want -= n
			hdr += n
			next, payload = layers.IPProtocol(payload[0]), payload[n:]
		case layers.IPProtocolIPv6Fragment:
			f := &dec.ip6frag
			if f.DecodeFromBytes(payload, gopacket.NilDecodeFeedback) != nil {
				return outBad
			}
			want -= 8
			payload = f.Payload
			if f.FragmentOffset == 0 && !f.MoreFragments {
				next = f.NextHeader // atomic fragment (RFC 6946)
				continue
			}
			dec.stats.Fragments++
			if len(payload) < want {
				dec.stats.FragmentsDropped++
				return outFragment
			}
			k := fragKey{src: d.Key.Src, dst: d.Key.Dst, id: f.Identification, v6: true}
			buf, proto, ok := dec.frag.add(k, int(f.FragmentOffset)*8, f.MoreFragments, payload,
				uint8(f.NextHeader), f.FragmentOffset == 0)
			if !ok {
				return outFragment
			}
			dec.stats.Reassembled++
			next, payload, want = layers.IPProtocol(proto), buf, len(buf)
			d.Length = hdr + 8 + len(buf)
		default:
			return dec.transport(next, payload, want, d)
		}
	}
}

// transport decodes what an IP header carries; want is how many bytes the
// IP header declares for it (more than len(data) when cut by the snap
// length).
func (dec *Decoder) transport(proto layers.IPProtocol, data []byte, want int, d *Decoded) outcome {
	switch proto {
	case layers.IPProtocolTCP:
		t := &d.TCP
		if t.DecodeFromBytes(data, gopacket.NilDecodeFeedback) != nil {
			return outBad
		}
		d.Key.Proto = ProtoTCP
		d.Key.SrcPort, d.Key.DstPort = uint16(t.SrcPort), uint16(t.DstPort)
		d.Payload = t.Payload
		d.PayloadLength = max(want-int(t.DataOffset)*4, len(t.Payload))
		return outTCP
	case layers.IPProtocolUDP:
		u := &dec.udp
		if u.DecodeFromBytes(data, gopacket.NilDecodeFeedback) != nil {
			return outBad
		}
		d.Key.Proto = ProtoUDP
		d.Key.SrcPort, d.Key.DstPort = uint16(u.SrcPort), uint16(u.DstPort)
		d.Payload = u.Payload
		n := int(u.Length) - 8
		if u.Length == 0 {
			n = want - 8
		}
		d.PayloadLength = max(n, len(u.Payload))
		return dec.udpTunnel(d)
	case layers.IPProtocolIPv4, layers.IPProtocolIPv6:
		if !dec.enterTunnel(d) {
			d.Key.Proto = uint8(proto)
			return outOther
		}
		if proto == layers.IPProtocolIPv4 {
			return dec.ipv4(data, d)
		}
		return dec.ipv6(data, d)
	case layers.IPProtocolGRE:
		return dec.greTunnel(data, d)
	}
	d.Key.Proto = uint8(proto)
	return outOther
}

// enterTunnel reports whether one more tunnel may be opened, counting it.
func (dec *Decoder) enterTunnel(d *Decoded) bool {
	if int(d.Tunnels) >= dec.opts.MaxTunnelDepth {
		dec.stats.TunnelDepthExceeded++
		return false
	}
	d.Tunnels++
	return true
}
