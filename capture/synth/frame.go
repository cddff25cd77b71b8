package synth

import (
	"encoding/binary"
	"hash/fnv"
	"net/netip"
)

// TCP flag bits.
const (
	flagFIN = 0x01
	flagSYN = 0x02
	flagRST = 0x04
	flagPSH = 0x08
	flagACK = 0x10
)

const (
	etherTypeIPv4  = 0x0800
	etherTypeIPv6  = 0x86dd
	etherTypeDot1Q = 0x8100
	etherTypeQinQ  = 0x88a8
	vxlanPort      = 4789
)

// checksumAdd adds b, as big-endian 16-bit words starting at an even offset,
// to a one's-complement running sum.
func checksumAdd(sum uint64, b []byte) uint64 {
	for len(b) >= 16 {
		sum += uint64(binary.BigEndian.Uint32(b)) + uint64(binary.BigEndian.Uint32(b[4:])) +
			uint64(binary.BigEndian.Uint32(b[8:])) + uint64(binary.BigEndian.Uint32(b[12:]))
		b = b[16:]
	}
	for len(b) >= 4 {
		sum += uint64(binary.BigEndian.Uint32(b))
		b = b[4:]
	}
	if len(b) >= 2 {
		sum += uint64(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		sum += uint64(b[0]) << 8
	}
	return sum
}

// checksumFold folds a running sum into the final 16-bit checksum.
func checksumFold(sum uint64) uint16 {
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}

// pseudoSum is the one's-complement sum of the IPv4/IPv6 pseudo-header
// without its length field.
func pseudoSum(src, dst netip.Addr, proto uint8) uint64 {
	var sum uint64
	if src.Is4() {
		s, d := src.As4(), dst.As4()
		sum = checksumAdd(sum, s[:])
		sum = checksumAdd(sum, d[:])
	} else {
		s, d := src.As16(), dst.As16()
		sum = checksumAdd(sum, s[:])
		sum = checksumAdd(sum, d[:])
	}
	return sum + uint64(proto)
}

// MACFor derives a stable, locally administered unicast MAC address from an
// IP address, for frames whose caller gave none.
func MACFor(a netip.Addr) [6]byte {
	h := fnv.New64a()
	b := a.As16()
	h.Write(b[:])
	v := h.Sum64()
	return [6]byte{0x02, byte(v >> 32), byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}
}

// appendIPHeader appends an IPv4 (20-byte) or IPv6 (40-byte) header with
// zero length and checksum fields; fixIPHeader fills them.
func appendIPHeader(b []byte, src, dst netip.Addr, proto uint8) []byte {
	if src.Is4() {
		s, d := src.As4(), dst.As4()
		b = append(b, 0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, proto, 0, 0)
		b = append(b, s[:]...)
		return append(b, d[:]...)
	}
	s, d := src.As16(), dst.As16()
	b = append(b, 0x60, 0, 0, 0, 0, 0, proto, 64)
	b = append(b, s[:]...)
	return append(b, d[:]...)
}

// fixIPHeader fills length, id and checksum of the IP header h (as built by
// appendIPHeader) for a payload of n bytes.
func fixIPHeader(h []byte, v4 bool, id uint16, n int) {
	if v4 {
		binary.BigEndian.PutUint16(h[2:], uint16(20+n))
		binary.BigEndian.PutUint16(h[4:], id)
		h[10], h[11] = 0, 0
		binary.BigEndian.PutUint16(h[10:], checksumFold(checksumAdd(0, h[:20])))
		return
	}
	binary.BigEndian.PutUint16(h[4:], uint16(n))
}

func ipHeaderLen(a netip.Addr) int {
	if a.Is4() {
		return 20
	}
	return 40
}
