package capture

import (
	"encoding/binary"
	"fmt"
	"io"
	"math/bits"
	"time"

	"github.com/gopacket/gopacket/layers"
)

// pcapng block types.
const (
	ngBlockSHB = 0x0a0d0d0a // section header
	ngBlockIDB = 0x00000001 // interface description
	ngBlockPB  = 0x00000002 // packet (obsolete)
	ngBlockSPB = 0x00000003 // simple packet
	ngBlockEPB = 0x00000006 // enhanced packet

	ngByteOrderMagic = 0x1a2b3c4d
)

// IDB option codes.
const (
	ngOptEnd      = 0
	ngOptTSResol  = 9
	ngOptTSOffset = 14
)

// ngInterface is what a packet needs from its interface description.
type ngInterface struct {
	linkType layers.LinkType
	snaplen  uint32
	// Timestamps count units of 10^-exp seconds (decimal) or 2^-exp
	// seconds (binary); div is 10^exp for decimal resolutions.
	binary bool
	exp    uint8
	div    uint64
	offset int64 // if_tsoffset, seconds
}

// timestamp converts a timestamp in the interface's units.
func (ifc *ngInterface) timestamp(units uint64) time.Time {
	var sec, nsec uint64
	switch {
	case ifc.binary:
		if ifc.exp == 0 {
			sec = units
			break
		}
		sec = units >> ifc.exp
		frac := units & (1<<ifc.exp - 1)
		hi, lo := bits.Mul64(frac, 1e9)
		nsec = hi<<(64-ifc.exp) | lo>>ifc.exp
	default:
		sec, nsec = units/ifc.div, units%ifc.div
		if ifc.div <= 1e9 {
			nsec *= 1e9 / ifc.div
		} else {
			nsec /= ifc.div / 1e9
		}
	}
	return time.Unix(int64(sec)+ifc.offset, int64(nsec))
}

// openNG reads the leading section header.
func (s *fileSource) openNG() error {
	b, err := s.w.peek(12)
	if err != nil {
		return s.short(err, 0, "section header", len(b), 12)
	}
	if bom := binary.LittleEndian.Uint32(b[8:]); bom != ngByteOrderMagic && bom != bswap32(ngByteOrderMagic) {
		return s.notCapture("pcapng section header without byte-order magic")
	}
	return s.readSHB(0)
}

// nextNG reads blocks until a packet block.
func (s *fileSource) nextNG(p *Packet) error {
	for {
		off := s.w.offset()
		h, ok := s.w.buffered(8)
		if !ok {
			var err error
			if h, err = s.w.peek(8); err != nil {
				if err == io.EOF {
					s.err = io.EOF
					return io.EOF
				}
				return s.short(err, off, "block header", len(h), 8)
			}
		}
		typ := s.u32(h)
		if typ == ngBlockSHB {
			if err := s.readSHB(off); err != nil {
				return err
			}
			continue
		}
		blen := s.u32(h[4:])
		if blen < 12 || blen%4 != 0 {
			return s.corrupt(off, fmt.Sprintf("block length %d", blen))
		}
		switch typ {
		case ngBlockEPB, ngBlockPB:
			return s.readEPB(p, off, typ, blen)
		case ngBlockSPB:
			return s.readSPB(p, off, blen)
		case ngBlockIDB:
			if err := s.readIDB(off, blen); err != nil {
				return err
			}
		default:
			if blen > maxSkipBlockLen {
				return s.corrupt(off, fmt.Sprintf("block type %#x of %d bytes exceeds the limit of %d", typ, blen, maxSkipBlockLen))
			}
			if !s.w.skipNow(int64(blen)) {
				err := s.w.err
				if err == io.EOF {
					err = io.ErrUnexpectedEOF
				}
				return s.short(err, off, fmt.Sprintf("block type %#x", typ), -1, int(blen))
			}
		}
	}
}

// readSHB starts a new section: byte order, no interfaces.
func (s *fileSource) readSHB(off int64) error {
	b, err := s.w.peek(12)
	if err != nil {
		return s.short(err, off, "section header", len(b), 12)
	}
	switch binary.LittleEndian.Uint32(b[8:]) {
	case ngByteOrderMagic:
		s.bigEndian = false
	case bswap32(ngByteOrderMagic):
		s.bigEndian = true
	default:
		return s.corrupt(off, "section header without byte-order magic")
	}
	blen := s.u32(b[4:])
	if blen < 28 || blen%4 != 0 || blen > maxMetaBlockLen {
		return s.corrupt(off, fmt.Sprintf("section header length %d", blen))
	}
	if b, err := s.w.peek(int(blen)); err != nil {
		return s.short(err, off, "section header", len(b), int(blen))
	}
	s.ifaces = s.ifaces[:0]
	s.w.consume(int64(blen))
	return nil
}

