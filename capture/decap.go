package capture

import (
	"encoding/binary"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// UDP ports on which tunnels are recognised (by destination port).
const (
	portVXLAN      = 4789 // RFC 7348
	portVXLANLinux = 8472 // Linux kernel's historical default
	portVXLANGPE   = 4790 // VXLAN Generic Protocol Extension
	portGENEVE     = 6081 // RFC 8926
)

// GRE protocol types for ERSPAN.
const (
	greERSPANII  layers.EthernetType = 0x88BE // type I (no sequence) or II
	greERSPANIII layers.EthernetType = 0x22EB
)

// udpTunnel opens a UDP tunnel (VXLAN, VXLAN-GPE, GENEVE) addressed to the
// decoded UDP datagram in d, or hands the datagram on as plain UDP. A
// datagram that only looks like a tunnel by its port (the flag a tunnel
// header must carry is missing) stays plain UDP.
func (dec *Decoder) udpTunnel(d *Decoded) outcome {
	data := d.Payload
	switch d.Key.DstPort {
	case portVXLAN, portVXLANLinux:
		if dec.vxlan.DecodeFromBytes(data, gopacket.NilDecodeFeedback) != nil || !dec.vxlan.ValidIDFlag {
			return outUDP
		}
		if !dec.enterTunnel(d) {
			return outUDP
		}
		return dec.ethernet(dec.vxlan.Payload, d)
	case portVXLANGPE:
		// Flags(8: R R Ver(2) I P B O) Reserved(16) NextProtocol(8) VNI(24) Reserved(8)
		if len(data) < 8 || data[0]&0x08 == 0 {
			return outUDP
		}
		next := byte(3) // Ethernet when the P bit is clear
		if data[0]&0x04 != 0 {
			next = data[3]
		}
		var et layers.EthernetType
		switch next {
		case 1:
			et = layers.EthernetTypeIPv4
		case 2:
			et = layers.EthernetTypeIPv6
		case 3:
			et = layers.EthernetTypeTransparentEthernetBridging
		default:
			return outUDP
		}
		if !dec.enterTunnel(d) {
			return outUDP
		}
		return dec.tunnelPayload(et, data[8:], d)
	case portGENEVE:
		// Ver(2) OptLen(6) | O C Rsvd(6) | Protocol(16) | VNI(24) Rsvd(8) | options
		// gopacket's Geneve allocates per option; the header is simple
		// enough to skip by hand.
		if len(data) < 8 || data[0]>>6 != 0 {
			return outUDP
		}
		n := 8 + int(data[0]&0x3f)*4
		if n > len(data) {
			return outUDP
		}
		if !dec.enterTunnel(d) {
			return outUDP
		}
		return dec.tunnelPayload(layers.EthernetType(binary.BigEndian.Uint16(data[2:4])), data[n:], d)
	}
	return outUDP
}

// tunnelPayload decodes what a tunnel carries, named by an EtherType.
func (dec *Decoder) tunnelPayload(et layers.EthernetType, data []byte, d *Decoded) outcome {
	switch et {
	case layers.EthernetTypeTransparentEthernetBridging:
		return dec.ethernet(data, d)
	case layers.EthernetTypePPP:
		return dec.ppp(data, d)
	}
	return dec.etherType(et, data, d)
}

// greTunnel opens a GRE tunnel (RFC 2784/2890, and PPTP's enhanced GRE):
// IP, transparent Ethernet bridging, ERSPAN type I, II and III, PPP, MPLS.
func (dec *Decoder) greTunnel(data []byte, d *Decoded) outcome {
	g := &dec.gre
	if g.DecodeFromBytes(data, gopacket.NilDecodeFeedback) != nil || g.Version > 1 {
		return outBad
	}
	if !dec.enterTunnel(d) {
		d.Key.Proto = uint8(layers.IPProtocolGRE)
		return outOther
	}
	payload := g.Payload
	switch g.Protocol {
	case greERSPANII:
		if !g.SeqPresent { // type I: the mirrored frame follows GRE directly
			return dec.ethernet(payload, d)
		}
		if dec.erspan2.DecodeFromBytes(payload, gopacket.NilDecodeFeedback) != nil {
			return outBad
		}
		return dec.ethernet(dec.erspan2.Payload, d)
	case greERSPANIII:
		return dec.erspan3(payload, d)
	}
	return dec.tunnelPayload(g.Protocol, payload, d)
}

// erspan3 decodes an ERSPAN type III header (draft-foschiano-erspan) and the
// mirrored frame behind it:
//
//	Ver(4) VLAN(12) | COS(3) BSO(2) T(1) SessionID(10)
//	Timestamp(32)
//	SGT(16) | P(1) FT(5) HwID(6) D(1) Gra(2) O(1)
//	[platform specific sub-header, 8 bytes, when O is set]
func (dec *Decoder) erspan3(data []byte, d *Decoded) outcome {
	if len(data) < 12 || data[0]>>4 != 2 {
		return outBad
	}
	n := 12
	if data[11]&1 != 0 {
		n += 8
	}
	if n > len(data) {
		return outBad
	}
	switch ft := (data[10] >> 2) & 0x1f; ft {
	case 0:
		return dec.ethernet(data[n:], d)
	case 2:
		return dec.rawIP(data[n:], d)
	}
	return outNotIP
}
