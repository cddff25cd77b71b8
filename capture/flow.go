package capture

import (
	"net/netip"
	"time"

	"github.com/gopacket/gopacket/layers"
)

// IP protocol numbers carried in FlowKey.Proto.
const (
	ProtoTCP uint8 = 6
	ProtoUDP uint8 = 17
)

// FlowKey identifies one direction of a transport flow. It is a packed,
// comparable value with no pointers, so it can key maps without allocating.
// IPv4 addresses are stored in their IPv4-mapped IPv6 form.
type FlowKey struct {
	Src, Dst         [16]byte
	SrcPort, DstPort uint16
	Proto            uint8
}

// SrcAddr returns the source address (unmapped for IPv4).
func (k FlowKey) SrcAddr() netip.Addr { return netip.AddrFrom16(k.Src).Unmap() }

// DstAddr returns the destination address (unmapped for IPv4).
func (k FlowKey) DstAddr() netip.Addr { return netip.AddrFrom16(k.Dst).Unmap() }

// Reverse returns the key of the opposite direction.
func (k FlowKey) Reverse() FlowKey {
	return FlowKey{Src: k.Dst, Dst: k.Src, SrcPort: k.DstPort, DstPort: k.SrcPort, Proto: k.Proto}
}

// Decoded is a packet decoded down to its transport layer, innermost tunnel
// payload first. It is filled in place by Decoder.Decode; its slices borrow
// from the Packet (or from the decoder's fragment buffers) and are valid until
// the next Decode call.
type Decoded struct {
	Timestamp time.Time
	// Key is the flow of the innermost IP packet, as it travels.
	Key FlowKey
	// IPv6 is true when the innermost IP packet is IPv6.
	IPv6 bool
	// TCP is valid when Key.Proto == ProtoTCP. Its Payload is the segment's
	// payload (also in Payload below).
	TCP layers.TCP
	// Payload is the transport payload (TCP or UDP).
	Payload []byte
	// Tunnels counts the encapsulations removed (VXLAN, GRE, GENEVE, ...).
	Tunnels uint8
	// VLANs counts the 802.1Q tags removed.
	VLANs uint8
	// Length is the IP packet's length on the wire.
	Length int
	// PayloadLength is the transport payload's length as the headers
	// declare it: more than len(Payload) when the snap length cut the
	// frame, the missing tail being a gap.
	PayloadLength int
}