// readIDB adds an interface to the current section.
func (s *fileSource) readIDB(off int64, blen uint32) error {
	if blen < 20 || blen > maxMetaBlockLen {
		return s.corrupt(off, fmt.Sprintf("interface description length %d", blen))
	}
	if len(s.ifaces) >= maxInterfaces {
		return s.corrupt(off, fmt.Sprintf("more than %d interfaces in a section", maxInterfaces))
	}
	b, err := s.w.peek(int(blen))
	if err != nil {
		return s.short(err, off, "interface description", len(b), int(blen))
	}
	ifc := ngInterface{
		linkType: layers.LinkType(s.u16(b[8:])),
		snaplen:  s.u32(b[12:]),
		exp:      6,
		div:      1e6,
	}
	opts := b[16 : blen-4]
	for len(opts) >= 4 {
		code, olen := s.u16(opts), int(s.u16(opts[2:]))
		if code == ngOptEnd {
			break
		}
		padded := (olen + 3) &^ 3
		if 4+padded > len(opts) {
			return s.corrupt(off, fmt.Sprintf("interface option %d overruns its block", code))
		}
		val := opts[4 : 4+olen]
		switch {
		case code == ngOptTSResol && olen >= 1:
			ifc.binary, ifc.exp = val[0]&0x80 != 0, val[0]&0x7f
			if ifc.binary && ifc.exp > 63 || !ifc.binary && ifc.exp > 19 {
				return s.corrupt(off, fmt.Sprintf("timestamp resolution %#x not supported", val[0]))
			}
			ifc.div = 1
			for range ifc.exp {
				ifc.div *= 10
			}
		case code == ngOptTSOffset && olen >= 8:
			if s.bigEndian {
				ifc.offset = int64(binary.BigEndian.Uint64(val))
			} else {
				ifc.offset = int64(binary.LittleEndian.Uint64(val))
			}
		}
		opts = opts[4+padded:]
	}
	s.ifaces = append(s.ifaces, ifc)
	s.w.consume(int64(blen))
	return nil
}

// readEPB reads an enhanced packet block or an obsolete packet block (the
// same layout but for a 16-bit interface id followed by a drop count).
func (s *fileSource) readEPB(p *Packet, off int64, typ, blen uint32) error {
	const hdr = 28
	if blen < hdr+4 || blen > maxPacketBlockLen {
		return s.corrupt(off, fmt.Sprintf("packet block length %d (limit %d)", blen, maxPacketBlockLen))
	}
	h, ok := s.w.buffered(hdr)
	if !ok {
		var err error
		if h, err = s.w.peek(hdr); err != nil {
			return s.short(err, off, "packet block header", len(h), hdr)
		}
	}
	var id uint32
	if typ == ngBlockEPB {
		id = s.u32(h[8:])
	} else {
		id = uint32(s.u16(h[8:]))
	}
	caplen, wire := s.u32(h[20:]), s.u32(h[24:])
	if caplen > maxRecordLen || caplen > blen-hdr-4 {
		return s.corrupt(off, fmt.Sprintf("packet length %d in a block of %d (limit %d)", caplen, blen, maxRecordLen))
	}
	if id >= uint32(len(s.ifaces)) {
		return s.corrupt(off, fmt.Sprintf("packet for undeclared interface %d", id))
	}
	// The whole block, options too, so that a block cut short is not
	// delivered.
	b, ok := s.w.buffered(int(blen))
	if !ok {
		var err error
		if b, err = s.w.peek(int(blen)); err != nil {
			return s.short(err, off, "packet block", len(b), int(blen))
		}
	}
	h = b // the peek may have moved the buffer
	n := hdr + int(caplen)
	ifc := &s.ifaces[id]
	ts := ifc.timestamp(uint64(s.u32(h[12:]))<<32 | uint64(s.u32(h[16:])))
	s.lastTS = ts
	p.Timestamp = ts
	p.LinkType = ifc.linkType
	p.Data = b[hdr:n:n]
	p.WireLen = int(max(wire, caplen))
	s.w.consume(int64(blen))
	return nil
}

// readSPB reads a simple packet block: interface 0, no timestamp (the last
// packet's is used), captured length implied by the block and snap length.
func (s *fileSource) readSPB(p *Packet, off int64, blen uint32) error {
	const hdr = 12
	if blen < hdr+4 || blen > maxPacketBlockLen {
		return s.corrupt(off, fmt.Sprintf("simple packet block length %d (limit %d)", blen, maxPacketBlockLen))
	}
	if len(s.ifaces) == 0 {
		return s.corrupt(off, "simple packet block before any interface description")
	}
	h, err := s.w.peek(hdr)
	if err != nil {
		return s.short(err, off, "simple packet block header", len(h), hdr)
	}
	ifc := &s.ifaces[0]
	wire := s.u32(h[8:])
	caplen := min(wire, blen-hdr-4)
	if ifc.snaplen != 0 {
		caplen = min(caplen, ifc.snaplen)
	}
	if caplen > maxRecordLen {
		return s.corrupt(off, fmt.Sprintf("packet length %d exceeds the limit of %d", caplen, maxRecordLen))
	}
	b, err := s.w.peek(int(blen))
	if err != nil {
		return s.short(err, off, "simple packet block", len(b), int(blen))
	}
	n := hdr + int(caplen)
	p.Timestamp = s.lastTS
	p.LinkType = ifc.linkType
	p.Data = b[hdr:n:n]
	p.WireLen = int(max(wire, caplen))
	s.w.consume(int64(blen))
	return nil
}
