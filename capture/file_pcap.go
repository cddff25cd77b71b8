package capture

import (
	"fmt"
	"io"
	"time"

	"github.com/gopacket/gopacket/layers"
)

// pcap magic numbers, as read in the file's own byte order.
const (
	pcapMagicMicro    = 0xa1b2c3d4
	pcapMagicNano     = 0xa1b23c4d
	pcapMagicModified = 0xa1b2cd34 // Kuznetzov's patched libpcap: 8 more bytes per record
)

const pcapFileHeaderLen = 24

// openPcap reads the 24-byte pcap file header.
func (s *fileSource) openPcap(bigEndian bool, magic uint32) error {
	s.format = formatPcap
	s.bigEndian = bigEndian
	s.hdrLen, s.tsMult = 16, 1000
	switch magic {
	case pcapMagicNano:
		s.tsMult = 1
	case pcapMagicModified:
		s.hdrLen = 24
	}
	b, err := s.w.peek(pcapFileHeaderLen)
	if err != nil {
		return s.short(err, 0, "pcap file header", len(b), pcapFileHeaderLen)
	}
	snaplen := s.u32(b[16:])
	// The link type is the low 16 bits; the high ones may carry FCS flags.
	s.linkType = layers.LinkType(s.u32(b[20:]) & 0xffff)
	// Writers are sloppy with the snap length (0, or smaller than what they
	// then write), so it only tightens the bound when it is plausible.
	s.maxLen = maxRecordLen
	if snaplen != 0 {
		if lim := max(uint64(snaplen)*2, 65535); lim < maxRecordLen {
			s.maxLen = uint32(lim)
		}
	}
	s.w.consume(pcapFileHeaderLen)
	return nil
}

// nextPcap reads one pcap record.
func (s *fileSource) nextPcap(p *Packet) error {
	off := s.w.offset()
	h, ok := s.w.buffered(s.hdrLen)
	if !ok {
		var err error
		if h, err = s.w.peek(s.hdrLen); err != nil {
			if err == io.EOF {
				s.err = io.EOF
				return io.EOF
			}
			return s.short(err, off, "record header", len(h), s.hdrLen)
		}
	}
	caplen := s.u32(h[8:])
	if caplen > s.maxLen {
		return s.corrupt(off, fmt.Sprintf("record length %d exceeds the limit of %d", caplen, s.maxLen))
	}
	n := s.hdrLen + int(caplen)
	b, ok := s.w.buffered(n)
	if !ok {
		var err error
		if b, err = s.w.peek(n); err != nil {
			return s.short(err, off, "packet record", len(b), n)
		}
	}
	h = b // the peek may have moved the buffer
	wire := s.u32(h[12:])
	p.Timestamp = time.Unix(int64(s.u32(h)), int64(s.u32(h[4:]))*s.tsMult)
	p.LinkType = s.linkType
	p.Data = b[s.hdrLen:n:n]
	p.WireLen = int(max(wire, caplen))
	s.w.consume(int64(n))
	return nil
}
